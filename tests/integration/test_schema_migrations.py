"""The migrations build exactly the schema the code declares (acp.db.tables), on both
databases: a table, column, index or constraint added to one and not the other fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from acp.db import tables
from acp.db.engine import Database
from acp.db.migrate import upgrade
from acp.server.settings import Settings
from tests.support.acp_fixtures import DATABASES
from tests.support.server import postgres_database


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path).effective_database_url
        return
    with postgres_database() as url:
        yield Settings(data_dir=tmp_path, database_url=url).effective_database_url


async def test_the_migrated_schema_is_the_declared_one(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # a second start applies nothing and breaks nothing

        def differences(connection: Any) -> list[Any]:
            return compare_metadata(MigrationContext.configure(connection), tables.metadata)

        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await db.dispose()
