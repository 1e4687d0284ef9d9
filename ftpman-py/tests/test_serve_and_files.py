"""One-off uploads and downloads through stored sites, and `Manager.serve()` running the web
server and the scheduler from Python until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import ftpman
from conftest import KEY, Servers, chown_tree, sha256


def test_upload_and_download_through_a_stored_site(manager: ftpman.Manager, servers: Servers, scratch: Path, tmp_path: Path) -> None:
    chown_tree(scratch, servers.user)
    manager.add_site(
        "partner",
        url=f"sftp://{servers.user}@127.0.0.1:{servers.ssh_port}{scratch}",
        password=servers.password,
        host_key=servers.host_key,
    )
    local = tmp_path / "report.csv"
    local.write_bytes(os.urandom(700_000))
    sent = manager.upload("partner:/in", [local])
    assert sent == [ftpman.Transferred(name="report.csv", bytes=700_000)]
    assert sha256(scratch / "in" / "report.csv") == sha256(local)
    assert [e.name for e in manager.list("partner", "/in")] == ["report.csv"]
    got = manager.download("partner:/in/report.csv", tmp_path / "back")
    assert got[0].bytes == 700_000
    assert sha256(tmp_path / "back" / "report.csv") == sha256(local)
    assert manager.read_bytes("partner", "/in/report.csv") == local.read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_web_server_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    db = f"sqlite://{tmp_path}/serve.db"
    script = (
        "import ftpman, signal\n"
        # Ctrl-C raises KeyboardInterrupt as in an interactive Python, even when this test was
        # started with SIGINT ignored (a background job of a shell without job control is).
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"m = ftpman.Manager({db!r}, {KEY!r})\n"
        "try:\n"
        f"    m.serve(bind='127.0.0.1:{port}')\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped cleanly')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.read() == b"ready\n"
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve() did not answer"
                time.sleep(0.2)
        # The first start with no user made an admin: the API refuses strangers.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/jobs", timeout=2)
            raise AssertionError("the API let a stranger in")
        except urllib.error.HTTPError as e:
            assert e.code == 401
            assert json.loads(e.read())["error"]["kind"] == "unauthorized"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert "one-time password" in err
    with ftpman.Manager(db, KEY) as m:
        assert [u.username for u in m.users()] == ["admin"]
