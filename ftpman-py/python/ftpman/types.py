"""The result classes: immutable, compared by value, with a useful ``repr`` and ``to_dict()``.

Times are timezone-aware :class:`datetime.datetime` (UTC), sizes ``int`` bytes, durations in
seconds as ``float``. No class ever holds a stored secret: a site says whether it has a
password, never what it is.
"""

from __future__ import annotations

import collections.abc
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

__all__ = [
    "Site",
    "SiteTest",
    "SiteTestSummary",
    "Entry",
    "Schedule",
    "Job",
    "Run",
    "RunFile",
    "ActiveFile",
    "RunEvent",
    "Group",
    "GroupRun",
    "LogEntry",
    "Setting",
    "User",
    "Token",
    "NewToken",
    "Node",
    "Status",
    "Day",
    "Fire",
    "Summary",
    "Transferred",
]

T = TypeVar("T", bound="_Record")


def _time(v: Any) -> Optional[datetime]:
    if v is None:
        return None
    text = str(v)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, _Record):
        return v.to_dict()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _reader(hint: Any) -> Optional[Callable[[Any], Any]]:
    """How the core's JSON value of a field typed ``hint`` becomes the field's value; ``None``
    where it is the value as it is (text, numbers, flags). Reading it from the field's type keeps
    each class's fields the one place that says what it holds."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Union:  # Optional[X]: an absent value stays None
        inner = _reader(next(a for a in args if a is not type(None)))
        return None if inner is None else lambda v: None if v is None else inner(v)
    if hint is datetime:
        return _time
    if isinstance(hint, type) and issubclass(hint, _Record):
        return hint.from_dict
    if origin is tuple:  # Tuple[X, ...]: a JSON list, absent as ()
        item = _reader(args[0]) or (lambda x: x)
        return lambda v: tuple(item(x) for x in (v or ()))
    if origin is collections.abc.Mapping:
        return lambda v: dict(v or {})
    return None


_Fields = Tuple[Tuple[str, str, Optional[Callable[[Any], Any]]], ...]
_fields_of: Dict[type, _Fields] = {}


def _fields(cls: Type[_Record]) -> _Fields:
    """Per field of a result class: its name, its JSON key and its reader (worked out on first
    use, once every class it names exists)."""
    known = _fields_of.get(cls)
    if known is None:
        hints = get_type_hints(cls)
        known = _fields_of[cls] = tuple(
            (f.name, cls._keys.get(f.name, f.name), _reader(hints[f.name]))
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
    return known


class _Record:
    """What every result class shares: built from the core's JSON, turned back into a dict."""

    # The JSON key of a field, where it differs from the field's name.
    _keys: ClassVar[Dict[str, str]] = {}

    @classmethod
    def from_dict(cls: Type[T], data: Mapping[str, Any]) -> T:
        """Builds one from the core's JSON view (as the CLI's ``--json`` and the web API give)."""
        values = {}
        for name, key, read in _fields(cls):
            raw = data.get(key)
            values[name] = read(raw) if read else raw
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        """Its fields as plain Python values (times as ISO 8601 strings), for JSON."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Site(_Record):
    """A server or local folder files move from or to."""

    name: str
    protocol: str
    url: str
    host: str
    port: int
    username: str
    root: str
    passive: bool
    host_key: Optional[str]
    cert_fingerprint: Optional[str]
    insecure_skip_verify: bool
    max_connections: int
    timeout: str
    has_password: bool
    has_private_key: bool
    created_at: datetime
    updated_at: datetime
    last_test: Optional["SiteTestSummary"] = None


@dataclass(frozen=True)
class SiteTestSummary(_Record):
    """A site's last connection test, as kept: when, whether it passed, what went wrong."""

    tested_at: datetime
    ok: bool
    message: Optional[str]


@dataclass(frozen=True)
class SiteTest(_Record):
    """The outcome of a connection test: timings, or what failed and what to do."""

    ok: bool
    connect_ms: Optional[int]
    list_ms: Optional[int]
    root_entries: Optional[int]
    message: Optional[str]
    advice: Optional[str]
    offered_host_key: Optional[str]


@dataclass(frozen=True)
class Entry(_Record):
    """A file or folder of a site's listing (names exactly as the server sent them)."""

    name: str
    path: str
    kind: str
    size: int
    mtime: Optional[datetime]


@dataclass(frozen=True)
class Schedule(_Record):
    """When a job or group runs: ``manual``, ``cron`` (with its time zone) or ``once``; ``text`` in words."""

    kind: str
    cron: Optional[str]
    tz: Optional[str]
    at: Optional[datetime]
    text: str


@dataclass(frozen=True)
class Job(_Record):
    """What moves where, and when. ``source`` and ``target`` are ``SITE:PATH``."""

    name: str
    enabled: bool
    source: str
    target: str
    include: Tuple[str, ...]
    exclude: Tuple[str, ...]
    recursive: bool
    min_age: str
    max_age: Optional[str]
    window: Optional[str]
    name_date: Optional[str]
    schedule: Schedule
    after: str
    on_conflict: str
    atomic: bool
    parallel: int
    retries: int
    retry_backoff: str
    bwlimit: Optional[str]
    file_timeout: str
    notify: str
    email: Tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    next_fires: Optional[Tuple[datetime, ...]] = None
    next_window: Optional[str] = None
    zone: str = "UTC"
    _keys = {"source": "from", "target": "to"}


