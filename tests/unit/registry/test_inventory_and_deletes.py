"""The service functions the registry metadata API (`ac get/delete images`) builds on:
listing images a page per query, deleting one tag (naming the sibling tags that stay),
deleting a manifest with its tags, and emptying a namespace that is being deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from acp.db import objects, tables
from acp.registry import errors
from acp.registry.actor import Actor
from acp.registry.names import Reference, parse_repository
from acp.registry.repositories import Repo, purge_namespace
from acp.registry.services import Registry
from tests.support.registry_client import (
    DOCKER_LIST,
    Image,
    make_image,
    make_index,
    sha256,
)

ACTOR = Actor("alice", "req-1")


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _repo(registry: Registry, path: str) -> Repo:
    return registry.repositories.repo("global", parse_repository(path))


async def _push(registry: Registry, repo: Repo, tag: str, image: Image) -> None:
    for blob in image.blobs:
        await registry.uploads.monolithic(repo, sha256(blob), _body(blob))
    await registry.manifests.put(repo, Reference(tag=tag), image.manifest, image.media_type)


async def test_list_images_pages_with_sizes_and_platforms(registry: Registry) -> None:
    app, tools, other = (_repo(registry, p) for p in ("ns/app", "ns/tools/x", "other/app"))
    amd = make_image(layers=2, layer_size=300)
    arm = make_image(layers=1, layer_size=500, architecture="arm64", docker=True)
    await _push(registry, app, "v1", amd)
    await _push(registry, app, "arm", arm)
    index = make_index([amd, arm], DOCKER_LIST)
    await registry.manifests.put(app, Reference(tag="multi"), index, DOCKER_LIST)
    await _push(registry, tools, "latest", make_image())
    await _push(registry, other, "v1", make_image())

    page = await registry.inventory.list_images("global", ["ns"], limit=2)
    assert [(i.repository, i.tag) for i in page.items] == [("ns/app", "arm"), ("ns/app", "multi")]
    assert page.next_after == ("ns/app", "multi")
    second = await registry.inventory.list_images("global", ["ns"], limit=2, after=page.next_after)
    assert [(i.repository, i.tag) for i in second.items] == [
        ("ns/app", "v1"),
        ("ns/tools/x", "latest"),
    ]
    assert second.next_after is None

    by_tag = {i.tag: i for i in page.items + second.items}
    v1 = by_tag["v1"]
    assert v1.namespace == "ns"
    assert v1.digest == amd.digest
    assert v1.size == len(amd.config) + 600
    assert v1.platforms == ["linux/amd64"]
    assert by_tag["arm"].platforms == ["linux/arm64"]
    multi = by_tag["multi"]
    assert multi.media_type == DOCKER_LIST
    assert multi.size == v1.size + by_tag["arm"].size
    assert multi.platforms == ["linux/amd64", "linux/arm64"]

    everything = await registry.inventory.list_images("global", None, limit=100)
    assert {i.namespace for i in everything.items} == {"ns", "other"}
    assert (await registry.inventory.list_images("global", [], limit=100)).items == []


async def test_delete_one_tag_keeps_the_others(registry: Registry) -> None:
    repo = _repo(registry, "ns/app")
    image = make_image()
    await _push(registry, repo, "v1", image)
    await registry.manifests.put(repo, Reference(tag="latest"), image.manifest, None)
    await _push(registry, repo, "other", make_image())
    preview = await registry.tags.delete(repo, "v1", ACTOR, dry_run=True)
    assert (preview.repository, preview.tag, preview.digest) == ("ns/app", "v1", image.digest)
    assert preview.siblings == ("latest",)
    assert (await registry.tags.list(repo, None, None)).names == ["latest", "other", "v1"]
    assert (await registry.tags.delete(repo, "v1", ACTOR)).siblings == ("latest",)
    assert (await registry.tags.list(repo, None, None)).names == ["latest", "other"]
    assert (await registry.tags.delete(repo, "latest", ACTOR)).siblings == ()
    assert (
        await registry.manifests.get(repo, Reference(digest=image.digest))
    ).body == image.manifest
    with pytest.raises(errors.RegistryError) as info:
        await registry.tags.delete(repo, "v1", ACTOR)
    assert info.value.code == "MANIFEST_UNKNOWN"


async def test_delete_manifest_returns_its_tags(registry: Registry) -> None:
    repo = _repo(registry, "ns/app")
    image = make_image()
    await _push(registry, repo, "v1", image)
    await registry.manifests.put(repo, Reference(tag="stable"), image.manifest, None)
    preview = await registry.manifests.delete(repo, image.digest, ACTOR, dry_run=True)
    assert preview.tags == ("stable", "v1")
    assert (await registry.tags.list(repo, None, None)).names == ["stable", "v1"]
    deleted = await registry.manifests.delete(repo, image.digest, ACTOR)
    assert (deleted.repository, deleted.digest, deleted.tags) == (
        "ns/app",
        image.digest,
        ("stable", "v1"),
    )
    assert (await registry.tags.list(repo, None, None)).names == []
    with pytest.raises(errors.RegistryError):
        await registry.manifests.get(repo, Reference(digest=image.digest))
    # The delete is audited with the tags that went.
    async with registry.uploads._db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(tables.audit_events.c.actor, tables.audit_events.c.details).where(
                    tables.audit_events.c.action == "registry.manifest.delete"
                )
            )
        ).all()
    assert [(r.actor, r.details["tags"]) for r in rows] == [("alice", ["stable", "v1"])]


async def test_every_page_is_one_query_in_namespace_order(registry: Registry) -> None:
    async with registry.uploads._db.write() as conn:
        for name in ("a", "a-b"):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            await objects.create(conn, "global", 1, body)
    image = make_image()
    # "a-b/app" sorts before "a/app" as a string; namespaces still come in their own order.
    for path in ("a-b/app", "a/app", "a/tools/x"):
        await _push(registry, _repo(registry, path), "v1", image)
        await registry.manifests.put(
            _repo(registry, path), Reference(tag="v2"), image.manifest, None
        )
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    engine = registry.uploads._db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await registry.inventory.list_images("global", None, limit=4, after=after)
        pages += 1
        seen += [f"{i.repository}:{i.tag}" for i in page.items]
        if (after := page.next_after) is None:
            break
    event.remove(engine, "before_cursor_execute", record)
    assert seen == ["a/app:v1", "a/app:v2", "a/tools/x:v1", "a/tools/x:v2", "a-b/app:v1",
                    "a-b/app:v2"]  # fmt: skip
    assert pages == 2
    assert len(selects) == pages


async def test_purging_a_namespace_removes_its_repositories_only(registry: Registry) -> None:
    mine, tools, theirs = (_repo(registry, p) for p in ("ns/app", "ns/tools/x", "other/app"))
    for repo in (mine, tools, theirs):
        await _push(registry, repo, "v1", make_image())
    await registry.uploads.start(mine)
    # Pull by tag once, so the worker's manifest cache holds it.
    assert await registry.manifests.get(mine, Reference(tag="v1"))
    async with registry.uploads._db.write() as conn:
        removed = await purge_namespace(conn, "global", 1, "ns")
    assert sorted(removed) == ["ns/app", "ns/tools/x"]
    # The repository's generation moved: the cached answer is not served.
    with pytest.raises(errors.RegistryError):
        await registry.manifests.get(mine, Reference(tag="v1"))
    async with registry.uploads._db.read() as conn:
        left = {
            table.name: (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar()
            for table in (tables.tags, tables.manifests, tables.repository_blobs, tables.uploads)
        }
    assert left == {"tags": 1, "manifests": 1, "repository_blobs": 2, "uploads": 0}
    assert [i.repository for i in (await registry.inventory.list_images("global", None)).items] == [
        "other/app"
    ]
