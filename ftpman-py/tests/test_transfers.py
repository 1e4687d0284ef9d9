"""Sites, jobs and runs from Python against the real servers: files delivered intact, runs and
logs read back, cancelling from another thread, Ctrl-C, a raising progress callback, asyncio."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import ftpman
from conftest import Servers, chown_tree, sha256, write_files


def add_remote_sites(m: ftpman.Manager, servers: Servers, root: Path) -> None:
    m.add_site(
        "partner",
        url=f"sftp://{servers.user}@127.0.0.1:{servers.ssh_port}{root}",
        password=servers.password,
        host_key=servers.host_key,
    )
    m.add_site("drop", url=f"ftp://{servers.user}@127.0.0.1:{servers.ftp_port}{root}", password=servers.password)


def test_jobs_move_files_from_sftp_and_ftp_intact(manager: ftpman.Manager, servers: Servers, scratch: Path, tmp_path: Path) -> None:
    sums = write_files(scratch / "out", 5, 50_000)
    chown_tree(scratch, servers.user)
    add_remote_sites(manager, servers, scratch)
    archive = manager.add_site("archive", url=f"file://{tmp_path}/archive", create=True)
    assert archive.protocol == "local" and not archive.has_password
    partner = manager.site("partner")
    assert partner.has_password and partner.host_key == servers.host_key
    assert servers.password not in repr(partner) and servers.password not in str(partner.to_dict())
    assert partner.last_test is None, "never tested yet"
    assert manager.test_site("partner").ok
    # The test is kept with the site, in one site's view and in the list.
    tested = manager.site("partner").last_test
    assert tested is not None and tested.ok and tested.message is None
    assert [s.last_test is not None for s in manager.sites() if s.name == "partner"] == [True]

    job = manager.add_job("pull", source="partner:/out", target="archive:/sftp", include=["*.csv"], parallel=2)
    assert job.source == "partner:/out" and job.include == ("*.csv",) and job.schedule.kind == "manual"
    run = manager.run_job("pull")
    assert (run.status, run.transferred, run.failed) == ("succeeded", 5, 0)
    assert run.files is not None and len(run.files) == 5
    for name, digest in sums.items():
        assert sha256(tmp_path / "archive" / "sftp" / name) == digest

    manager.add_job("ftp-pull", source="drop:/out", target="archive:/ftp")
    run = manager.run_job("ftp-pull")
    assert run.transferred == 5
    for name, digest in sums.items():
        assert sha256(tmp_path / "archive" / "ftp" / name) == digest

    # Runs and logs read back, as the classes they are.
    runs = manager.runs(job="pull")
    assert [r.id for r in runs] == [1]
    assert runs[0].created_at.tzinfo is not None and runs[0].bytes == sum(50_000 + i for i in range(5))
    assert manager.run(runs[0].id) == manager.run(runs[0].id)
    assert {r.job for r in manager.runs()} == {"pull", "ftp-pull"}
    assert manager.runs(status="failed") == []
    audit = manager.logs(component="audit")
    assert any("site 'partner' added" in e.message for e in audit)
    assert manager.job("pull").to_dict()["source"] == "partner:/out"
    # The second run finds everything delivered already.
    again = manager.run_job("pull")
    assert (again.status, again.transferred) == ("succeeded", 0)


def slow_job(m: ftpman.Manager, tmp_path: Path, size: int = 4 << 20, rate: str = "512K") -> Path:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(size))
    m.add_site("src", url=f"file://{src}")
    m.add_site("dst", url=f"file://{dst}", create=True)
    m.add_job("slow", source="src:/", target="dst:/", bwlimit=rate)
    return dst


def test_a_run_is_cancelled_from_a_second_thread(manager: ftpman.Manager, tmp_path: Path) -> None:
    dst = slow_job(manager, tmp_path)
    handle = manager.start_run("slow")
    assert handle.id == 1
    threading.Timer(1.0, handle.cancel).start()
    started = time.monotonic()
    with pytest.raises(ftpman.Cancelled) as caught:
        handle.wait()
    assert time.monotonic() - started < 6
    run = caught.value.run
    assert isinstance(run, ftpman.Run) and run.status == "cancelled"
    assert not (dst / "big.bin").exists(), "no partial file under the final name"
    assert manager.run(1).status == "cancelled"


def test_a_raising_progress_callback_stops_the_run(manager: ftpman.Manager, tmp_path: Path) -> None:
    dst = slow_job(manager, tmp_path)
    seen = []

    def progress(event: ftpman.RunEvent) -> None:
        seen.append(event.event)
        if event.event == "progress":
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        manager.run_job("slow", progress=progress)
    assert seen[0] == "started" and seen[-1] == "progress"
    assert manager.run(1).status == "cancelled"
    assert not (dst / "big.bin").exists()


def test_ctrl_c_cancels_the_run_cleanly(manager: ftpman.Manager, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dst = slow_job(manager, tmp_path)
    # Ctrl-C raises KeyboardInterrupt here even when this process was started with SIGINT
    # ignored (a background job of a shell without job control starts so).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        manager.run_job("slow")
    run = manager.run(1)
    assert run.status == "cancelled", run
    assert not (dst / "big.bin").exists()


def test_the_async_api(tmp_path: Path, servers: Servers, scratch: Path) -> None:
    sums = write_files(scratch / "out", 3, 10_000)
    chown_tree(scratch, servers.user)

    async def main() -> None:
        async with ftpman.Manager(f"sqlite://{tmp_path}/a.db", "NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU=") as m:
            await m.add_site_async(
                "partner",
                url=f"sftp://{servers.user}@127.0.0.1:{servers.ssh_port}{scratch}",
                password=servers.password,
                host_key=servers.host_key,
            )
            await m.add_site_async("archive", url=f"file://{tmp_path}/archive", create=True)
            await m.add_job_async("pull", source="partner:/out", target="archive:/")
            # Two things at once on one shared runtime: a listing while the run goes.
            handle = await m.start_run_async("pull")
            events = []
            listing = asyncio.ensure_future(m.list_async("partner", "/out"))
            async for event in handle:
                events.append(event)
            run = await handle.wait_async()
            assert len(await listing) == 3
            assert run.status == "succeeded" and run.transferred == 3
            assert events[0].event == "started" and events[-1].event == "finished"
            assert events[-1].run is not None and events[-1].run.id == run.id
            again = await m.run_job_async("pull")
            assert again.transferred == 0
            assert [r.id for r in await m.runs_async()] == [again.id, run.id]
            assert (await m.status_async()).jobs == 1

    asyncio.run(main())
    for name, digest in sums.items():
        assert sha256(tmp_path / "archive" / name) == digest


def test_engine_events_reach_the_system_log(tmp_path: Path) -> None:
    # A fresh interpreter: the system log of a process goes to the first database it opens.
    script = f"""
import ftpman, pathlib
src = pathlib.Path({str(tmp_path)!r}) / "src"
src.mkdir()
(src / "a.txt").write_text("a")
m = ftpman.Manager("sqlite://{tmp_path}/log.db", "NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU=")
m.add_site("src", url=f"file://{{src}}")
m.add_site("dst", url="file://{tmp_path}/dst", create=True)
m.add_job("pull", source="src:/", target="dst:/")
run = m.run_job("pull")
import time
for _ in range(50):
    lines = [e for e in m.logs(job="pull") if e.component == "engine"]
    if lines:
        break
    time.sleep(0.1)
print(lines[0].message)
"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "run 1 of job pull succeeded" in done.stdout, done.stdout


def test_the_gil_is_released_while_a_run_goes(manager: ftpman.Manager, tmp_path: Path) -> None:
    slow_job(manager, tmp_path, size=1 << 20, rate="512K")
    done = threading.Event()
    result = []

    def run() -> None:
        result.append(manager.run_job("slow"))
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    # Pure Python work on this thread while the run goes on the other: it only advances if the
    # run's thread let go of the GIL.
    spins = 0
    while not done.is_set():
        spins += 1
    worker.join()
    assert result[0].status == "succeeded"
    assert spins > 100_000, spins
