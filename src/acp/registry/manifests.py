"""Manifests: push (validated, every reference present), pull by tag or digest, delete.

Pull by tag is the registry's hottest request. It costs one indexed query, and nothing when
the worker's cache holds the answer: entries are keyed by the repository's generation, which
every write to the repository bumps after its commit (in every worker of the host).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.audit import AuditLog
from acp.db.engine import Database, touch
from acp.db.generations import GenerationCache, Generations
from acp.registry import errors, manifest_format
from acp.registry.actor import Actor
from acp.registry.collector import guard_links
from acp.registry.manifest_format import InvalidManifest, Manifest
from acp.registry.names import Reference
from acp.registry.repositories import Repo, Repositories
from acp.registry.sql import insert_ignore, insert_many_ignore, upsert
from acp.storage import digests
from acp.storage.base import BlobStore

log = logging.getLogger("acp.registry")

r = tables.repositories
m = tables.manifests
t = tables.tags
rb = tables.repository_blobs
b = tables.blobs
mr = tables.manifest_references

# Manifests larger than this are not kept in the per-worker cache.
CACHE_MAX_BODY = 256 * 1024
CONFIG_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class PushedManifest:
    digest: str
    subject: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class DeletedManifest:
    repository: str
    digest: str
    # Tags that pointed at the manifest and went with it.
    tags: tuple[str, ...]


def _check_sizes(
    descriptors: Sequence[manifest_format.Descriptor], stored: dict[str, int], what: str
) -> None:
    """Descriptors must give the size of the content the registry holds."""
    for descriptor in descriptors:
        size = stored.get(descriptor.digest)
        if size is not None and size != descriptor.size:
            raise errors.manifest_invalid(
                f"the descriptor of {what} {descriptor.digest} gives size {descriptor.size}, "
                f"but the stored {what} is {size} bytes"
            )


def _total_size(total: int) -> int:
    """A total the database can store: foreign layers' sizes are as claimed, and an index
    adds up its children's totals."""
    if total > manifest_format.MAX_SIZE:
        raise errors.manifest_invalid(
            f"the sizes of the manifest's content add up to more than {manifest_format.MAX_SIZE}"
        )
    return total


