"""ftpman: managed file transfer between FTP, FTPS, SFTP servers and local folders.

>>> import ftpman
>>> m = ftpman.Manager("sqlite:///srv/ftpman/ftpman.db")
>>> run = m.run_job("nightly")
>>> run.status, run.transferred
('succeeded', 4)

See :class:`Manager` for everything it does; errors derive from :class:`FtpmanError`.
"""

from . import errors, types
from ._ftpman import __version__
from .errors import *  # noqa: F403 (the exceptions, as errors.__all__ names them)
from .manager import Manager, RunHandle
from .types import *  # noqa: F403 (the result classes, as types.__all__ names them)

# Type checkers (mypy, pyright) read these re-exports from the submodules' own lists.
__all__ = ["__version__", "Manager", "RunHandle"]
__all__ += errors.__all__
__all__ += types.__all__
