"""Image metadata queries behind the registry metadata API (`ac get images`, `ac delete images`).

Listing is keyset-paginated on (namespace, repository, tag): one SQL query per page, however
many tags a page holds. Deleting a tag removes that tag row only; tags that share its
manifest stay. Deleting by digest removes the manifest, and with it every tag pointing at it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import objects, tables

r = tables.repositories
t = tables.tags
m = tables.manifests
refs = tables.manifest_references

# Names as the OCI distribution-spec and Kubernetes allow them.
NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


class InvalidCursor(ValueError):
    """A `continue` token this server did not hand out."""


@dataclass(frozen=True)
class ImageRecord:
    """One tag and the manifest it points at."""

    namespace: str
    repository: str  # the name inside the namespace: "my-app" of "my-ns/my-app"
    tag: str
    digest: str
    media_type: str
    size: int
    created: datetime
    platforms: tuple[str, ...]

    def to_api(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "mediaType": self.media_type,
            "size": self.size,
            "created": objects.kube_time(self.created),
            "platforms": list(self.platforms),
        }


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts after it."""

    namespace: str
    repository: str  # full repository name, namespace included
    tag: str

    def encode(self) -> str:
        raw = json.dumps([self.namespace, self.repository, self.tag], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            value = json.loads(raw)
        except (ValueError, binascii.Error) as exc:
            raise InvalidCursor("the continue token is not valid") from exc
        if not (
            isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)
        ):
            raise InvalidCursor("the continue token is not valid")
        return cls(*value)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def list_images(
    conn: AsyncConnection,
    cluster_id: int,
    namespaces: Collection[str] | None,
    *,
    after: Cursor | None = None,
    limit: int = 500,
) -> tuple[list[ImageRecord], Cursor | None]:
    """One page of tagged images in `namespaces` (None: every namespace), in (namespace,
    repository, tag) order, and the cursor of the next page (None on the last page)."""
    if namespaces is not None and not namespaces:
        return [], None
    query = (
        sa.select(
            r.c.namespace,
            r.c.name,
            t.c.name,
            m.c.digest,
            m.c.media_type,
            m.c.total_size,
            m.c.created_at,
            m.c.platforms,
        )
        .select_from(t.join(r, t.c.repository_id == r.c.id).join(m, t.c.manifest_id == m.c.id))
        .where(r.c.cluster_id == cluster_id)
        .order_by(r.c.namespace, r.c.name, t.c.name)
        .limit(limit + 1)
    )
    if namespaces is not None:
        query = query.where(r.c.namespace.in_(sorted(namespaces)))
    if after is not None:
        query = query.where(
            sa.tuple_(r.c.namespace, r.c.name, t.c.name)
            > sa.tuple_(
                sa.literal(after.namespace), sa.literal(after.repository), sa.literal(after.tag)
            )
        )
    rows = (await conn.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    records = [
        ImageRecord(
            namespace=ns,
            repository=name[len(ns) + 1 :],
            tag=tag,
            digest=digest,
            media_type=media_type,
            size=int(size or 0),
            created=_aware(created),
            platforms=tuple(platforms or ()),
        )
        for ns, name, tag, digest, media_type, size, created, platforms in rows
    ]
    cursor = None
    if more:
        last = rows[-1]
        cursor = Cursor(last[0], last[1], last[2])
    return records, cursor


async def namespace_exists(conn: AsyncConnection, cluster_id: int, namespace: str) -> bool:
    return await objects.get(conn, cluster_id, "Namespace", "", namespace) is not None


# --- deletion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    """What a delete removes (or, in a dry run, would remove)."""

    digest: str
    deleted_tags: tuple[str, ...]
    manifest_deleted: bool
    # Tags that point at the same manifest and stay.
    remaining_tags: tuple[str, ...]


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The manifest cannot go while something else in the repository needs it."""


async def _repository_id(conn: AsyncConnection, cluster_id: int, repository: str) -> int | None:
    row = (
        await conn.execute(
            sa.select(r.c.id).where(r.c.cluster_id == cluster_id, r.c.name == repository)
        )
    ).first()
    return int(row[0]) if row else None


async def _tags_of(conn: AsyncConnection, manifest_id: int) -> list[str]:
    rows = await conn.execute(
        sa.select(t.c.name).where(t.c.manifest_id == manifest_id).order_by(t.c.name)
    )
    return [row[0] for row in rows]


async def plan_tag_deletion(
    conn: AsyncConnection, cluster_id: int, repository: str, tag: str
) -> tuple[int, Deletion]:
    """(repository id, what deleting `repository:tag` removes); raises NotFound."""
    repo_id = await _repository_id(conn, cluster_id, repository)
    row = None
    if repo_id is not None:
        row = (
            await conn.execute(
                sa.select(t.c.manifest_id, m.c.digest)
                .select_from(t.join(m, t.c.manifest_id == m.c.id))
                .where(t.c.repository_id == repo_id, t.c.name == tag)
            )
        ).first()
    if repo_id is None or row is None:
        raise NotFound(f"{repository}:{tag} does not exist")
    siblings = [name for name in await _tags_of(conn, int(row[0])) if name != tag]
    return repo_id, Deletion(row[1], (tag,), False, tuple(siblings))


async def plan_manifest_deletion(
    conn: AsyncConnection, cluster_id: int, repository: str, digest: str
) -> tuple[int, Deletion]:
    """(manifest id, what deleting `repository@digest` removes); raises NotFound, Conflict."""
    repo_id = await _repository_id(conn, cluster_id, repository)
    row = None
    if repo_id is not None:
        row = (
            await conn.execute(
                sa.select(m.c.id).where(m.c.repository_id == repo_id, m.c.digest == digest)
            )
        ).first()
    if repo_id is None or row is None:
        raise NotFound(f"{repository}@{digest} does not exist")
    manifest_id = int(row[0])
    parent = (
        await conn.execute(
            sa.select(m.c.digest)
            .select_from(refs.join(m, refs.c.manifest_id == m.c.id))
            .where(m.c.repository_id == repo_id, refs.c.digest == digest, refs.c.kind == "manifest")
            .limit(1)
        )
    ).first()
    if parent is not None:
        raise Conflict(
            f"{repository}@{digest} is part of the index {parent[0]}; delete the index first"
        )
    tags = await _tags_of(conn, manifest_id)
    return manifest_id, Deletion(digest, tuple(tags), True, ())


async def delete_tag(conn: AsyncConnection, cluster_id: int, repository: str, tag: str) -> Deletion:
    """Remove one tag; the manifest and its other tags stay."""
    repo_id, plan = await plan_tag_deletion(conn, cluster_id, repository, tag)
    await conn.execute(sa.delete(t).where(t.c.repository_id == repo_id, t.c.name == tag))
    return plan


async def delete_manifest(
    conn: AsyncConnection, cluster_id: int, repository: str, digest: str
) -> Deletion:
    """Remove a manifest and every tag pointing at it (blobs wait for garbage collection)."""
    manifest_id, plan = await plan_manifest_deletion(conn, cluster_id, repository, digest)
    await conn.execute(sa.delete(t).where(t.c.manifest_id == manifest_id))
    await conn.execute(sa.delete(refs).where(refs.c.manifest_id == manifest_id))
    await conn.execute(sa.delete(m).where(m.c.id == manifest_id))
    return plan
