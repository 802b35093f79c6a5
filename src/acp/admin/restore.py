"""Restore a backup into a new data directory (and, for PostgreSQL, a new empty database).

Blobs and files go first and the database last, so a restore that stops half-way leaves no
database that refers to missing blobs: run it again into a clean target. Every blob is
checked against its digest while it is copied. Upload sessions that were in progress when
the backup was taken are dropped (their bytes are not in the backup); clients start them
again. The server brings an older schema up to date when it starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from acp.admin import database, files
from acp.admin.backup import DATA_FILES, BackupError, blob_relpath, read_manifest
from acp.server.settings import Settings

Log = Callable[[str], None]


@dataclass(frozen=True)
class RestoreSummary:
    data_dir: str
    database: str
    blobs: int
    blob_bytes: int
    uploads_dropped: int
    seconds: float


def _blob_root(settings: Settings) -> Path:
    try:
        return settings.blob_dir
    except ValueError as exc:
        raise BackupError(str(exc)) from exc


def _check_target(settings: Settings, kind: str, url: str, blob_root: Path) -> None:
    if database.kind_of(url) != kind:
        wanted = "a postgresql:// --database-url" if kind == "postgresql" else "SQLite"
        raise BackupError(
            f"this backup holds a {kind} database; restore it into {wanted} (moving between "
            "SQLite and PostgreSQL is not supported)"
        )
    if not asyncio.run(database.is_empty(url)):
        where = database.sqlite_path(url) if kind == "sqlite" else "the PostgreSQL database"
        raise BackupError(
            f"{where} already holds data; restore into a new data directory "
            "(and a new, empty PostgreSQL database: createdb NAME)"
        )
    if blob_root.is_dir() and files.blob_files(blob_root):
        raise BackupError(f"{blob_root} already holds blobs; restore into an empty directory")


def restore_backup(backup: Path, settings: Settings, *, log: Log = print) -> RestoreSummary:
    started = time.monotonic()
    manifest = read_manifest(backup)
    kind = str(manifest["database"]["kind"])
    dump = backup / str(manifest["database"]["file"])
    url = settings.effective_database_url
    blob_root = _blob_root(settings)
    _check_target(settings, kind, url, blob_root)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    stored = files.blob_files(backup / "blobs") if (backup / "blobs").is_dir() else []
    log(f"copying {len(stored)} blobs into {blob_root}")
    total = 0
    directories: set[Path] = set()
    for digest, path in stored:
        target = blob_root / blob_relpath(digest)
        try:
            total += files.copy_blob(path, target, digest)
        except files.CopyError as exc:
            raise BackupError(f"{exc}; the backup is damaged") from exc
        directories.add(target.parent)
    for directory in sorted(directories, reverse=True):
        files.fsync_dir(directory)
    if blob_root.is_dir():
        files.fsync_dir(blob_root)

    for name in DATA_FILES:
        source = backup / "files" / name
        target = settings.data_dir / name
        if target.exists():
            log(f"keeping the existing {target}")
        elif source.is_dir():
            files.copy_tree(source, target)
        elif source.is_file():
            files.copy_file(source, target)

    log(f"restoring the {kind} database")
    if kind == "sqlite":
        database.restore_sqlite(dump, url)
    else:
        asyncio.run(database.restore_postgres(dump, url))
    dropped = asyncio.run(_drop_uploads(url))
    asyncio.run(_new_installation(url))
    return RestoreSummary(
        data_dir=str(settings.data_dir),
        database=kind,
        blobs=len(stored),
        blob_bytes=total,
        uploads_dropped=dropped,
        seconds=round(time.monotonic() - started, 2),
    )


async def _new_installation(url: str) -> None:
    """The restored copy is an installation of its own: with a new id, `acp-admin gc` refuses
    to pair it with the original's blob directory (where it would look stale), and the
    original's database with this copy's (the server writes the id there at its start)."""
    import secrets

    from acp.db import tables
    from acp.db.engine import Database

    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(sa.update(tables.installation).values(id=secrets.token_hex(16)))
    except sa.exc.DBAPIError:
        pass  # a backup from before installation ids: the server makes one at its start
    finally:
        await db.dispose()


async def _drop_uploads(url: str) -> int:
    """Uploads in progress at backup time cannot continue: their bytes were not copied."""
    from acp.db import tables
    from acp.db.engine import Database

    db = Database(url)
    try:
        async with db.write() as conn:
            result = await conn.execute(sa.delete(tables.uploads))
            return int(result.rowcount or 0)
    finally:
        await db.dispose()
