"""The exceptions ftpman raises: one class per kind of failure of the core.

Every class derives from :class:`FtpmanError`; where Python has a built-in meaning, the class
also derives from it (``NotFound`` from ``LookupError``, ``InvalidInput`` from ``ValueError``,
the connection errors from ``ConnectionError``), so ``except LookupError`` works as expected.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
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
]


class FtpmanError(Exception):
    """A failed ftpman operation.

    Attributes:
        message: what went wrong, for people.
        kind: the core's name for the kind of failure (``not_found``, ``invalid_input``...).
        field: the argument at fault, for invalid input (named like the CLI's flag).
        offered_host_key: the SSH host key a server offered, when it is not pinned or differs.
    """

    kind: str
    field: Optional[str]
    offered_host_key: Optional[str]

    def __init__(
        self,
        message: str,
        kind: str = "internal",
        field: Optional[str] = None,
        offered_host_key: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field = field
        self.offered_host_key = offered_host_key

    def __repr__(self) -> str:
        extra = f", field={self.field!r}" if self.field else ""
        return f"{type(self).__name__}({self.message!r}{extra})"


class NotFound(FtpmanError, LookupError):
    """No such site, job, run, user, file or folder."""


class InvalidInput(FtpmanError, ValueError):
    """A value was refused; ``field`` names the argument."""


class AlreadyExists(FtpmanError):
    """The name is taken (a site, a job, a user; a file at the target)."""


class InUse(FtpmanError):
    """Still used by something else (a site by a job)."""


class Conflict(FtpmanError):
    """Clashes with the current state (a run that already ended, the last admin)."""


class Unauthorized(FtpmanError, PermissionError):
    """A wrong encryption key, password or token."""


class Forbidden(FtpmanError, PermissionError):
    """The role in force does not allow the operation."""


class RateLimited(FtpmanError):
    """Too many attempts in a short time."""


class TooLarge(FtpmanError):
    """More data than the limit allows."""


class ConnectionFailed(FtpmanError, ConnectionError):
    """The server or database could not be reached, or the connection broke."""


class AuthenticationFailed(ConnectionFailed):
    """The server refused the login."""


class HostKeyUnknown(ConnectionFailed):
    """The SSH server's host key is not pinned yet; ``offered_host_key`` is what it offers."""


class HostKeyMismatch(ConnectionFailed):
    """The server's identity differs from the pinned one (SSH host key, TLS certificate)."""


class TransferFailed(FtpmanError, OSError):
    """A file could not be moved (refused by the server, permission, space)."""


class Cancelled(FtpmanError):
    """The run was cancelled before it ended; ``run`` is the run as it ended."""

    run_json: Optional[str] = None

    @property
    def run(self) -> "Optional[object]":
        """The cancelled run (a :class:`ftpman.Run`), when known."""
        if self.run_json is None:
            return None
        import json

        from .types import Run

        return Run.from_dict(json.loads(self.run_json))


class InternalError(FtpmanError, RuntimeError):
    """A bug or an unexpected state inside ftpman."""
