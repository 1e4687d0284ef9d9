"""ftpman: managed file transfer between FTP, FTPS, SFTP servers and local folders.

>>> import ftpman
>>> m = ftpman.Manager("sqlite:///srv/ftpman/ftpman.db")
>>> run = m.run_job("nightly")
>>> run.status, run.transferred
('succeeded', 4)

See :class:`Manager` for everything it does; errors derive from :class:`FtpmanError`.
"""

from ._ftpman import __version__
from .errors import (
    AlreadyExists,
    AuthenticationFailed,
    Cancelled,
    Conflict,
    ConnectionFailed,
    Forbidden,
    FtpmanError,
    HostKeyMismatch,
    HostKeyUnknown,
    InternalError,
    InUse,
    InvalidInput,
    NotFound,
    RateLimited,
    TooLarge,
    TransferFailed,
    Unauthorized,
)
from .manager import Manager, RunHandle
from .types import (
    ActiveFile,
    Day,
    Entry,
    Fire,
    Group,
    GroupRun,
    Job,
    LogEntry,
    NewToken,
    Node,
    Run,
    RunEvent,
    RunFile,
    Schedule,
    Setting,
    Site,
    SiteTest,
    SiteTestSummary,
    Status,
    Summary,
    Token,
    Transferred,
    User,
)

# Written out in full (not built from the submodules' lists): type checkers read re-exports
# from a literal list only.
__all__ = [
    "__version__",
    "Manager",
    "RunHandle",
    "FtpmanError",
    "NotFound",
    "InvalidInput",
    "AlreadyExists",
    "InUse",
    "Conflict",
    "Unauthorized",
    "Forbidden",
    "RateLimited",
    "TooLarge",
    "ConnectionFailed",
    "AuthenticationFailed",
    "HostKeyUnknown",
    "HostKeyMismatch",
    "TransferFailed",
    "Cancelled",
    "InternalError",
    "ActiveFile",
    "Day",
    "Entry",
    "Fire",
    "Group",
    "GroupRun",
    "Job",
    "LogEntry",
    "NewToken",
    "Node",
    "Run",
    "RunEvent",
    "RunFile",
    "Schedule",
    "Setting",
    "Site",
    "SiteTest",
    "SiteTestSummary",
    "Status",
    "Summary",
    "Token",
    "Transferred",
    "User",
]