class Manifests:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: Repositories,
        audit: AuditLog,
        generations: Generations,
        max_bytes: int,
    ) -> None:
        self._db = db
        self._store = store
        self._repositories = repositories
        self._audit = audit
        self.max_bytes = max_bytes
        self._cache: GenerationCache[StoredManifest] = GenerationCache(generations, 20_000)

    # --- pull ------------------------------------------------------------------------------

    async def get(self, repo: Repo, reference: Reference) -> StoredManifest:
        await self._repositories.require_namespace(repo)
        key = (repo.cluster_id, repo.path, reference.value)
        generation = self._cache.generation(repo.generation_key)  # read before the database
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        query = (
            sa.select(m.c.digest, m.c.media_type, m.c.body)
            .select_from(m.join(r, r.c.id == m.c.repository_id))
            .where(r.c.cluster_id == repo.cluster_id, r.c.name == repo.path)
        )
        if reference.tag is not None:
            query = query.join(t, t.c.manifest_id == m.c.id).where(t.c.name == reference.tag)
        else:
            query = query.where(m.c.digest == reference.digest)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                await self._repositories.require(conn, repo)
                raise errors.manifest_unknown(reference.value)
        found = StoredManifest(row.digest, row.media_type, bytes(row.body))
        if len(found.body) <= CACHE_MAX_BODY:
            self._cache.put(key, repo.generation_key, generation, found)
        return found

    # --- push ------------------------------------------------------------------------------

    async def put(
        self,
        repo: Repo,
        reference: Reference,
        body: bytes,
        content_type: str | None,
        extra_tags: Sequence[str] = (),
    ) -> PushedManifest:
        if len(body) > self.max_bytes:
            raise errors.manifest_invalid(
                f"the manifest is larger than the {self.max_bytes} byte limit", status=413
            )
        if reference.digest is not None:
            algorithm, _ = digests.parse(reference.digest)
            digest = digests.of_bytes(body, algorithm)
            if digest != reference.digest:
                raise errors.digest_invalid(
                    "the manifest's digest differs from the one in the URL", reference.digest
                )
        else:
            digest = digests.of_bytes(body)
        try:
            manifest = manifest_format.parse(body, content_type)
        except InvalidManifest as exc:
            raise errors.manifest_invalid(str(exc)) from exc
        tags = tuple(dict.fromkeys([reference.tag] if reference.tag else extra_tags))
        await self._repositories.require_namespace(repo)
        config_platform = await self._config_platform(manifest)
        async with self._db.write() as conn:
            repository_id = await self._repositories.ensure(conn, repo)
            total_size, platforms = await self._check_references(conn, repository_id, manifest)
            if config_platform and not platforms:
                platforms = [config_platform]
            manifest_id = await self._store_manifest(
                conn, repository_id, digest, manifest, body, total_size, platforms
            )
            now = datetime.now(UTC)
            for tag in tags:
                await upsert(
                    conn,
                    t,
                    {
                        "repository_id": repository_id,
                        "name": tag,
                        "manifest_id": manifest_id,
                        "updated_at": now,
                    },
                    ["repository_id", "name"],
                    ["manifest_id", "updated_at"],
                )
            touch(conn, repo.generation_key)
        subject = manifest.subject.digest if manifest.subject is not None else None
        return PushedManifest(digest, subject, tags)

    async def _config_platform(self, manifest: Manifest) -> str | None:
        config = manifest.config
        if config is None or config.media_type not in manifest_format.IMAGE_CONFIG_TYPES:
            return None
        if config.size > CONFIG_MAX_BYTES:
            return None
        # Only used if the config turns out to be in the repository (checked afterwards).
        body = await self._store.read_blob(config.digest, CONFIG_MAX_BYTES)
        return manifest_format.config_platform(body) if body is not None else None

    async def _check_references(
        self, conn: AsyncConnection, repository_id: int, manifest: Manifest
    ) -> tuple[int, list[str]]:
        """Refuse a manifest whose blobs or child manifests are not in the repository, or
        whose descriptors give them another size than the stored one.
        Returns its total size and platforms (for an index, from its children)."""
        await guard_links(conn)  # the links checked here stay until the manifest is in
        missing: list[str] = []
        blob_refs = manifest.blob_references()
        present: dict[str, int] = {}
        if blob_refs:
            present = {
                digest: int(size)
                for digest, size in await conn.execute(
                    sa.select(rb.c.digest, b.c.size)
                    .select_from(rb.join(b, b.c.digest == rb.c.digest))
                    .where(rb.c.repository_id == repository_id, rb.c.digest.in_(blob_refs))
                )
            }
            missing += [d for d in blob_refs if d not in present]
        child_refs = manifest.manifest_references()
        children: dict[str, tuple[int, list[str]]] = {}
        child_sizes: dict[str, int] = {}
        if child_refs:
            for digest, size, total, platforms in await conn.execute(
                sa.select(m.c.digest, m.c.size, m.c.total_size, m.c.platforms).where(
                    m.c.repository_id == repository_id, m.c.digest.in_(child_refs)
                )
            ):
                children[digest] = (int(total), list(platforms or []))
                child_sizes[digest] = int(size)
            missing += [d for d in child_refs if d not in children]
        if missing:
            first, *rest = missing
            message = "manifest references a manifest or blob unknown to registry"
            raise errors.RegistryError(
                400,
                errors.MANIFEST_BLOB_UNKNOWN,
                message,
                {"digest": first},
                more=[(errors.MANIFEST_BLOB_UNKNOWN, message, {"digest": d}) for d in rest],
            )
        _check_sizes(manifest.blob_descriptors(), present, "blob")
        _check_sizes(manifest.manifests, child_sizes, "manifest")
        if not manifest.is_index:
            return _total_size(manifest.image_size()), []
        total = sum(size for size, _ in children.values())
        platforms = manifest.index_platforms() or list(
            dict.fromkeys(p for _, child in children.values() for p in child)
        )
        return _total_size(total), platforms

    @staticmethod
    async def _store_manifest(
        conn: AsyncConnection,
        repository_id: int,
        digest: str,
        manifest: Manifest,
        body: bytes,
        total_size: int,
        platforms: list[str],
    ) -> int:
        def find() -> sa.Select[Any]:
            return sa.select(m.c.id).where(m.c.repository_id == repository_id, m.c.digest == digest)

        existing = (await conn.execute(find())).scalar()
        now = datetime.now(UTC)
        if existing is not None:
            # Same digest, same bytes: already stored; pushed again.
            await conn.execute(m.update().where(m.c.id == existing).values(pushed_at=now))
            return int(existing)
        await insert_ignore(
            conn,
            m,
            {
                "repository_id": repository_id,
                "digest": digest,
                "media_type": manifest.media_type,
                "artifact_type": manifest.artifact_type,
                "subject_digest": manifest.subject.digest if manifest.subject else None,
                "size": len(body),
                "total_size": total_size,
                "platforms": platforms,
                "annotations": manifest.annotations,
                "body": body,
                "created_at": now,
                "pushed_at": now,
            },
            ["repository_id", "digest"],
        )
        manifest_id = int((await conn.execute(find())).scalar_one())
        references = [
            {"manifest_id": manifest_id, "digest": d, "kind": "blob"}
            for d in manifest.blob_references()
        ] + [
            {"manifest_id": manifest_id, "digest": d, "kind": "manifest"}
            for d in manifest.manifest_references()
        ]
        await insert_many_ignore(conn, mr, references, ["manifest_id", "digest"])
        return manifest_id

    # --- delete ----------------------------------------------------------------------------

    async def delete(
        self, repo: Repo, digest: str, actor: Actor, *, dry_run: bool = False
    ) -> DeletedManifest:
        """Remove a manifest from a repository, with the tags pointing at it."""
        transaction = self._db.read() if dry_run else self._db.write()
        async with transaction as conn:
            repository_id = await self._repositories.require(conn, repo)
            manifest_id = (
                await conn.execute(
                    sa.select(m.c.id).where(
                        m.c.repository_id == repository_id, m.c.digest == digest
                    )
                )
            ).scalar()
            if manifest_id is None:
                raise errors.manifest_unknown(digest)
            tag_names = tuple(
                row[0]
                for row in await conn.execute(
                    sa.select(t.c.name).where(t.c.manifest_id == manifest_id).order_by(t.c.name)
                )
            )
            result = DeletedManifest(repo.path, digest, tag_names)
            if dry_run:
                return result
            await conn.execute(t.delete().where(t.c.manifest_id == manifest_id))
            await conn.execute(mr.delete().where(mr.c.manifest_id == manifest_id))
            await conn.execute(m.delete().where(m.c.id == manifest_id))
            touch(conn, repo.generation_key)
            await self._audit.record(
                actor=actor.username,
                action="registry.manifest.delete",
                cluster=repo.cluster,
                namespace=repo.namespace,
                resource="images",
                name=f"{repo.name.name}@{digest}",
                request_id=actor.request_id,
                details={"repository": repo.path, "digest": digest, "tags": list(tag_names)},
                conn=conn,
            )
        log.info(
            "deleted manifest %s from %s/%s with tags %s",
            digest,
            repo.cluster,
            repo.path,
            list(tag_names),
        )
        return result
