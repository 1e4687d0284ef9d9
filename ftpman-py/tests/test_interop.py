"""Python and the CLI on one database: each sees the other's runs; on PostgreSQL a run started
from Python is followed live by `ftpman run watch`."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import ftpman
from conftest import KEY, Servers, cli


def test_runs_from_python_and_the_cli_share_one_list(manager: ftpman.Manager, servers: Servers, tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/ftpman.db"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    manager.add_site("src", url=f"file://{tmp_path}/in")
    cli(servers, db, "site", "add", "dst", "--url", f"file://{tmp_path}/out", "--create")
    manager.add_job("copy", source="src:/", target="dst:/")
    from_python = manager.run_job("copy")
    cli(servers, db, "job", "run", "copy")
    listed = json.loads(cli(servers, db, "--json", "runs").stdout)
    ids = [r["id"] for r in listed]
    assert from_python.id in ids and len(ids) == 2
    from_cli = max(ids)
    assert {r.id for r in manager.runs(job="copy")} == {from_python.id, from_cli}
    assert manager.run(from_cli).trigger == "manual" and from_python.trigger == "api"
    assert [s.name for s in manager.sites()] == ["dst", "src"]


@pytest.fixture
def pg(servers: Servers) -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    base, _, _ = servers.pg.rpartition("/")
    name = f"ftpman_py_{uuid.uuid4().hex[:12]}"
    admin = ["psql", "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"]
    subprocess.run([*admin, f"CREATE DATABASE {name}"], check=True)
    yield f"{base}/{name}"
    subprocess.run([*admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


def test_a_python_run_is_watched_live_by_the_cli_on_postgres(pg: str, servers: Servers, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    with ftpman.Manager(pg, KEY) as m:
        m.add_site("src", url=f"file://{src}")
        m.add_site("dst", url=f"file://{tmp_path}/dst", create=True)
        m.add_job("slow", source="src:/", target="dst:/", bwlimit="1M")
        handle = m.start_run("slow")
        watch = subprocess.Popen(
            [servers.ftpman_bin, "--db", pg, "run", "watch", str(handle.id)],
            env=dict(os.environ, ENCRYPTION_KEY=KEY),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        run = handle.wait()
        out, _ = watch.communicate(timeout=60)
        assert run.status == "succeeded"
        assert watch.returncode == 0, out
        assert "big.bin" in out and "succeeded" in out, out
