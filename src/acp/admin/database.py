"""Consistent snapshots of a live database, and loading one into an empty database.

- SQLite: the online backup API copies every page inside one read transaction; in WAL mode
  that never blocks the server's writers, and the copy is exactly the database as of one
  commit.
- PostgreSQL: a REPEATABLE READ transaction exports its snapshot; `pg_dump --snapshot` dumps
  exactly that state while the same transaction lists the blobs, so the dump and the blob
  list agree.

Either way the snapshot also yields the blobs it knows (digest and size): the ones a backup
must copy.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

SQLITE_FILE = "acp.db"
PG_DUMP_FILE = "acp.pgdump"


class DatabaseError(Exception):
    """The database cannot be snapshotted or restored; the message says what to do."""


@dataclass(frozen=True)
class Snapshot:
    kind: str  # "sqlite" or "postgresql"
    file: str  # relative to the backup's database directory
    schema_revision: str
    blobs: list[tuple[str, int]]


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    """The file behind a `sqlite+aiosqlite:///…` URL."""
    return Path(url.split(":///", 1)[1].split("?", 1)[0])


def libpq_url(url: str) -> str:
    """`postgresql+asyncpg://…` as pg_dump, pg_restore and asyncpg spell it (asyncpg's
    `ssl=` query parameter is libpq's `sslmode=`)."""
    rest = url.split("://", 1)[1]
    base, sep, query = rest.partition("?")
    if sep:
        params = [
            "sslmode=" + p.split("=", 1)[1] if p.startswith("ssl=") else p for p in query.split("&")
        ]
        rest = f"{base}?{'&'.join(params)}"
    return "postgresql://" + rest


def _blobs_and_revision(conn: sqlite3.Connection) -> tuple[list[tuple[str, int]], str]:
    blobs = [(str(d), int(s)) for d, s in conn.execute("SELECT digest, size FROM blobs")]
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return blobs, str(row[0]) if row else ""


# --- SQLite ----------------------------------------------------------------------------------


def snapshot_sqlite(url: str, dest_dir: Path) -> Snapshot:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise DatabaseError(
            f"there is no SQLite database at {source_path}; check --data-dir and --database-url"
        )
    target = dest_dir / SQLITE_FILE
    source = sqlite3.connect(source_path, timeout=60)
    try:
        source.execute("PRAGMA busy_timeout=60000")
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # all pages in one step: one consistent read transaction
            # One self-contained file; the server switches back to WAL when it opens it.
            copy.execute("PRAGMA journal_mode=DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise DatabaseError(f"the copied database fails its integrity check: {check}")
            blobs, revision = _blobs_and_revision(copy)
            copy.commit()
        finally:
            copy.close()
    finally:
        source.close()
    return Snapshot("sqlite", SQLITE_FILE, revision, blobs)


def restore_sqlite(dump: Path, url: str) -> None:
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    from acp.admin.files import copy_file, fsync_dir

    copy_file(dump, target)
    fsync_dir(target.parent)


# --- PostgreSQL ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DatabaseError(
            f"{name} is not installed; install the PostgreSQL client tools of the server's "
            "major version (Debian: apt-get install postgresql-client)"
        )
    return found


async def snapshot_postgres(url: str, dest_dir: Path) -> Snapshot:
    import asyncpg

    pg_dump = _tool("pg_dump")
    dsn = libpq_url(url)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot_id = await conn.fetchval("SELECT pg_export_snapshot()")
            rows = await conn.fetch("SELECT digest, size FROM blobs")
            revision = await conn.fetchval("SELECT version_num FROM alembic_version")
            process = await asyncio.create_subprocess_exec(
                pg_dump,
                "--format=custom",
                f"--snapshot={snapshot_id}",
                "--no-owner",
                "--no-privileges",
                f"--file={dest_dir / PG_DUMP_FILE}",
                f"--dbname={dsn}",
                stderr=subprocess.PIPE,
            )
            _, err = await process.communicate()
            if process.returncode != 0:
                raise DatabaseError(f"pg_dump failed: {err.decode(errors='replace').strip()}")
    finally:
        await conn.close()
    blobs = [(str(r["digest"]), int(r["size"])) for r in rows]
    return Snapshot("postgresql", PG_DUMP_FILE, str(revision or ""), blobs)


async def restore_postgres(dump: Path, url: str) -> None:
    """Load a dump into an empty database, all or nothing."""
    pg_restore = _tool("pg_restore")
    dsn = libpq_url(url)
    process = await asyncio.create_subprocess_exec(
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={dsn}",
        str(dump),
        stderr=subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise DatabaseError(f"pg_restore failed: {err.decode(errors='replace').strip()}")


async def is_empty(url: str) -> bool:
    """True when the target database holds no ACP tables yet."""
    if kind_of(url) == "sqlite":
        path = sqlite_path(url)
        return not path.exists() or path.stat().st_size == 0
    import asyncpg

    conn = await asyncpg.connect(libpq_url(url))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    return not count