@dataclass(frozen=True)
class RunFile(_Record):
    """One file of a run: where it came from and went, and how it ended."""

    source: str
    target: str
    size: int
    bytes: int
    duration_s: float
    status: str
    error: Optional[str]


@dataclass(frozen=True)
class ActiveFile(_Record):
    """A file a running run is moving, with its bytes so far."""

    path: str
    size: int
    bytes: int


@dataclass(frozen=True)
class Run(_Record):
    """One run of a job: its status, counts and bytes, and (where asked) its files."""

    id: int
    job: str
    trigger: str
    status: str
    scheduled_for: Optional[datetime]
    created_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    duration_s: Optional[float]
    found: int
    transferred: int
    skipped: int
    failed: int
    bytes: int
    error: Optional[str]
    node: Optional[str]
    dry_run: bool
    cancel_requested: bool
    as_of: Optional[datetime] = None
    again: bool = False
    window: Optional[str] = None
    undated: int = 0
    active_files: Tuple[ActiveFile, ...] = ()
    files: Optional[Tuple[RunFile, ...]] = None


@dataclass(frozen=True)
class RunEvent(_Record):
    """Something that happened in a run: ``event`` is ``started``, ``planned``,
    ``file_started``, ``progress``, ``file_finished`` or ``finished``; ``data`` holds the rest
    (``path``, ``bytes``, ``status``...; for ``finished``, ``run``)."""

    event: str
    run_id: int
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunEvent":
        rest = {k: v for k, v in data.items() if k not in ("event", "run_id")}
        return cls(event=str(data.get("event")), run_id=int(data.get("run_id") or 0), data=rest)

    @property
    def run(self) -> Optional[Run]:
        """The finished run, on a ``finished`` event."""
        r = self.data.get("run")
        return Run.from_dict(r) if isinstance(r, Mapping) else None


@dataclass(frozen=True)
class GroupRun(_Record):
    """One run of a group: its status (``succeeded``, ``partial`` when some jobs failed and the
    group went on, ``failed``, ``skipped``, ``interrupted``...), which job failed and what was
    not run (``error``), and (where asked) its jobs' runs in the order they ran."""

    id: int
    group: str
    trigger: str
    status: str
    scheduled_for: Optional[datetime]
    as_of: Optional[datetime]
    again: bool
    created_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    error: Optional[str]
    node: Optional[str]
    runs: Optional[Tuple[Run, ...]] = None


@dataclass(frozen=True)
class Group(_Record):
    """Jobs run one after another, by name in order, on a schedule of their own or by hand."""

    name: str
    enabled: bool
    jobs: Tuple[str, ...]
    schedule: Schedule
    continue_on_failure: bool
    created_at: datetime
    updated_at: datetime
    next_fires: Optional[Tuple[datetime, ...]] = None
    runs: Optional[Tuple[GroupRun, ...]] = None
    zone: str = "UTC"


@dataclass(frozen=True)
class LogEntry(_Record):
    """An entry of the system log (engine messages and the audit trail)."""

    id: int
    time: datetime
    level: str
    component: str
    message: str
    context: Mapping[str, Any]


@dataclass(frozen=True)
class Setting(_Record):
    """A setting ftpman knows; a secret one's value is never given, only whether it is set."""

    key: str
    help: str
    secret: bool
    value: Optional[str]
    set: bool


@dataclass(frozen=True)
class User(_Record):
    """A web user and their role (``admin``, ``operator`` or ``viewer``)."""

    username: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Token(_Record):
    """An API token (its secret is not kept)."""

    id: int
    username: str
    name: str
    role: str
    created_at: datetime
    last_used_at: Optional[datetime]


@dataclass(frozen=True)
class NewToken(_Record):
    """A token just made, with its secret: shown this once (never in ``repr``)."""

    token: Token
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Node(_Record):
    """A node of the cluster and its last heartbeat."""

    id: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Status(_Record):
    """What the database holds."""

    database: str
    backend: str
    sites: int
    jobs: int
    enabled_jobs: int
    active_runs: int
    nodes: int


@dataclass(frozen=True)
class Day(_Record):
    """One day of the summary: runs, of which succeeded and failed, and bytes."""

    day: str
    runs: int
    succeeded: int
    failed: int
    bytes: int


@dataclass(frozen=True)
class Fire(_Record):
    """A job's next fire."""

    job: str
    at: datetime
    schedule: str


@dataclass(frozen=True)
class Summary(_Record):
    """The dashboard at a glance."""

    sites: int
    jobs: int
    enabled_jobs: int
    runs_today: int
    success_rate_7d: Optional[float]
    success_rate_30d: Optional[float]
    bytes_30d: int
    days: Tuple[Day, ...]
    next_fires: Tuple[Fire, ...]
    running: Tuple[Run, ...]
    recent_failures: Tuple[Run, ...]
    nodes: Tuple[Node, ...]


@dataclass(frozen=True)
class Transferred(_Record):
    """A file an upload or download moved."""

    name: str
    bytes: int
