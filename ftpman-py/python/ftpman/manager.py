"""The :class:`Manager`: ftpman's one API, over an SQLite or PostgreSQL database.

Every method has an ``*_async`` twin for asyncio; both release the GIL while the core works,
on one shared Tokio runtime. Keyword arguments are named like the CLI's flags.
"""

from __future__ import annotations

import functools
import json
import os
from datetime import datetime, timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Type,
    TypeVar,
    Union,
    cast,
)

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
    _Record,
)

if TYPE_CHECKING:
    # For type checkers only: typing_extensions is theirs on every Python (ParamSpec and
    # Concatenate reach `typing` in 3.10 only).
    from typing_extensions import Concatenate, ParamSpec

    _P = ParamSpec("_P")

__all__ = ["Manager", "RunHandle"]

When = Union[str, datetime, timedelta, None]
AsOf = Union[str, datetime, None]
PathLike = Union[str, "os.PathLike[str]"]

_R = TypeVar("_R")
_T = TypeVar("_T", bound=_Record)


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


def _as_of(v: AsOf) -> Optional[str]:
    """A backfill's reference time for the core: ISO 8601 (a naive datetime is read in the
    job's time zone)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat() if v.tzinfo is not None else v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _args(**kwargs: Any) -> str:
    return json.dumps({k: v for k, v in kwargs.items() if v is not None})



def _locals(values: Dict[str, Any]) -> Dict[str, Any]:
    """A method's arguments, without ``self``."""
    return {k: v for k, v in values.items() if k != "self"}


def _job_args(name: str, source: Optional[str], target: Optional[str], **options: Any) -> str:
    # `from` is a Python keyword: the job's ends are `source` and `target` here.
    return _args(name=name, **{"from": source, "to": target}, **options)


def _group_args(name: str, jobs: Optional[Sequence[str]], **options: Any) -> str:
    # A lone string is one job's name, not a sequence of letters.
    names = None if jobs is None else [jobs] if isinstance(jobs, str) else list(jobs)
    return _args(name=name, jobs=names, **options)


def _run_args(name: str, as_of: AsOf, again: bool, dry_run: Optional[bool] = None) -> str:
    """A run's arguments, a job's or a group's (a group has no dry run)."""
    return _args(name=name, dry_run=dry_run, as_of=_as_of(as_of), again=again)


def _run(answer: str) -> Run:
    return Run.from_dict(json.loads(answer))


def _event(answer: str) -> RunEvent:
    return RunEvent.from_dict(json.loads(answer))


# How the core's JSON answer becomes a method's result, where it is not one record's
# `from_dict` or a plain `bool`/`int`.


def _list_of(record: Type[_T]) -> Callable[[Any], List[_T]]:
    return lambda answer: [record.from_dict(x) for x in answer]


def _page_of(record: Type[_T]) -> Callable[[Any], List[_T]]:
    return lambda page: [record.from_dict(x) for x in page["items"]]


def _nothing(answer: Any) -> None:
    return None


