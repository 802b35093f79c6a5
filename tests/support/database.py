"""Direct access to a test server's database, for checks the API does not expose (audit
records, registry rows) and for what no API may do (signing odd tokens with the server's own
key)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from acp.auth.keys import load_key_ring
from acp.db import tables
from tests.support.server import RunningServer

T = TypeVar("T")


def database_url(server: RunningServer) -> str:
    if server.database_url:
        return "postgresql+asyncpg://" + server.database_url.split("://", 1)[1]
    return f"sqlite+aiosqlite:///{server.data_dir / 'acp.db'}"


def _run(server: RunningServer, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_async_engine(database_url(server))
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def execute(server: RunningServer, statement: Any) -> list[Any]:
    """Run one statement in its own transaction; rows for a SELECT, [] otherwise."""

    async def work(conn: AsyncConnection) -> list[Any]:
        result = await conn.execute(statement)
        return list(result.all()) if result.returns_rows else []

    return _run(server, work)


def select(server: RunningServer, table: sa.Table, *where: Any) -> list[Any]:
    return execute(server, sa.select(table).where(*where))


def audit_events(server: RunningServer, action_prefix: str) -> list[dict[str, Any]]:
    """Audit records whose action starts with `action_prefix`, oldest first."""
    a = tables.audit_events
    rows = execute(
        server, sa.select(a).where(a.c.action.like(f"{action_prefix}%")).order_by(a.c.id)
    )
    return [dict(row._mapping) for row in rows]


def sign_token(server: RunningServer, claims: dict[str, Any]) -> str:
    """A JWT signed with the server's own key (to build expired or odd tokens in tests)."""

    async def work(conn: AsyncConnection) -> str:
        return (await load_key_ring(conn)).sign(claims)

    return _run(server, work)
