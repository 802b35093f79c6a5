"""SQL statements that differ between SQLite and PostgreSQL: inserts that tolerate a row
written concurrently by another worker, and upserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


async def insert_ignore(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], keys: Sequence[str]
) -> None:
    """Insert unless a row with the same `keys` exists."""
    statement = _insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=keys)
    await conn.execute(statement)


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    values: dict[str, Any],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert, or update the `update` columns of the row with the same `keys`."""
    statement = _insert(conn, table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={column: statement.excluded[column] for column in update}
    )
    await conn.execute(statement)


async def insert_many_ignore(
    conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert several rows in one statement, skipping those that exist."""
    if rows:
        await conn.execute(_insert(conn, table).on_conflict_do_nothing(index_elements=keys), rows)
