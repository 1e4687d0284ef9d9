"""Each exception class, provoked by its real cause, and the built-in class it also is."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import ftpman
from conftest import Servers, chown_tree


def closed_port() -> socket.socket:
    """A socket bound on loopback but never listening: connecting there is refused, and no other
    program can take the port while the socket is open (a port merely freed could be)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def test_every_error_from_its_cause(manager: ftpman.Manager, servers: Servers, scratch: Path, tmp_path: Path) -> None:
    sftp = f"sftp://{servers.user}@127.0.0.1:{servers.ssh_port}{scratch}"
    ftp = f"ftp://{servers.user}@127.0.0.1:{servers.ftp_port}{scratch}"

    with pytest.raises(ftpman.NotFound) as nf:
        manager.job("nightly")
    assert isinstance(nf.value, LookupError) and nf.value.kind == "not_found"

    with pytest.raises(ftpman.HostKeyUnknown) as hk:
        manager.add_site("partner", url=sftp, password=servers.password)
    assert isinstance(hk.value, ConnectionError) and hk.value.offered_host_key == servers.host_key

    manager.add_site("partner", url=sftp, password=servers.password, host_key=servers.host_key)
    with pytest.raises(ftpman.AlreadyExists):
        manager.add_site("partner", url=sftp, password=servers.password, host_key=servers.host_key)

    with pytest.raises(ftpman.InvalidInput) as bad:
        manager.add_site("local", url="file:///nowhere/at/all")
    assert isinstance(bad.value, ValueError) and bad.value.field == "url"
    manager.add_site("archive", url=f"file://{tmp_path}/archive", create=True)
    with pytest.raises(ftpman.InvalidInput) as cron:
        manager.add_job("nightly", source="partner:/", target="archive:/", schedule="61 * * * *")
    assert cron.value.field == "schedule"
    with pytest.raises(ftpman.InvalidInput) as unknown:
        manager.add_job("nightly", source="partner:/", target="archive:/", parallel=0)
    assert unknown.value.field == "parallel"

    manager.add_job("nightly", source="partner:/", target="archive:/")
    with pytest.raises(ftpman.InUse):
        manager.remove_site("partner")

    manager.add_site("pinned-wrong", url=sftp, password=servers.password, host_key="SHA256:" + "A" * 43)
    with pytest.raises(ftpman.HostKeyMismatch) as mismatch:
        manager.list("pinned-wrong", "/")
    assert isinstance(mismatch.value, ConnectionError) and mismatch.value.offered_host_key == servers.host_key

    manager.add_site("wrong-password", url=ftp, password="not the password")
    with pytest.raises(ftpman.AuthenticationFailed) as auth:
        manager.list("wrong-password", "/")
    assert isinstance(auth.value, ConnectionError)

    with closed_port() as closed:
        manager.add_site("nobody-home", url=f"ftp://x@127.0.0.1:{closed.getsockname()[1]}/", password="x")
        with pytest.raises(ftpman.ConnectionFailed) as conn:
            manager.list("nobody-home", "/")
    assert isinstance(conn.value, ConnectionError)

    # A folder the server's user may not write: the upload fails as a transfer.
    locked = scratch / "locked"
    locked.mkdir()
    chown_tree(scratch, servers.user)
    import os

    os.chown(locked, 0, 0)
    locked.chmod(0o755)
    (tmp_path / "report.csv").write_text("a,b\n")
    with pytest.raises(ftpman.TransferFailed) as denied:
        manager.upload("partner:/locked", [tmp_path / "report.csv"])
    assert isinstance(denied.value, OSError)

    manager.add_user("ada", "a long password for ada", role="admin")
    with pytest.raises(ftpman.Conflict):
        manager.remove_user("ada")
    # The last admin keeps the role; another user's role and password change.
    with pytest.raises(ftpman.InvalidInput) as last:
        manager.edit_user("ada", role="viewer")
    assert last.value.field == "role"
    manager.add_user("bo", "a long password for bo")
    assert manager.edit_user("bo", role="operator").role == "operator"
    assert manager.edit_user("bo", password="another long password").role == "operator"
    with pytest.raises(ftpman.InvalidInput):
        manager.edit_user("bo", password="short")

    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(2 << 20))
    manager.add_site("src", url=f"file://{src}")
    manager.add_job("slow", source="src:/", target="archive:/slow", bwlimit="256K")
    handle = manager.start_run("slow")
    handle.cancel()
    with pytest.raises(ftpman.Cancelled):
        handle.wait()

    with pytest.raises(ftpman.Unauthorized):
        ftpman.Manager(f"sqlite://{tmp_path}/ftpman.db", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk=")
    with pytest.raises(ftpman.InvalidInput):
        ftpman.Manager("mysql://localhost/x", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk=")
    assert repr(ftpman.NotFound("gone", "not_found")) == "NotFound('gone')"
