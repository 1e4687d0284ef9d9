"""Date windows and job groups from Python, over local folders: a billing cycle picked by the
dates in file names (backfills with and without ``again``), and groups running their jobs in
order, stopping at the first failure or going on past it, sync and asyncio alike."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import ftpman
from conftest import KEY

CYCLE = "2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin"


def carrier_folder(tmp_path: Path) -> Path:
    """Call records around the edges of the November cycle, and a name without a date."""
    src = tmp_path / "carrier"
    src.mkdir()
    for name in ["20261025.CDR", "20261026.CDR", "20261125.CDR", "20261126.CDR", "README.txt"]:
        (src / name).write_text(f"contents of {name}\n")
    return src


def cycle_job(m: ftpman.Manager, name: str, target: str) -> ftpman.Job:
    return m.add_job(
        name,
        source="carrier:/",
        target=target,
        window="cycle:26",
        name_date="{yyyy}{mm}{dd}",
        schedule="0 2 26 * *",
        tz="Europe/Berlin",
    )


def names(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_window_picks_a_billing_cycle_by_the_dates_in_names(manager: ftpman.Manager, tmp_path: Path) -> None:
    manager.add_site("carrier", url=f"file://{carrier_folder(tmp_path)}")
    manager.add_site("archive", url=f"file://{tmp_path}/archive", create=True)
    job = cycle_job(manager, "cdr", "archive:/cdr/{yyyy}-{mm}")
    assert (job.window, job.name_date) == ("cycle:26", "{yyyy}{mm}{dd}")
    # The window of the next fire (on a 26th at 02:00): the 26th before to the 25th.
    shown = manager.job("cdr").next_window
    assert isinstance(shown, str)
    assert re.fullmatch(r"\d{4}-\d{2}-26 00:00 \.\. \d{4}-\d{2}-25 23:59:59 Europe/Berlin", shown), shown

    # The November cycle as a backfill: its two files, under the month of its reference time.
    run = manager.run_job("cdr", as_of="2026-11-26 02:00")
    assert run.status == "succeeded", run.error
    assert (run.transferred, run.undated) == (2, 1), run
    assert run.window == CYCLE
    assert run.as_of == datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc), "read in the job's zone"
    assert names(tmp_path / "archive" / "cdr" / "2026-11") == ["20261026.CDR", "20261125.CDR"]
    assert manager.run(run.id).window == CYCLE

    # The same backfill again: the ledger has both, nothing moves; with again=True both go.
    again = manager.run_job("cdr", as_of="2026-11-26 02:00")
    assert (again.status, again.transferred, again.skipped) == ("succeeded", 0, 2)
    resent = manager.run_job("cdr", as_of="2026-11-26 02:00", again=True)
    assert resent.status == "succeeded", resent.error
    assert (resent.transferred, resent.skipped, resent.again) == (2, 0, True)
    assert names(tmp_path / "archive" / "cdr" / "2026-11") == ["20261026.CDR", "20261125.CDR"]

    # A naive datetime is read in the job's zone, as the string is.
    cycle_job(manager, "cdr-naive", "archive:/naive/{yyyy}-{mm}")
    naive = manager.run_job("cdr-naive", as_of=datetime(2026, 11, 26, 2, 0))
    assert (naive.status, naive.transferred, naive.undated, naive.window) == ("succeeded", 2, 1, CYCLE)
    assert naive.as_of == run.as_of
    assert names(tmp_path / "archive" / "naive" / "2026-11") == ["20261026.CDR", "20261125.CDR"]

    # A window the core cannot read names the argument.
    with pytest.raises(ftpman.InvalidInput) as bad:
        manager.add_job("bad", source="carrier:/", target="archive:/bad", window="yesterday")
    assert isinstance(bad.value, ValueError) and bad.value.field == "window"
    with pytest.raises(ftpman.InvalidInput) as bad_edit:
        manager.edit_job("cdr", window="yesterday")
    assert bad_edit.value.field == "window"
    with pytest.raises(ftpman.InvalidInput) as bad_as_of:
        manager.run_job("cdr", as_of="last tuesday")
    assert bad_as_of.value.field == "as_of"


def three_jobs(m: ftpman.Manager, tmp_path: Path, b_fails: bool = False) -> Path:
    """A local site over a folder holding ``a/``, ``b/`` and ``c/`` with a file each, and jobs
    ``a``, ``b``, ``c`` copying them to ``out/{group}``; ``b``'s source does not exist when
    ``b_fails``."""
    root = tmp_path / "files"
    for d in ["a", "b", "c"]:
        (root / d).mkdir(parents=True)
        (root / d / f"{d}.csv").write_text(d)
    m.add_site("files", url=f"file://{root}")
    for name in ["a", "b", "c"]:
        source = "missing" if name == "b" and b_fails else name
        m.add_job(name, source=f"files:/{source}", target="files:/out/{group}", retries=0)
    return root


def test_a_group_runs_its_jobs_in_order(manager: ftpman.Manager, tmp_path: Path) -> None:
    root = three_jobs(manager, tmp_path)
    group = manager.add_group("carriers", jobs=["a", "b", "c"])
    assert isinstance(group, ftpman.Group)
    assert (group.name, group.jobs, group.enabled, group.continue_on_failure) == (
        "carriers",
        ("a", "b", "c"),
        True,
        False,
    )
    assert group.schedule.kind == "manual" and group.runs == ()

    run = manager.run_group("carriers")
    assert isinstance(run, ftpman.GroupRun)
    assert run.status == "succeeded", run.error
    assert (run.group, run.trigger, run.error, run.again) == ("carriers", "api", None, False)
    assert run.runs is not None and [r.job for r in run.runs] == ["a", "b", "c"]
    assert all(r.status == "succeeded" and r.transferred == 1 for r in run.runs), run.runs
    for earlier, later in zip(run.runs, run.runs[1:]):
        assert earlier.finished_at is not None and later.started_at is not None
        assert earlier.finished_at <= later.started_at, "one after another"
    # {group} in a target path is the group's name.
    assert names(root / "out" / "carriers") == ["a.csv", "b.csv", "c.csv"]
    assert manager.group_run(run.id) == run

    # Listed, shown with its runs (newest first), enabled and disabled.
    assert [g.name for g in manager.groups()] == ["carriers"]
    second = manager.run_group("carriers")
    assert second.status == "succeeded" and [r.transferred for r in second.runs or ()] == [0, 0, 0]
    shown = manager.group("carriers")
    assert shown.runs is not None and [r.id for r in shown.runs] == [second.id, run.id]
    assert shown.next_fires == ()
    assert manager.disable_group("carriers").enabled is False
    assert manager.enable_group("carriers").enabled is True

    # A schedule of its own, and a backfill reaching every job.
    scheduled = manager.edit_group("carriers", jobs=["c", "a"], schedule="0 3 * * *", tz="Europe/Berlin")
    assert scheduled.jobs == ("c", "a") and scheduled.schedule.kind == "cron"
    assert scheduled.schedule.tz == "Europe/Berlin"
    assert scheduled.next_fires is not None and len(scheduled.next_fires) == 5
    backfill = manager.run_group("carriers", as_of="2026-11-26 03:00")
    assert backfill.status == "succeeded", backfill.error
    as_of = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    assert backfill.as_of == as_of, "read in the group's zone"
    assert [r.job for r in backfill.runs or ()] == ["c", "a"]
    assert all(r.as_of == as_of for r in backfill.runs or ())

    # Removing the group leaves its jobs and their runs.
    manager.remove_group("carriers")
    assert manager.groups() == []
    with pytest.raises(ftpman.NotFound):
        manager.group("carriers")
    assert len(manager.jobs()) == 3
    assert manager.run(run.runs[0].id).job == "a"


def test_a_group_stops_at_the_first_failure_unless_told_to_go_on(manager: ftpman.Manager, tmp_path: Path) -> None:
    root = three_jobs(manager, tmp_path, b_fails=True)
    manager.add_group("carriers", jobs=["a", "b", "c"])
    run = manager.run_group("carriers")
    assert run.status == "failed"
    assert run.error is not None and "job 'b' failed" in run.error and "not run: c" in run.error, run.error
    assert run.runs is not None and [(r.job, r.status) for r in run.runs] == [("a", "succeeded"), ("b", "failed")]
    assert manager.runs(job="c") == [], "c never ran"
    assert names(root / "out" / "carriers") == ["a.csv"]

    # Going on past the failure: c runs too, and the group run is partial.
    assert manager.edit_group("carriers", continue_on_failure=True).continue_on_failure
    run = manager.run_group("carriers")
    assert run.status == "partial", run.error
    assert run.runs is not None
    assert [(r.job, r.status) for r in run.runs] == [("a", "succeeded"), ("b", "failed"), ("c", "succeeded")]
    assert names(root / "out" / "carriers") == ["a.csv", "c.csv"]

    # A job in a group is not removed from under it; the error names the group.
    with pytest.raises(ftpman.Conflict) as conflict:
        manager.remove_job("b")
    assert conflict.value.kind == "conflict" and "carriers" in conflict.value.message
    # Bad groups name the argument at fault.
    with pytest.raises(ftpman.InvalidInput) as unknown:
        manager.add_group("bad", jobs=["a", "nope"])
    assert unknown.value.field == "jobs" and "nope" in unknown.value.message
    with pytest.raises(ftpman.InvalidInput) as twice:
        manager.add_group("bad", jobs=["a", "a"])
    assert twice.value.field == "jobs"
    with pytest.raises(ftpman.InvalidInput) as empty:
        manager.add_group("bad", jobs=[])
    assert empty.value.field == "jobs"
    with pytest.raises(ftpman.NotFound):
        manager.run_group("nope")
    # Once the group is gone, so is the hold on its jobs.
    manager.remove_group("carriers")
    manager.remove_job("b")
    assert [j.name for j in manager.jobs()] == ["a", "c"]


def test_groups_from_asyncio(tmp_path: Path) -> None:
    async def main() -> None:
        async with ftpman.Manager(f"sqlite://{tmp_path}/a.db", KEY) as m:
            root = tmp_path / "files"
            for d in ["a", "b"]:
                (root / d).mkdir(parents=True)
                (root / d / f"{d}.csv").write_text(d)
            await m.add_site_async("files", url=f"file://{root}")
            for name in ["a", "b"]:
                await m.add_job_async(name, source=f"files:/{name}", target="files:/out")
            group = await m.add_group_async("pair", jobs=["b", "a"])
            assert group.jobs == ("b", "a")
            # Two things at once on one shared runtime: a listing while the group runs.
            run, listed = await asyncio.gather(m.run_group_async("pair"), m.groups_async())
            assert run.status == "succeeded", run.error
            assert [r.job for r in run.runs or ()] == ["b", "a"]
            assert [g.name for g in listed] == ["pair"]
            assert (root / "out" / "a.csv").read_text() == "a"

            # Started, it returns at once; followed through group_run to its end.
            started = await m.start_group_run_async("pair")
            assert started.id != run.id and started.status in ("running", "succeeded")
            deadline = time.monotonic() + 30
            current = started
            while current.status in ("queued", "running"):
                assert time.monotonic() < deadline, current
                await asyncio.sleep(0.05)
                current = await m.group_run_async(started.id)
            assert current.status == "succeeded", current.error
            assert [r.job for r in current.runs or ()] == ["b", "a"]
            shown = await m.group_async("pair")
            assert [r.id for r in shown.runs or ()] == [started.id, run.id]
            assert (await m.disable_group_async("pair")).enabled is False
            assert (await m.edit_group_async("pair", continue_on_failure=True)).continue_on_failure
            await m.remove_group_async("pair")
            assert await m.groups_async() == []

    asyncio.run(main())
