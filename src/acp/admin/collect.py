"""`acp-admin gc`: garbage collection against the server's database and blob directory."""

from __future__ import annotations

import re
from datetime import timedelta

from acp.registry.collector import Collected
from acp.server.settings import Settings

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CollectError(Exception):
    """The collection could not run; the message says why."""


def parse_duration(value: str) -> timedelta:
    found = _DURATION.fullmatch(value.strip())
    if found is None:
        raise CollectError(f"--grace {value!r} is not a duration such as 30m, 24h or 7d")
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


async def run_collection(settings: Settings, grace: timedelta, dry_run: bool) -> Collected:
    from acp.admin.database import kind_of, sqlite_path
    from acp.db.engine import Database
    from acp.registry.collector import collect
    from acp.storage.base import StorageError
    from acp.storage.filesystem import FilesystemBlobStore

    url = settings.effective_database_url
    if kind_of(url) == "sqlite" and not sqlite_path(url).is_file():
        raise CollectError(f"there is no SQLite database at {sqlite_path(url)}; check --data-dir")
    try:
        blob_dir = settings.blob_dir
    except ValueError as exc:
        raise CollectError(str(exc)) from exc
    if not blob_dir.is_dir():
        raise CollectError(f"there is no blob directory at {blob_dir}; check --data-dir")
    db = Database(url)
    try:
        return await collect(db, FilesystemBlobStore(blob_dir), grace, dry_run=dry_run)
    except StorageError as exc:
        raise CollectError(str(exc)) from exc
    finally:
        await db.dispose()
