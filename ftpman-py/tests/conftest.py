"""What the tests share: the real test servers `scripts/test.sh` starts (described by the
``FTPMAN_TEST_*`` variables), scratch folders the servers' users can write, and fresh databases."""

from __future__ import annotations

import hashlib
import itertools
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

import ftpman

KEY = "NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU="
_seq = itertools.count()


def _var(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: these tests need the real sshd, vsftpd and PostgreSQL that scripts/test.sh starts"
        )
    return value


@dataclass(frozen=True)
class Servers:
    dir: Path
    ssh_port: int
    ftp_port: int
    user: str
    password: str
    host_key: str
    pg: str
    ftpman_bin: str


@pytest.fixture(scope="session")
def servers() -> Servers:
    return Servers(
        dir=Path(_var("FTPMAN_TEST_SERVERS_DIR")),
        ssh_port=int(_var("FTPMAN_TEST_SSH_PORT")),
        ftp_port=int(_var("FTPMAN_TEST_FTP_PORT")),
        user=_var("FTPMAN_TEST_USER"),
        password=_var("FTPMAN_TEST_PASSWORD"),
        host_key=_var("FTPMAN_TEST_SSH_HOST_KEY"),
        pg=_var("FTPMAN_TEST_PG"),
        ftpman_bin=_var("FTPMAN_BIN"),
    )


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)


@pytest.fixture
def scratch(servers: Servers) -> Iterator[Path]:
    """A folder of its own inside the test user's home (the servers log in as that user)."""
    parent = Path(f"/home/{servers.user}/ftpman-tests")
    path = parent / f"py-{os.getpid()}-{next(_seq)}"
    path.mkdir(parents=True)
    chown_tree(parent, servers.user)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ftpman.Manager]:
    with ftpman.Manager(f"sqlite://{tmp_path}/ftpman.db", KEY) as m:
        yield m


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_files(folder: Path, count: int, size: int) -> dict:
    """`count` files of random bytes; their SHA-256 by name."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for i in range(count):
        data = os.urandom(size + i)
        (folder / f"f{i}.csv").write_bytes(data)
        sums[f"f{i}.csv"] = hashlib.sha256(data).hexdigest()
    return sums


def cli(servers: Servers, db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The `ftpman` binary on the same database."""
    env = dict(os.environ, ENCRYPTION_KEY=KEY)
    done = subprocess.run(
        [servers.ftpman_bin, "--db", db_url, *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(f"ftpman {args}: {done.stdout}{done.stderr}")
    return done