def _awaitable(
    sync: Callable[Concatenate[Manager, _P], _R],
) -> Callable[Concatenate[Manager, _P], Coroutine[Any, Any, _R]]:
    """The ``*_async`` twin of a :class:`Manager` method whose body makes its one request with
    ``self._call`` (and touches nothing else of ``self``): a coroutine function with the
    method's signature that runs the same body against :class:`_AsyncCalls`, whose ``_call``
    awaits the core instead of blocking on it."""

    async def twin(self: Manager, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        # On the async view the body answers the coroutine of its request: await it here.
        request = cast(Callable[..., Awaitable[_R]], sync)(_AsyncCalls(self), *args, **kwargs)
        return await request

    functools.update_wrapper(twin, sync)
    twin.__name__ = f"{sync.__name__}_async"
    twin.__qualname__ = f"{sync.__qualname__}_async"
    twin.__doc__ = f"The awaitable twin of :meth:`{sync.__name__}`."
    return twin


class RunHandle:
    """A run started by :meth:`Manager.start_run`: its ``id`` at once, its events by
    iteration (``for event in handle`` or ``async for event in handle``), ``cancel()`` from any
    thread, and ``wait()`` for its end."""

    def __init__(self, inner: _ftpman.RunHandle) -> None:
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
            yield _event(event)

    def __aiter__(self) -> AsyncIterator[RunEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[RunEvent]:
        while True:
            event = await self._inner.next_event_async()
            if event is None:
                return
            yield _event(event)

    def cancel(self) -> Run:
        """Asks the run to stop; it ends ``cancelled`` within a second or two, leaving no
        partial file under a final name."""
        return _run(self._inner.cancel())

    def wait(self) -> Run:
        """Waits for the end and returns the run with its files; raises
        :class:`ftpman.Cancelled` if it was cancelled. Ctrl-C cancels the run, then raises."""
        return _run(self._inner.wait())

    async def wait_async(self) -> Run:
        """The awaitable twin of :meth:`wait`."""
        return _run(await self._inner.wait_async())


class Manager:
    """An open ftpman database (``sqlite:///path/ftpman.db`` or ``postgres://...``).

    ``encryption_key`` is the base64 of 32 bytes that seals stored secrets; without it the key
    comes from ``ENCRYPTION_KEY`` / ``ENCRYPTION_PASSWORD``, or, for an embedded SQLite
    database, from a key file beside it. Also a context manager.
    """

    # Each method makes its one request of the core through `_call`; its `*_async` twin is the
    # same method made awaitable (`_awaitable`), written out only where a method asks more of
    # the core than one `call` (a run's handle, a run followed to its end).

    def __init__(self, db_url: str, encryption_key: Optional[str] = None) -> None:
        self._db_url = db_url
        self._core: Optional[_ftpman.Core] = _ftpman.Core(db_url, encryption_key)

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

    def _live(self) -> _ftpman.Core:
        """The core, while the manager is open."""
        if self._core is None:
            raise RuntimeError("this Manager is closed")
        return self._core

    def _call(self, op: str, args: str, convert: Callable[[Any], _R]) -> _R:
        """Runs the core's operation ``op`` and converts its JSON answer."""
        return convert(json.loads(self._live().call(op, args)))

    # --- sites ---------------------------------------------------------------------------

    def sites(self) -> List[Site]:
        """Every site, by name."""
        return self._call("sites", "{}", _list_of(Site))

    sites_async = _awaitable(sites)

    def site(self, name: str) -> Site:
        """One site (:class:`ftpman.NotFound` names the nearest one)."""
        return self._call("site", _args(name=name), Site.from_dict)

    site_async = _awaitable(site)

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
        return self._call("add_site", _args(**_locals(locals())), Site.from_dict)

    add_site_async = _awaitable(add_site)

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
        return self._call("edit_site", _args(**_locals(locals())), Site.from_dict)

    edit_site_async = _awaitable(edit_site)

    def remove_site(self, name: str) -> None:
        """Removes a site no job uses (:class:`ftpman.InUse` otherwise)."""
        return self._call("remove_site", _args(name=name), _nothing)

    remove_site_async = _awaitable(remove_site)

    def test_site(self, name: str) -> SiteTest:
        """Connects, logs in and lists the root; says what failed and what to do."""
        return self._call("test_site", _args(name=name), SiteTest.from_dict)

    test_site_async = _awaitable(test_site)

    def list(self, site: str, path: str = "/") -> List[Entry]:
        """Lists a folder of a site."""
        return self._call("list", _args(site=site, path=path), _list_of(Entry))

    list_async = _awaitable(list)

    def read_bytes(self, site: str, path: str) -> bytes:
        """The whole content of a file of a site."""
        return bytes(self._live().read_file(site, path))

    # --- jobs ----------------------------------------------------------------------------

    def jobs(self) -> List[Job]:
        """Every job, with its schedule in words."""
        return self._call("jobs", "{}", _list_of(Job))

    jobs_async = _awaitable(jobs)

    def job(self, name: str) -> Job:
        """One job, with its next five fires."""
        return self._call("job", _args(name=name), Job.from_dict)

    job_async = _awaitable(job)

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
        return self._call("add_job", _job_args(**_locals(locals())), Job.from_dict)

    add_job_async = _awaitable(add_job)

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
        return self._call("edit_job", _job_args(**_locals(locals())), Job.from_dict)

    edit_job_async = _awaitable(edit_job)

    def enable_job(self, name: str) -> Job:
        """Lets the job's schedule fire."""
        return self._call("enable_job", _args(name=name), Job.from_dict)

    enable_job_async = _awaitable(enable_job)

    def disable_job(self, name: str) -> Job:
        """Stops the job's schedule (runs now are still possible)."""
        return self._call("disable_job", _args(name=name), Job.from_dict)

    disable_job_async = _awaitable(disable_job)

    def remove_job(self, name: str) -> None:
        """Removes a job and its history."""
        return self._call("remove_job", _args(name=name), _nothing)

    remove_job_async = _awaitable(remove_job)

    def forget(self, name: str, paths: Optional[Sequence[str]] = None) -> int:
        """Forgets deliveries of the job (all, or of ``paths``), so those files move again."""
        return self._call("forget", _args(name=name, paths=list(paths or [])), int)

    forget_async = _awaitable(forget)

    # --- groups --------------------------------------------------------------------------

    def groups(self) -> List[Group]:
        """Every group, with its jobs in order and its schedule in words."""
        return self._call("groups", "{}", _list_of(Group))

    groups_async = _awaitable(groups)

    def group(self, name: str) -> Group:
        """One group, with its next five fires and its latest ten runs (newest first)."""
        return self._call("group", _args(name=name), Group.from_dict)

    group_async = _awaitable(group)

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
        return self._call("add_group", _group_args(**_locals(locals())), Group.from_dict)

    add_group_async = _awaitable(add_group)

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
        return self._call("edit_group", _group_args(**_locals(locals())), Group.from_dict)

    edit_group_async = _awaitable(edit_group)

    def enable_group(self, name: str) -> Group:
        """Lets the group's schedule fire."""
        return self._call("enable_group", _args(name=name), Group.from_dict)

    enable_group_async = _awaitable(enable_group)

    def disable_group(self, name: str) -> Group:
        """Stops the group's schedule (runs now are still possible)."""
        return self._call("disable_group", _args(name=name), Group.from_dict)

    disable_group_async = _awaitable(disable_group)

    def remove_group(self, name: str) -> None:
        """Removes a group and its group runs; its jobs and their runs stay."""
        return self._call("remove_group", _args(name=name), _nothing)

    remove_group_async = _awaitable(remove_group)

    def run_group(self, name: str, *, as_of: AsOf = None, again: bool = False) -> GroupRun:
        """Runs the group now, in this process, and returns the finished group run with its
        jobs' runs in order: ``succeeded``; ``failed`` when it stopped at a failed job
        (``error`` names it and the jobs not run); ``partial`` when, with
        ``continue_on_failure``, some jobs failed; ``skipped`` when the group is still running.

        ``as_of`` makes it a backfill (a naive datetime or a ``"2026-11-26 02:00"`` string is
        read in the group's time zone): each job's date window and target path follow it;
        ``again`` sends the windows' files even where the ledger has them. Ctrl-C stops the
        wait, not the group run."""
        return self._call("run_group", _run_args(name, as_of, again), GroupRun.from_dict)

    run_group_async = _awaitable(run_group)

    def start_group_run(self, name: str, *, as_of: AsOf = None, again: bool = False) -> GroupRun:
        """Starts the group now, in this process, and returns at once with its group run
        (``running``, or ``skipped`` when the group is still running); follow it with
        :meth:`group_run`. ``as_of`` and ``again`` as for :meth:`run_group`."""
        return self._call("start_group_run", _run_args(name, as_of, again), GroupRun.from_dict)

    start_group_run_async = _awaitable(start_group_run)

    def group_run(self, id: int) -> GroupRun:
        """One group run with its jobs' runs, in the order they ran."""
        return self._call("group_run", _args(id=id), GroupRun.from_dict)

    group_run_async = _awaitable(group_run)

    # --- runs ----------------------------------------------------------------------------

    def run_job(
        self,
        name: str,
        dry_run: bool = False,
        progress: Optional[Callable[[RunEvent], None]] = None,
        *,
        as_of: AsOf = None,
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
        core = self._live()
        callback = None
        if progress is not None:
            user = progress

            def callback(event: str) -> None:
                user(_event(event))

        return _run(core.run_job(_run_args(name, as_of, again, dry_run), callback))

    async def run_job_async(self, name: str, dry_run: bool = False, *, as_of: AsOf = None, again: bool = False) -> Run:
        """The awaitable twin of :meth:`run_job` (follow progress with :meth:`start_run_async`)."""
        handle = await self.start_run_async(name, dry_run, as_of=as_of, again=again)
        return await handle.wait_async()

    def start_run(self, name: str, dry_run: bool = False, *, as_of: AsOf = None, again: bool = False) -> RunHandle:
        """Starts the job now, in this process, and returns at once with its handle."""
        return RunHandle(self._live().start_run(_run_args(name, as_of, again, dry_run)))

    async def start_run_async(
        self, name: str, dry_run: bool = False, *, as_of: AsOf = None, again: bool = False
    ) -> RunHandle:
        """The awaitable twin of :meth:`start_run`."""
        return RunHandle(await self._live().start_run_async(_run_args(name, as_of, again, dry_run)))

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
        args = _args(job=job, status=status, since=_when(since), until=_when(until), limit=limit, cursor=cursor)
        return self._call("runs", args, _page_of(Run))

    runs_async = _awaitable(runs)

    def run(self, id: int) -> Run:
        """One run with its files."""
        return self._call("run", _args(id=id), Run.from_dict)

    run_async = _awaitable(run)

    def cancel_run(self, id: int) -> Run:
        """Cancels a run wherever it runs (this process, another one, another node)."""
        return self._call("cancel_run", _args(id=id), Run.from_dict)

    cancel_run_async = _awaitable(cancel_run)

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
        args = _args(
            level=level, component=component, job=job, since=_when(since), until=_when(until), limit=limit, cursor=cursor
        )
        return self._call("logs", args, _page_of(LogEntry))

    logs_async = _awaitable(logs)

    # --- settings, users, tokens, status ---------------------------------------------------

    def settings(self) -> List[Setting]:
        """Every setting ftpman knows (a secret one's value is never given)."""
        return self._call("settings", "{}", _list_of(Setting))

    settings_async = _awaitable(settings)

    def set_setting(self, key: str, value: str) -> None:
        """Sets a setting (checked: a port must be a number...)."""
        return self._call("set_setting", _args(key=key, value=value), _nothing)

    set_setting_async = _awaitable(set_setting)

    def unset_setting(self, key: str) -> bool:
        """Removes a setting; whether it was set."""
        return self._call("unset_setting", _args(key=key), bool)

    unset_setting_async = _awaitable(unset_setting)

    def smtp_test(self, to: str) -> None:
        """Sends a test e-mail with the SMTP settings."""
        return self._call("smtp_test", _args(to=to), _nothing)

    smtp_test_async = _awaitable(smtp_test)

    def users(self) -> List[User]:
        """Every web user."""
        return self._call("users", "{}", _list_of(User))

    users_async = _awaitable(users)

    def add_user(self, name: str, password: str, role: str = "viewer") -> User:
        """Adds a web user (``admin``, ``operator`` or ``viewer``; a password of 12 characters
        or more, kept as an argon2id hash)."""
        return self._call("add_user", _args(name=name, password=password, role=role), User.from_dict)

    add_user_async = _awaitable(add_user)

    def edit_user(self, name: str, role: Optional[str] = None, password: Optional[str] = None) -> User:
        """Changes a web user's role and/or resets their password (a new password ends their web
        sessions; the last admin keeps the role)."""
        return self._call("edit_user", _args(name=name, role=role, password=password), User.from_dict)

    edit_user_async = _awaitable(edit_user)

    def remove_user(self, name: str) -> None:
        """Removes a web user (never the last admin)."""
        return self._call("remove_user", _args(name=name), _nothing)

    remove_user_async = _awaitable(remove_user)

    def tokens(self) -> List[Token]:
        """Every API token (never a secret)."""
        return self._call("tokens", "{}", _list_of(Token))

    tokens_async = _awaitable(tokens)

    def create_token(self, name: str, user: str, role: str = "viewer") -> NewToken:
        """Makes an API token for ``user``, at most their role; its secret is given this once."""
        return self._call("create_token", _args(name=name, user=user, role=role), NewToken.from_dict)

    create_token_async = _awaitable(create_token)

    def revoke_token(self, id: int) -> None:
        """Revokes a token."""
        return self._call("revoke_token", _args(id=id), _nothing)

    revoke_token_async = _awaitable(revoke_token)

    def status(self) -> Status:
        """What the database holds."""
        return self._call("status", "{}", Status.from_dict)

    status_async = _awaitable(status)

    def nodes(self) -> List[Node]:
        """The cluster's nodes and their last heartbeat."""
        return self._call("nodes", "{}", _list_of(Node))

    nodes_async = _awaitable(nodes)

    def summary(self) -> Summary:
        """The dashboard at a glance: totals, 30 days of runs and bytes, what runs and fires."""
        return self._call("summary", "{}", Summary.from_dict)

    summary_async = _awaitable(summary)

    # --- one-off transfers, serving ---------------------------------------------------------

    def upload(self, target: str, files: Iterable[PathLike]) -> List[Transferred]:
        """Uploads local files into the folder ``SITE:PATH`` (each under a temporary name,
        renamed when complete)."""
        args = _args(target=target, files=[os.fspath(f) for f in files])
        return self._call("upload", args, _list_of(Transferred))

    upload_async = _awaitable(upload)

    def download(self, source: str, dest: PathLike) -> List[Transferred]:
        """Downloads ``SITE:PATH`` (a file, or every file of a folder) into the folder ``dest``."""
        args = _args(source=source, dest=os.fspath(dest))
        return self._call("download", args, _list_of(Transferred))

    download_async = _awaitable(download)

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
        self._live().serve(bind, web, scheduler, max_runs, base_path)


class _AsyncCalls:
    """A :class:`Manager` as its ``*_async`` twins see it: ``_call`` answers a coroutine that
    awaits the core's ``call_async``."""

    __slots__ = ("_manager",)

    def __init__(self, manager: Manager) -> None:
        self._manager = manager

    async def _call(self, op: str, args: str, convert: Callable[[Any], _R]) -> _R:
        return convert(json.loads(await self._manager._live().call_async(op, args)))
