"""Database engine and transaction helpers for SQLite (embedded) and PostgreSQL (production).

Use `db.read()` for read-only work and `db.write()` for anything that changes rows. On SQLite a
write transaction starts with `BEGIN IMMEDIATE`, so two worker processes never deadlock while
upgrading a read lock; on PostgreSQL both are ordinary transactions.

Caches elsewhere are invalidated through generation keys: code inside `db.write()` calls
`touch(conn, key, ...)`, and the keys are bumped right after the commit.
"""

from __future__ import annotations

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
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without an exception."""
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
