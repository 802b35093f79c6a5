"""Database engine and transaction helpers for SQLite (embedded) and PostgreSQL (production).

Use `db.read()` for read-only work and `db.write()` for anything that changes rows. On SQLite a
write transaction starts with `BEGIN IMMEDIATE`, so two worker processes never deadlock while
upgrading a read lock; on PostgreSQL both are ordinary transactions.

Caches elsewhere are invalidated through generation keys: code inside `db.write()` calls
`touch(conn, key, ...)`, and the keys are bumped right after the commit.

SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in
SQLite's busy handler for up to 100 ms before it tries again. Under concurrent pushes those
sleeps, not the writes, set the pace. So SQLite writers queue instead: in-process behind an
asyncio lock, across worker processes on an flock(2) of a file beside the database, which
wakes the next writer the moment the previous one commits.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from acp.db.generations import Generations


def utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime: every time is stored in UTC, and SQLite hands
    them back naive."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed transaction survives power loss, not only a killed process.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


_TOUCHED = "acp_touched"


def touch(conn: AsyncConnection, *keys: str) -> None:
    """Mark cache generations to bump once this write transaction has committed."""
    conn.info[_TOUCHED].update(keys)


class Database:
    def __init__(
        self, url: str, generations: Generations | None = None, *, pool_size: int = 10
    ) -> None:
        self.url = url
        self.generations = generations
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._writers: _WriterQueue | None = None
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
            path = self.engine.url.database
            self._writers = _WriterQueue(
                f"{path}.write-lock" if path and path != ":memory:" else None
            )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without an exception."""
        if self._writers is None:
            async with self._write() as conn:
                yield conn
        else:
            async with self._writers.turn(), self._write() as conn:
                yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        touched: set[str] = set()
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(acp_write=True)
            conn.info[_TOUCHED] = touched
            try:
                async with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_TOUCHED, None)
        if touched and self.generations is not None:
            self.generations.bump(*touched)

    async def dispose(self) -> None:
        await self.engine.dispose()


class _WriterQueue:
    """One SQLite writer at a time: an asyncio lock within the process, an exclusive flock
    on `lock_path` across processes (opened per process, so forked workers do not share
    one lock)."""

    def __init__(self, lock_path: str | None) -> None:
        self._lock_path = lock_path
        self._lock = asyncio.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._lock:
            fd = self._file()
            if fd is None:
                yield
                return
            await _flock(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


async def _flock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The thread may still get the lock: hand it back as soon as it does.
        def release(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is None:
                fcntl.flock(fd, fcntl.LOCK_UN)

        waiting.add_done_callback(release)
        raise


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("acp_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
