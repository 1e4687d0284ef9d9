"""`ftpman://SITE/PATH` through fsspec: a stored SFTP site's file read with its pinned key and
sealed password, never a password in the URL."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

import ftpman
from conftest import KEY, Servers, chown_tree


def test_fsspec_reads_through_a_stored_site(servers: Servers, scratch: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (scratch / "out").mkdir()
    (scratch / "out" / "today.csv").write_text("a,b\n1,2\n")
    chown_tree(scratch, servers.user)
    db = f"sqlite://{tmp_path}/ftpman.db"
    with ftpman.Manager(db, KEY) as m:
        m.add_site(
            "partner",
            url=f"sftp://{servers.user}@127.0.0.1:{servers.ssh_port}{scratch}",
            password=servers.password,
            host_key=servers.host_key,
        )
    monkeypatch.setenv("ENCRYPTION_KEY", KEY)
    with fsspec.open("ftpman://partner/out/today.csv", "rt", db_url=db) as f:
        assert f.read() == "a,b\n1,2\n"
    fs = fsspec.filesystem("ftpman", db_url=db)
    assert fs.ls("partner/out", detail=False) == ["partner/out/today.csv"]
    assert fs.info("ftpman://partner/out/today.csv")["size"] == 8
    assert fs.cat("ftpman://partner/out/today.csv", start=2, end=3) == b"b"
    os.environ.pop("FTPMAN_DB", None)
