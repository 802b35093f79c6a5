"""Direct access to a test server's database, for checks the API does not expose (audit
records, registry rows) and for preparing rows another part owns."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.server import RunningServer


def database_url(server: RunningServer) -> str:
    if server.database_url:
        return "postgresql+asyncpg://" + server.database_url.split("://", 1)[1]
    return f"sqlite+aiosqlite:///{server.data_dir / 'acp.db'}"


def execute(server: RunningServer, statement: Any) -> list[Any]:
    """Run one statement in its own transaction; rows for a SELECT, [] otherwise."""

    async def run() -> list[Any]:
        engine = create_async_engine(database_url(server))
        try:
            async with engine.begin() as conn:
                result = await conn.execute(statement)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def select(server: RunningServer, table: sa.Table, *where: Any) -> list[Any]:
    return execute(server, sa.select(table).where(*where))
