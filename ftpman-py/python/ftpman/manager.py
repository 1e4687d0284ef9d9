"""The :class:`Manager`: ftpman's one API, over an SQLite or PostgreSQL database.

Every method has an ``*_async`` twin for asyncio; both release the GIL while the core works,
on one shared Tokio runtime. Keyword arguments are named like the CLI's flags.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from . import _ftpman
from .types import (
    Entry,
    Group,
    GroupRun,
    Job,
    LogEntry,
    NewToken,
    Node,
    Run,
    RunEvent,
    Setting,
    Site,
    SiteTest,
    Status,
    Summary,
    Token,
    Transferred,
    User,
)

__all__ = ["Manager", "RunHandle"]

When = Union[str, datetime, timedelta, None]
PathLike = Union[str, "os.PathLike[str]"]


def _when(v: When) -> Optional[str]:
    """A time filter for the core: an ISO 8601 time, or an age (`2h`, a timedelta)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError("give a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
        return v.isoformat()
    if isinstance(v, timedelta):
        return f"{max(int(v.total_seconds()), 0)}s"
    return str(v)


def _as_of(v: Union[str, datetime, None]) -> Optional[str]:
    """A backfill's reference time for the core: ISO 8601 (a naive datetime is read in the
    job's time zone)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat() if v.tzinfo is not None else v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _args(**kwargs: Any) -> str:
    return json.dumps({k: v for k, v in kwargs.items() if v is not None})


class RunHandle:
    """A run started by :meth:`Manager.start_run`: its ``id`` at once, its events by
    iteration (``for event in handle`` or ``async for event in handle``), ``cancel()`` from any
    thread, and ``wait()`` for its end."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def id(self) -> int:
        """The run's id."""
        return int(self._inner.id)

    def __repr__(self) -> str:
        return f"RunHandle(id={self.id})"

    def __iter__(self) -> Iterator[RunEvent]:
        while True:
            event = self._inner.next_event()
            if event is None:
                return
            yield RunEvent.from_dict(json.loads(event))

    def __aiter__(self) -> AsyncIterator[RunEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[RunEvent]:
        while True:
            event = await self._inner.next_event_async()
            if event is None:
                return
            yield RunEvent.from_dict(json.loads(event))

    def cancel(self) -> Run:
        """Asks the run to stop; it ends ``cancelled`` within a second or two, leaving no
        partial file under a final name."""
        return Run.from_dict(json.loads(self._inner.cancel()))

    def wait(self) -> Run:
        """Waits for the end and returns the run with its files; raises
        :class:`ftpman.Cancelled` if it was cancelled. Ctrl-C cancels the run, then raises."""
        return Run.from_dict(json.loads(self._inner.wait()))

    async def wait_async(self) -> Run:
        """The awaitable twin of :meth:`wait`."""
        return Run.from_dict(json.loads(await self._inner.wait_async()))


class Manager:
    """An open ftpman database (``sqlite:///path/ftpman.db`` or ``postgres://...``).

    ``encryption_key`` is the base64 of 32 bytes that seals stored secrets; without it the key
    comes from ``ENCRYPTION_KEY`` / ``ENCRYPTION_PASSWORD``, or, for an embedded SQLite
    database, from a key file beside it. Also a context manager.
    """

    def __init__(self, db_url: str, encryption_key: Optional[str] = None) -> None:
        self._db_url = db_url
        self._core: Any = _ftpman.Core(db_url, encryption_key)

    def __repr__(self) -> str:
        # The URL as given may hold a database password: show its scheme only.
        return f"Manager({self._db_url.split(':', 1)[0]}://...)"

    def __enter__(self) -> "Manager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "Manager":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Lets go of the database (the manager is not used after this)."""
        self._core = None

    def _call(self, op: str, args: str) -> Any:
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return json.loads(self._core.call(op, args))

    async def _acall(self, op: str, args: str) -> Any:
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return json.loads(await self._core.call_async(op, args))

    # --- sites ---------------------------------------------------------------------------

    def sites(self) -> List[Site]:
        """Every site, by name."""
        return [Site.from_dict(s) for s in self._call("sites", "{}")]

    async def sites_async(self) -> List[Site]:
        """The awaitable twin of :meth:`sites`."""
        return [Site.from_dict(s) for s in await self._acall("sites", "{}")]

    def site(self, name: str) -> Site:
        """One site (:class:`ftpman.NotFound` names the nearest one)."""
        return Site.from_dict(self._call("site", _args(name=name)))

    async def site_async(self, name: str) -> Site:
        """The awaitable twin of :meth:`site`."""
        return Site.from_dict(await self._acall("site", _args(name=name)))

    @staticmethod
    def _site_args(name: str, **options: Any) -> str:
        return _args(name=name, **options)

    def add_site(
        self,
        name: str,
        *,
        url: str,
        password: Optional[str] = None,
        private_key: Optional[str] = None,
        key_passphrase: Optional[str] = None,
        host_key: Optional[str] = None,
        accept_new_host_key: bool = False,
        cert_fingerprint: Optional[str] = None,
        insecure_skip_verify: Optional[bool] = None,
        active: Optional[bool] = None,
        max_connections: Optional[int] = None,
        timeout: Optional[str] = None,
        create: bool = False,
    ) -> Site:
        """Adds a site. An SFTP site needs ``host_key`` (or ``accept_new_host_key=True``);
        without either, :class:`ftpman.HostKeyUnknown` carries the offered key in
        ``offered_host_key``. Secrets are sealed in the database, never in the URL."""
        return Site.from_dict(self._call("add_site", self._site_args(**_locals(locals()))))

    async def add_site_async(
        self,
        name: str,
        *,
        url: str,
        password: Optional[str] = None,
        private_key: Optional[str] = None,
        key_passphrase: Optional[str] = None,
        host_key: Optional[str] = None,
        accept_new_host_key: bool = False,
        cert_fingerprint: Optional[str] = None,
        insecure_skip_verify: Optional[bool] = None,
        active: Optional[bool] = None,
        max_connections: Optional[int] = None,
        timeout: Optional[str] = None,
        create: bool = False,
    ) -> Site:
        """The awaitable twin of :meth:`add_site`."""
        return Site.from_dict(await self._acall("add_site", self._site_args(**_locals(locals()))))

    def edit_site(
        self,
        name: str,
        *,
        url: Optional[str] = None,
        password: Optional[str] = None,
        private_key: Optional[str] = None,
        key_passphrase: Optional[str] = None,
        host_key: Optional[str] = None,
        accept_new_host_key: bool = False,
        cert_fingerprint: Optional[str] = None,
        insecure_skip_verify: Optional[bool] = None,
        active: Optional[bool] = None,
        max_connections: Optional[int] = None,
        timeout: Optional[str] = None,
    ) -> Site:
        """Changes a site: only the arguments given change (an empty secret clears it)."""
        return Site.from_dict(self._call("edit_site", self._site_args(**_locals(locals()))))

    async def edit_site_async(
        self,
        name: str,
        *,
        url: Optional[str] = None,
        password: Optional[str] = None,
        private_key: Optional[str] = None,
        key_passphrase: Optional[str] = None,
        host_key: Optional[str] = None,
        accept_new_host_key: bool = False,
        cert_fingerprint: Optional[str] = None,
        insecure_skip_verify: Optional[bool] = None,
        active: Optional[bool] = None,
        max_connections: Optional[int] = None,
        timeout: Optional[str] = None,
    ) -> Site:
        """The awaitable twin of :meth:`edit_site`."""
        return Site.from_dict(await self._acall("edit_site", self._site_args(**_locals(locals()))))

    def remove_site(self, name: str) -> None:
        """Removes a site no job uses (:class:`ftpman.InUse` otherwise)."""
        self._call("remove_site", _args(name=name))

    async def remove_site_async(self, name: str) -> None:
        """The awaitable twin of :meth:`remove_site`."""
        await self._acall("remove_site", _args(name=name))

    def test_site(self, name: str) -> SiteTest:
        """Connects, logs in and lists the root; says what failed and what to do."""
        return SiteTest.from_dict(self._call("test_site", _args(name=name)))

    async def test_site_async(self, name: str) -> SiteTest:
        """The awaitable twin of :meth:`test_site`."""
        return SiteTest.from_dict(await self._acall("test_site", _args(name=name)))

    def list(self, site: str, path: str = "/") -> List[Entry]:
        """Lists a folder of a site."""
        return [Entry.from_dict(e) for e in self._call("list", _args(site=site, path=path))]

    async def list_async(self, site: str, path: str = "/") -> List[Entry]:
        """The awaitable twin of :meth:`list`."""
        return [Entry.from_dict(e) for e in await self._acall("list", _args(site=site, path=path))]

    def read_bytes(self, site: str, path: str) -> bytes:
        """The whole content of a file of a site."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return bytes(self._core.read_file(site, path))

    # --- jobs ----------------------------------------------------------------------------

    def jobs(self) -> List[Job]:
        """Every job, with its schedule in words."""
        return [Job.from_dict(j) for j in self._call("jobs", "{}")]

    async def jobs_async(self) -> List[Job]:
        """The awaitable twin of :meth:`jobs`."""
        return [Job.from_dict(j) for j in await self._acall("jobs", "{}")]

    def job(self, name: str) -> Job:
        """One job, with its next five fires."""
        return Job.from_dict(self._call("job", _args(name=name)))

    async def job_async(self, name: str) -> Job:
        """The awaitable twin of :meth:`job`."""
        return Job.from_dict(await self._acall("job", _args(name=name)))

    @staticmethod
    def _job_args(name: str, source: Optional[str], target: Optional[str], **options: Any) -> str:
        # `from` is a Python keyword: the job's ends are `source` and `target` here.
        return _args(name=name, **{"from": source, "to": target}, **options)

    def add_job(
        self,
        name: str,
        *,
        source: str,
        target: str,
        include: Optional[Sequence[str]] = None,
        exclude: Optional[Sequence[str]] = None,
        recursive: Optional[bool] = None,
        min_age: Optional[str] = None,
        max_age: Optional[str] = None,
        window: Optional[str] = None,
        name_date: Optional[str] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        after: Optional[str] = None,
        on_conflict: Optional[str] = None,
        atomic: Optional[bool] = None,
        parallel: Optional[int] = None,
        retries: Optional[int] = None,
        retry_backoff: Optional[str] = None,
        bwlimit: Optional[str] = None,
        file_timeout: Optional[str] = None,
        notify: Optional[str] = None,
        email: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> Job:
        """Adds a job moving files from ``source`` to ``target`` (both ``SITE:PATH``; the
        target may hold ``{yyyy}``, ``{mm}``, ``{dd}``...). :class:`ftpman.InvalidInput` names
        the argument at fault (``schedule`` for a bad cron expression)."""
        return Job.from_dict(self._call("add_job", self._job_args(**_locals(locals()))))

    async def add_job_async(
        self,
        name: str,
        *,
        source: str,
        target: str,
        include: Optional[Sequence[str]] = None,
        exclude: Optional[Sequence[str]] = None,
        recursive: Optional[bool] = None,
        min_age: Optional[str] = None,
        max_age: Optional[str] = None,
        window: Optional[str] = None,
        name_date: Optional[str] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        after: Optional[str] = None,
        on_conflict: Optional[str] = None,
        atomic: Optional[bool] = None,
        parallel: Optional[int] = None,
        retries: Optional[int] = None,
        retry_backoff: Optional[str] = None,
        bwlimit: Optional[str] = None,
        file_timeout: Optional[str] = None,
        notify: Optional[str] = None,
        email: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> Job:
        """The awaitable twin of :meth:`add_job`."""
        return Job.from_dict(await self._acall("add_job", self._job_args(**_locals(locals()))))

    def edit_job(
        self,
        name: str,
        *,
        source: Optional[str] = None,
        target: Optional[str] = None,
        include: Optional[Sequence[str]] = None,
        exclude: Optional[Sequence[str]] = None,
        recursive: Optional[bool] = None,
        min_age: Optional[str] = None,
        max_age: Optional[str] = None,
        window: Optional[str] = None,
        name_date: Optional[str] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        after: Optional[str] = None,
        on_conflict: Optional[str] = None,
        atomic: Optional[bool] = None,
        parallel: Optional[int] = None,
        retries: Optional[int] = None,
        retry_backoff: Optional[str] = None,
        bwlimit: Optional[str] = None,
        file_timeout: Optional[str] = None,
        notify: Optional[str] = None,
        email: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> Job:
        """Changes a job: only the arguments given change."""
        return Job.from_dict(self._call("edit_job", self._job_args(**_locals(locals()))))

    async def edit_job_async(
        self,
        name: str,
        *,
        source: Optional[str] = None,
        target: Optional[str] = None,
        include: Optional[Sequence[str]] = None,
        exclude: Optional[Sequence[str]] = None,
        recursive: Optional[bool] = None,
        min_age: Optional[str] = None,
        max_age: Optional[str] = None,
        window: Optional[str] = None,
        name_date: Optional[str] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        after: Optional[str] = None,
        on_conflict: Optional[str] = None,
        atomic: Optional[bool] = None,
        parallel: Optional[int] = None,
        retries: Optional[int] = None,
        retry_backoff: Optional[str] = None,
        bwlimit: Optional[str] = None,
        file_timeout: Optional[str] = None,
        notify: Optional[str] = None,
        email: Optional[Sequence[str]] = None,
        enabled: Optional[bool] = None,
    ) -> Job:
        """The awaitable twin of :meth:`edit_job`."""
        return Job.from_dict(await self._acall("edit_job", self._job_args(**_locals(locals()))))

    def enable_job(self, name: str) -> Job:
        """Lets the job's schedule fire."""
        return Job.from_dict(self._call("enable_job", _args(name=name)))

    async def enable_job_async(self, name: str) -> Job:
        """The awaitable twin of :meth:`enable_job`."""
        return Job.from_dict(await self._acall("enable_job", _args(name=name)))

    def disable_job(self, name: str) -> Job:
        """Stops the job's schedule (runs now are still possible)."""
        return Job.from_dict(self._call("disable_job", _args(name=name)))

    async def disable_job_async(self, name: str) -> Job:
        """The awaitable twin of :meth:`disable_job`."""
        return Job.from_dict(await self._acall("disable_job", _args(name=name)))

    def remove_job(self, name: str) -> None:
        """Removes a job and its history."""
        self._call("remove_job", _args(name=name))

    async def remove_job_async(self, name: str) -> None:
        """The awaitable twin of :meth:`remove_job`."""
        await self._acall("remove_job", _args(name=name))

    def forget(self, name: str, paths: Optional[Sequence[str]] = None) -> int:
        """Forgets deliveries of the job (all, or of ``paths``), so those files move again."""
        return int(self._call("forget", _args(name=name, paths=list(paths or []))))

    async def forget_async(self, name: str, paths: Optional[Sequence[str]] = None) -> int:
        """The awaitable twin of :meth:`forget`."""
        return int(await self._acall("forget", _args(name=name, paths=list(paths or []))))

    # --- groups --------------------------------------------------------------------------

    def groups(self) -> List[Group]:
        """Every group, with its jobs in order and its schedule in words."""
        return [Group.from_dict(g) for g in self._call("groups", "{}")]

    async def groups_async(self) -> List[Group]:
        """The awaitable twin of :meth:`groups`."""
        return [Group.from_dict(g) for g in await self._acall("groups", "{}")]

    def group(self, name: str) -> Group:
        """One group, with its next five fires and its latest ten runs (newest first)."""
        return Group.from_dict(self._call("group", _args(name=name)))

    async def group_async(self, name: str) -> Group:
        """The awaitable twin of :meth:`group`."""
        return Group.from_dict(await self._acall("group", _args(name=name)))

    @staticmethod
    def _group_args(name: str, jobs: Optional[Sequence[str]], **options: Any) -> str:
        # A lone string is one job's name, not a sequence of letters.
        names = None if jobs is None else [jobs] if isinstance(jobs, str) else list(jobs)
        return _args(name=name, jobs=names, **options)

    def add_group(
        self,
        name: str,
        *,
        jobs: Sequence[str],
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        continue_on_failure: Optional[bool] = None,
        enabled: Optional[bool] = None,
    ) -> Group:
        """Adds a group: its ``jobs`` (by name) run one after another, in that order, each to
        its end before the next starts. By default the group stops at the first job that fails
        (the rest are not run); ``continue_on_failure=True`` goes on with the next job. The
        schedule is the group's own (``schedule`` cron in ``tz``, or once ``at``); a job in a
        group cannot be removed. :class:`ftpman.InvalidInput` names the argument at fault
        (``jobs`` for an unknown or repeated job)."""
        return Group.from_dict(self._call("add_group", self._group_args(**_locals(locals()))))

    async def add_group_async(
        self,
        name: str,
        *,
        jobs: Sequence[str],
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        continue_on_failure: Optional[bool] = None,
        enabled: Optional[bool] = None,
    ) -> Group:
        """The awaitable twin of :meth:`add_group`."""
        return Group.from_dict(await self._acall("add_group", self._group_args(**_locals(locals()))))

    def edit_group(
        self,
        name: str,
        *,
        jobs: Optional[Sequence[str]] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        continue_on_failure: Optional[bool] = None,
        enabled: Optional[bool] = None,
    ) -> Group:
        """Changes a group: only the arguments given change (``jobs`` replaces the list)."""
        return Group.from_dict(self._call("edit_group", self._group_args(**_locals(locals()))))

    async def edit_group_async(
        self,
        name: str,
        *,
        jobs: Optional[Sequence[str]] = None,
        schedule: Optional[str] = None,
        tz: Optional[str] = None,
        at: Optional[str] = None,
        manual: bool = False,
        continue_on_failure: Optional[bool] = None,
        enabled: Optional[bool] = None,
    ) -> Group:
        """The awaitable twin of :meth:`edit_group`."""
        return Group.from_dict(await self._acall("edit_group", self._group_args(**_locals(locals()))))

    def enable_group(self, name: str) -> Group:
        """Lets the group's schedule fire."""
        return Group.from_dict(self._call("enable_group", _args(name=name)))

    async def enable_group_async(self, name: str) -> Group:
        """The awaitable twin of :meth:`enable_group`."""
        return Group.from_dict(await self._acall("enable_group", _args(name=name)))

    def disable_group(self, name: str) -> Group:
        """Stops the group's schedule (runs now are still possible)."""
        return Group.from_dict(self._call("disable_group", _args(name=name)))

    async def disable_group_async(self, name: str) -> Group:
        """The awaitable twin of :meth:`disable_group`."""
        return Group.from_dict(await self._acall("disable_group", _args(name=name)))

    def remove_group(self, name: str) -> None:
        """Removes a group and its group runs; its jobs and their runs stay."""
        self._call("remove_group", _args(name=name))

    async def remove_group_async(self, name: str) -> None:
        """The awaitable twin of :meth:`remove_group`."""
        await self._acall("remove_group", _args(name=name))

    def run_group(self, name: str, *, as_of: Union[str, datetime, None] = None, again: bool = False) -> GroupRun:
        """Runs the group now, in this process, and returns the finished group run with its
        jobs' runs in order: ``succeeded``; ``failed`` when it stopped at a failed job
        (``error`` names it and the jobs not run); ``partial`` when, with
        ``continue_on_failure``, some jobs failed; ``skipped`` when the group is still running.

        ``as_of`` makes it a backfill (a naive datetime or a ``"2026-11-26 02:00"`` string is
        read in the group's time zone): each job's date window and target path follow it;
        ``again`` sends the windows' files even where the ledger has them. Ctrl-C stops the
        wait, not the group run."""
        return GroupRun.from_dict(self._call("run_group", _args(name=name, as_of=_as_of(as_of), again=again)))

    async def run_group_async(
        self, name: str, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> GroupRun:
        """The awaitable twin of :meth:`run_group`."""
        return GroupRun.from_dict(await self._acall("run_group", _args(name=name, as_of=_as_of(as_of), again=again)))

    def start_group_run(
        self, name: str, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> GroupRun:
        """Starts the group now, in this process, and returns at once with its group run
        (``running``, or ``skipped`` when the group is still running); follow it with
        :meth:`group_run`. ``as_of`` and ``again`` as for :meth:`run_group`."""
        return GroupRun.from_dict(self._call("start_group_run", _args(name=name, as_of=_as_of(as_of), again=again)))

    async def start_group_run_async(
        self, name: str, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> GroupRun:
        """The awaitable twin of :meth:`start_group_run`."""
        return GroupRun.from_dict(
            await self._acall("start_group_run", _args(name=name, as_of=_as_of(as_of), again=again))
        )

    def group_run(self, id: int) -> GroupRun:
        """One group run with its jobs' runs, in the order they ran."""
        return GroupRun.from_dict(self._call("group_run", _args(id=id)))

    async def group_run_async(self, id: int) -> GroupRun:
        """The awaitable twin of :meth:`group_run`."""
        return GroupRun.from_dict(await self._acall("group_run", _args(id=id)))

    # --- runs ----------------------------------------------------------------------------

    def run_job(
        self,
        name: str,
        dry_run: bool = False,
        progress: Optional[Callable[[RunEvent], None]] = None,
        *,
        as_of: Union[str, datetime, None] = None,
        again: bool = False,
    ) -> Run:
        """Runs the job now, in this process, and returns the finished run with its files.

        ``as_of`` makes it a backfill: run as if fired at that time (a naive datetime or a
        ``"2026-11-26 02:00"`` string is read in the job's time zone), its date window and
        target path resolved from it; ``again`` sends the window's files even where the ledger
        has them.

        ``progress`` is called with each :class:`ftpman.RunEvent`; if it raises, the run is
        cancelled and the exception raised here. Ctrl-C cancels the run cleanly (no partial file
        under a final name), then raises KeyboardInterrupt. A run that was cancelled raises
        :class:`ftpman.Cancelled`."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        callback = None
        if progress is not None:
            user = progress

            def callback(event: str) -> None:
                user(RunEvent.from_dict(json.loads(event)))

        return Run.from_dict(json.loads(self._core.run_job(name, dry_run, callback, "api", _as_of(as_of), again)))

    async def run_job_async(
        self, name: str, dry_run: bool = False, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> Run:
        """The awaitable twin of :meth:`run_job` (follow progress with :meth:`start_run_async`)."""
        handle = await self.start_run_async(name, dry_run, as_of=as_of, again=again)
        return await handle.wait_async()

    def start_run(
        self, name: str, dry_run: bool = False, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> RunHandle:
        """Starts the job now, in this process, and returns at once with its handle."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return RunHandle(self._core.start_run(name, dry_run, "api", _as_of(as_of), again))

    async def start_run_async(
        self, name: str, dry_run: bool = False, *, as_of: Union[str, datetime, None] = None, again: bool = False
    ) -> RunHandle:
        """The awaitable twin of :meth:`start_run`."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return RunHandle(await self._core.start_run_async(name, dry_run, "api", _as_of(as_of), again))

    def runs(
        self,
        job: Optional[str] = None,
        status: Optional[str] = None,
        since: When = None,
        until: When = None,
        limit: int = 50,
        cursor: Optional[int] = None,
    ) -> List[Run]:
        """Runs, newest first (``since``/``until``: a timezone-aware datetime, an ISO 8601
        string, or an age such as ``"2h"`` or a timedelta). For the next page pass the last
        run's id as ``cursor``."""
        page = self._call(
            "runs", _args(job=job, status=status, since=_when(since), until=_when(until), limit=limit, cursor=cursor)
        )
        return [Run.from_dict(r) for r in page["items"]]

    async def runs_async(
        self,
        job: Optional[str] = None,
        status: Optional[str] = None,
        since: When = None,
        until: When = None,
        limit: int = 50,
        cursor: Optional[int] = None,
    ) -> List[Run]:
        """The awaitable twin of :meth:`runs`."""
        page = await self._acall(
            "runs", _args(job=job, status=status, since=_when(since), until=_when(until), limit=limit, cursor=cursor)
        )
        return [Run.from_dict(r) for r in page["items"]]

    def run(self, id: int) -> Run:
        """One run with its files."""
        return Run.from_dict(self._call("run", _args(id=id)))

    async def run_async(self, id: int) -> Run:
        """The awaitable twin of :meth:`run`."""
        return Run.from_dict(await self._acall("run", _args(id=id)))

    def cancel_run(self, id: int) -> Run:
        """Cancels a run wherever it runs (this process, another one, another node)."""
        return Run.from_dict(self._call("cancel_run", _args(id=id)))

    async def cancel_run_async(self, id: int) -> Run:
        """The awaitable twin of :meth:`cancel_run`."""
        return Run.from_dict(await self._acall("cancel_run", _args(id=id)))

    def logs(
        self,
        level: Optional[str] = None,
        component: Optional[str] = None,
        job: Optional[str] = None,
        since: When = None,
        until: When = None,
        limit: int = 100,
        cursor: Optional[int] = None,
    ) -> List[LogEntry]:
        """System log entries (engine messages and the audit trail), newest first."""
        page = self._call(
            "logs",
            _args(level=level, component=component, job=job, since=_when(since), until=_when(until), limit=limit, cursor=cursor),
        )
        return [LogEntry.from_dict(e) for e in page["items"]]

    async def logs_async(
        self,
        level: Optional[str] = None,
        component: Optional[str] = None,
        job: Optional[str] = None,
        since: When = None,
        until: When = None,
        limit: int = 100,
        cursor: Optional[int] = None,
    ) -> List[LogEntry]:
        """The awaitable twin of :meth:`logs`."""
        page = await self._acall(
            "logs",
            _args(level=level, component=component, job=job, since=_when(since), until=_when(until), limit=limit, cursor=cursor),
        )
        return [LogEntry.from_dict(e) for e in page["items"]]

    # --- settings, users, tokens, status ---------------------------------------------------

    def settings(self) -> List[Setting]:
        """Every setting ftpman knows (a secret one's value is never given)."""
        return [Setting.from_dict(s) for s in self._call("settings", "{}")]

    async def settings_async(self) -> List[Setting]:
        """The awaitable twin of :meth:`settings`."""
        return [Setting.from_dict(s) for s in await self._acall("settings", "{}")]

    def set_setting(self, key: str, value: str) -> None:
        """Sets a setting (checked: a port must be a number...)."""
        self._call("set_setting", _args(key=key, value=value))

    async def set_setting_async(self, key: str, value: str) -> None:
        """The awaitable twin of :meth:`set_setting`."""
        await self._acall("set_setting", _args(key=key, value=value))

    def unset_setting(self, key: str) -> bool:
        """Removes a setting; whether it was set."""
        return bool(self._call("unset_setting", _args(key=key)))

    async def unset_setting_async(self, key: str) -> bool:
        """The awaitable twin of :meth:`unset_setting`."""
        return bool(await self._acall("unset_setting", _args(key=key)))

    def smtp_test(self, to: str) -> None:
        """Sends a test e-mail with the SMTP settings."""
        self._call("smtp_test", _args(to=to))

    async def smtp_test_async(self, to: str) -> None:
        """The awaitable twin of :meth:`smtp_test`."""
        await self._acall("smtp_test", _args(to=to))

    def users(self) -> List[User]:
        """Every web user."""
        return [User.from_dict(u) for u in self._call("users", "{}")]

    async def users_async(self) -> List[User]:
        """The awaitable twin of :meth:`users`."""
        return [User.from_dict(u) for u in await self._acall("users", "{}")]

    def add_user(self, name: str, password: str, role: str = "viewer") -> User:
        """Adds a web user (``admin``, ``operator`` or ``viewer``; a password of 12 characters
        or more, kept as an argon2id hash)."""
        return User.from_dict(self._call("add_user", _args(name=name, password=password, role=role)))

    async def add_user_async(self, name: str, password: str, role: str = "viewer") -> User:
        """The awaitable twin of :meth:`add_user`."""
        return User.from_dict(await self._acall("add_user", _args(name=name, password=password, role=role)))

    def edit_user(self, name: str, role: Optional[str] = None, password: Optional[str] = None) -> User:
        """Changes a web user's role and/or resets their password (a new password ends their web
        sessions; the last admin keeps the role)."""
        return User.from_dict(self._call("edit_user", _args(name=name, role=role, password=password)))

    async def edit_user_async(self, name: str, role: Optional[str] = None, password: Optional[str] = None) -> User:
        """The awaitable twin of :meth:`edit_user`."""
        return User.from_dict(await self._acall("edit_user", _args(name=name, role=role, password=password)))

    def remove_user(self, name: str) -> None:
        """Removes a web user (never the last admin)."""
        self._call("remove_user", _args(name=name))

    async def remove_user_async(self, name: str) -> None:
        """The awaitable twin of :meth:`remove_user`."""
        await self._acall("remove_user", _args(name=name))

    def tokens(self) -> List[Token]:
        """Every API token (never a secret)."""
        return [Token.from_dict(t) for t in self._call("tokens", "{}")]

    async def tokens_async(self) -> List[Token]:
        """The awaitable twin of :meth:`tokens`."""
        return [Token.from_dict(t) for t in await self._acall("tokens", "{}")]

    def create_token(self, name: str, user: str, role: str = "viewer") -> NewToken:
        """Makes an API token for ``user``, at most their role; its secret is given this once."""
        return NewToken.from_dict(self._call("create_token", _args(name=name, user=user, role=role)))

    async def create_token_async(self, name: str, user: str, role: str = "viewer") -> NewToken:
        """The awaitable twin of :meth:`create_token`."""
        return NewToken.from_dict(await self._acall("create_token", _args(name=name, user=user, role=role)))

    def revoke_token(self, id: int) -> None:
        """Revokes a token."""
        self._call("revoke_token", _args(id=id))

    async def revoke_token_async(self, id: int) -> None:
        """The awaitable twin of :meth:`revoke_token`."""
        await self._acall("revoke_token", _args(id=id))

    def status(self) -> Status:
        """What the database holds."""
        return Status.from_dict(self._call("status", "{}"))

    async def status_async(self) -> Status:
        """The awaitable twin of :meth:`status`."""
        return Status.from_dict(await self._acall("status", "{}"))

    def nodes(self) -> List[Node]:
        """The cluster's nodes and their last heartbeat."""
        return [Node.from_dict(n) for n in self._call("nodes", "{}")]

    async def nodes_async(self) -> List[Node]:
        """The awaitable twin of :meth:`nodes`."""
        return [Node.from_dict(n) for n in await self._acall("nodes", "{}")]

    def summary(self) -> Summary:
        """The dashboard at a glance: totals, 30 days of runs and bytes, what runs and fires."""
        return Summary.from_dict(self._call("summary", "{}"))

    async def summary_async(self) -> Summary:
        """The awaitable twin of :meth:`summary`."""
        return Summary.from_dict(await self._acall("summary", "{}"))

    # --- one-off transfers, serving ---------------------------------------------------------

    def upload(self, target: str, files: Iterable[PathLike]) -> List[Transferred]:
        """Uploads local files into the folder ``SITE:PATH`` (each under a temporary name,
        renamed when complete)."""
        args = _args(target=target, files=[os.fspath(f) for f in files])
        return [Transferred.from_dict(t) for t in self._call("upload", args)]

    async def upload_async(self, target: str, files: Iterable[PathLike]) -> List[Transferred]:
        """The awaitable twin of :meth:`upload`."""
        args = _args(target=target, files=[os.fspath(f) for f in files])
        return [Transferred.from_dict(t) for t in await self._acall("upload", args)]

    def download(self, source: str, dest: PathLike) -> List[Transferred]:
        """Downloads ``SITE:PATH`` (a file, or every file of a folder) into the folder ``dest``."""
        args = _args(source=source, dest=os.fspath(dest))
        return [Transferred.from_dict(t) for t in self._call("download", args)]

    async def download_async(self, source: str, dest: PathLike) -> List[Transferred]:
        """The awaitable twin of :meth:`download`."""
        args = _args(source=source, dest=os.fspath(dest))
        return [Transferred.from_dict(t) for t in await self._acall("download", args)]

    def serve(
        self,
        bind: str = "127.0.0.1:8080",
        web: bool = True,
        scheduler: bool = True,
        max_runs: int = 4,
        base_path: str = "/",
    ) -> None:
        """Runs the scheduler and the web server (as ``ftpman serve``) until Ctrl-C; then
        both drain."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        self._core.serve(bind, web, scheduler, max_runs, base_path)


def _locals(values: Dict[str, Any]) -> Dict[str, Any]:
    """A method's arguments, without ``self``."""
    return {k: v for k, v in values.items() if k != "self"}
