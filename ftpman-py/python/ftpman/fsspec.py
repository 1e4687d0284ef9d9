"""An fsspec filesystem over ftpman's stored sites (the ``fsspec`` extra).

``ftpman://SITE/PATH`` reads through the site as ftpman stores it: its pinned host key or
certificate, its sealed password or key. No secret is ever part of the URL::

    import pandas as pd
    df = pd.read_csv("ftpman://partner/out/today.csv",
                     storage_options={"db_url": "sqlite:///srv/ftpman/ftpman.db"})

``db_url`` defaults to ``FTPMAN_DB``; the encryption key comes from ``ENCRYPTION_KEY`` (or
``encryption_key``). Reading and listing only: files are written with jobs, or
:meth:`ftpman.Manager.upload`.
"""

from __future__ import annotations

import io
import os
from typing import Any, Dict, List, Optional, Union

from fsspec.spec import AbstractFileSystem  # type: ignore[import-not-found, import-untyped, unused-ignore]

from .manager import Manager

__all__ = ["FtpmanFileSystem"]


class FtpmanFileSystem(AbstractFileSystem):  # type: ignore[misc, unused-ignore]
    """Files of ftpman's sites, as ``ftpman://SITE/PATH``."""

    protocol = "ftpman"
    root_marker = ""

    def __init__(self, db_url: Optional[str] = None, encryption_key: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        url = db_url or os.environ.get("FTPMAN_DB")
        if not url:
            raise ValueError("say which ftpman database: storage_options={'db_url': ...} or FTPMAN_DB")
        self._manager = Manager(url, encryption_key)

    @classmethod
    def _strip_protocol(cls, path: Union[str, List[str]]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        if text.startswith("ftpman://"):
            text = text[len("ftpman://") :]
        return text.strip("/")

    @staticmethod
    def _split(path: str) -> "tuple[str, str]":
        site, _, rest = path.partition("/")
        if not site:
            raise ValueError(f"'{path}' names no site: write ftpman://SITE/PATH")
        return site, "/" + rest

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> List[Any]:
        path = self._strip_protocol(path)
        site, folder = self._split(path)
        entries = self._manager.list(site, folder)
        out: List[Dict[str, Any]] = [
            {
                "name": f"{site}{e.path}",
                "size": e.size,
                "type": "directory" if e.kind == "dir" else "file",
                "mtime": e.mtime,
            }
            for e in entries
        ]
        return out if detail else [o["name"] for o in out]

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        path = self._strip_protocol(path)
        site, file = self._split(path)
        parent, _, name = file.rpartition("/")
        if not name:
            return {"name": site, "size": 0, "type": "directory"}
        for e in self._manager.list(site, parent or "/"):
            if e.name == name:
                return {
                    "name": f"{site}{e.path}",
                    "size": e.size,
                    "type": "directory" if e.kind == "dir" else "file",
                    "mtime": e.mtime,
                }
        raise FileNotFoundError(path)

    def cat_file(self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any) -> bytes:
        site, file = self._split(self._strip_protocol(path))
        data = self._manager.read_bytes(site, file)
        return data[start:end]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> io.BytesIO:
        if "r" not in mode or "+" in mode:
            raise PermissionError("ftpman:// is read-only; write with a job or Manager.upload")
        return io.BytesIO(self.cat_file(path))
