"""The extension module behind :mod:`ftpman` (Rust, pyo3): requests and answers cross as JSON."""

from typing import Any, Awaitable, Callable, Optional

__version__: str

class Core:
    """An open ftpman database and the engine on it."""

    def __init__(self, db_url: str, encryption_key: Optional[str] = None) -> None: ...
    def call(self, op: str, args: str) -> str: ...
    def call_async(self, op: str, args: str) -> Awaitable[str]: ...
    def start_run(
        self,
        name: str,
        dry_run: bool = False,
        trigger_name: str = "api",
        as_of: Optional[str] = None,
        again: bool = False,
    ) -> RunHandle: ...
    def start_run_async(
        self,
        name: str,
        dry_run: bool = False,
        trigger_name: str = "api",
        as_of: Optional[str] = None,
        again: bool = False,
    ) -> Awaitable[RunHandle]: ...
    def run_job(
        self,
        name: str,
        dry_run: bool = False,
        progress: Optional[Callable[[str], Any]] = None,
        trigger_name: str = "api",
        as_of: Optional[str] = None,
        again: bool = False,
    ) -> str: ...
    def read_file(self, site: str, path: str) -> bytes: ...
    def serve(
        self,
        bind: str = "127.0.0.1:8080",
        web: bool = True,
        scheduler: bool = True,
        max_runs: int = 4,
        base_path: str = "/",
    ) -> None: ...

class RunHandle:
    """A run in progress."""

    @property
    def id(self) -> int: ...
    def next_event(self) -> Optional[str]: ...
    def next_event_async(self) -> Awaitable[Optional[str]]: ...
    def cancel(self) -> str: ...
    def wait(self) -> str: ...
    def wait_async(self) -> Awaitable[str]: ...
