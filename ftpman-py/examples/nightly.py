"""An example of ftpman from Python, checked by mypy --strict in the tests."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import List

import ftpman


def nightly(db_url: str) -> List[str]:
    with ftpman.Manager(db_url) as m:
        if not any(s.name == "archive" for s in m.sites()):
            m.add_site("archive", url="file:///srv/archive", create=True)
        try:
            job = m.job("nightly")
        except ftpman.NotFound:
            job = m.add_job("nightly", source="partner:/out", target="archive:/in/{yyyy}", schedule="0 2 * * *")
        print(job.schedule.text, job.next_fires)

        def progress(event: ftpman.RunEvent) -> None:
            if event.event == "file_finished":
                print(event.data.get("path"), event.data.get("status"))

        try:
            run = m.run_job("nightly", progress=progress)
        except ftpman.ConnectionFailed as e:
            return [f"could not connect: {e.message}"]
        failed = [f.source for f in run.files or () if f.status == "failed"]
        recent = m.runs(job="nightly", since=timedelta(days=1))
        return failed + [f"{r.id}: {r.status}" for r in recent]


async def watch(db_url: str) -> int:
    async with ftpman.Manager(db_url) as m:
        handle = await m.start_run_async("nightly", dry_run=True)
        async for event in handle:
            print(event.event)
        run = await handle.wait_async()
        return run.found


if __name__ == "__main__":
    print(nightly("sqlite:///tmp/ftpman-example.db"))
    print(asyncio.run(watch("sqlite:///tmp/ftpman-example.db")))
