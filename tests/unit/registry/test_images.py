"""Image listing queries: keyset pages, one SQL statement each, namespace filtering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from acp.db import tables
from acp.db.engine import Database
from acp.registry import images


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'images.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
    now = datetime.now(UTC)
    async with database.write() as conn:
        await conn.execute(tables.clusters.insert().values(id=1, name="global", created_at=now))
        repos = [("a", "a/app"), ("a", "a/tools/x"), ("b", "b/app"), ("c", "c/app")]
        for rid, (ns, name) in enumerate(repos, start=1):
            await conn.execute(
                tables.repositories.insert().values(
                    id=rid, cluster_id=1, namespace=ns, name=name, created_at=now
                )
            )
            await conn.execute(
                tables.manifests.insert().values(
                    id=rid,
                    repository_id=rid,
                    digest=f"sha256:{rid:064d}",
                    media_type="application/vnd.oci.image.manifest.v1+json",
                    size=10,
                    total_size=1000 * rid,
                    platforms=["linux/amd64"],
                    annotations={},
                    body=b"{}",
                    created_at=now,
                )
            )
            for tag in ("v1", "v2", "latest"):
                await conn.execute(
                    tables.tags.insert().values(
                        repository_id=rid, name=tag, manifest_id=rid, updated_at=now
                    )
                )
    yield database
    await database.dispose()


def _count_statements(database: Database) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return statements


async def test_every_page_is_one_query(db: Database) -> None:
    statements = _count_statements(db)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        async with db.read() as conn:
            records, cursor = await images.list_images(conn, 1, None, after=cursor, limit=5)
        pages += 1
        seen += [f"{r.namespace}/{r.repository}:{r.tag}" for r in records]
        if cursor is None:
            break
        cursor = images.Cursor.decode(cursor.encode())
    assert pages == 3
    assert len(statements) == pages
    assert seen == [
        f"{ns}/{repo}:{tag}"
        for ns, repo in (("a", "app"), ("a", "tools/x"), ("b", "app"), ("c", "app"))
        for tag in ("latest", "v1", "v2")
    ]


async def test_namespace_filter_and_empty_set(db: Database) -> None:
    async with db.read() as conn:
        records, cursor = await images.list_images(conn, 1, {"b", "c"})
        assert {r.namespace for r in records} == {"b", "c"}
        assert cursor is None
        assert await images.list_images(conn, 1, set()) == ([], None)


async def test_records_carry_the_manifest_fields(db: Database) -> None:
    async with db.read() as conn:
        records, _ = await images.list_images(conn, 1, {"a"}, limit=1)
    api = records[0].to_api()
    assert list(api) == [
        "namespace", "repository", "tag", "digest", "mediaType", "size", "created", "platforms",
    ]  # fmt: skip
    assert api["repository"] == "app"
    assert api["size"] == 1000
    assert api["created"].endswith("Z")


async def test_deleting_a_tag_keeps_its_siblings(db: Database) -> None:
    async with db.write() as conn:
        plan = await images.delete_tag(conn, 1, "a/app", "v1")
    assert plan.remaining_tags == ("latest", "v2")
    assert plan.manifest_deleted is False
    async with db.read() as conn:
        left = (
            await conn.execute(
                sa.select(tables.tags.c.name).where(tables.tags.c.repository_id == 1)
            )
        ).scalars()
        assert sorted(left) == ["latest", "v2"]


async def test_deleting_a_manifest_takes_its_tags(db: Database) -> None:
    async with db.write() as conn:
        plan = await images.delete_manifest(conn, 1, "b/app", f"sha256:{3:064d}")
    assert plan.deleted_tags == ("latest", "v1", "v2")
    with pytest.raises(images.NotFound):
        async with db.read() as conn:
            await images.plan_manifest_deletion(conn, 1, "b/app", f"sha256:{3:064d}")


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", "WzEsMl0"])
def test_foreign_continue_tokens_are_refused(token: str) -> None:
    with pytest.raises(images.InvalidCursor):
        images.Cursor.decode(token)
