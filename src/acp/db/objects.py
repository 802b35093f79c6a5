"""Persistence of Kubernetes-style objects (Namespace, ServiceAccount, RBAC kinds).

Objects are stored whole, as the API shows them; this module owns the server-managed parts
of `metadata` (uid, resourceVersion, creationTimestamp) and the per-cluster resourceVersion
counter. Functions take the caller's connection so that several changes share a transaction.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.engine import touch, utc

KubeObject = dict[str, Any]

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
o = tables.kube_objects


class Conflict(Exception):
    """The object changed since the caller read it (resourceVersion mismatch)."""


class AlreadyExists(Exception):
    pass


def kube_time(moment: datetime) -> str:
    return utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generation_key(cluster: str, kind: str, namespace: str = "", name: str = "") -> str:
    """The cache key bumped when such an object changes.

    Any RBAC object change bumps `rbac:<cluster>` (decisions depend on all of them); other
    kinds bump one key per object.
    """
    if kind in RBAC_KINDS:
        return f"rbac:{cluster}"
    return f"{kind.lower()}:{cluster}:{namespace}:{name}"


async def next_resource_version(conn: AsyncConnection, cluster_id: int) -> int:
    result = await conn.execute(
        sa.update(tables.clusters)
        .where(tables.clusters.c.id == cluster_id)
        .values(resource_version=tables.clusters.c.resource_version + 1)
        .returning(tables.clusters.c.resource_version)
    )
    return int(result.scalar_one())


async def current_resource_version(conn: AsyncConnection, cluster_id: int) -> int:
    result = await conn.execute(
        sa.select(tables.clusters.c.resource_version).where(tables.clusters.c.id == cluster_id)
    )
    return int(result.scalar_one())


def _with_server_fields(body: KubeObject, uid: str, rv: int, created: datetime) -> KubeObject:
    meta = body.setdefault("metadata", {})
    meta["uid"] = uid
    meta["resourceVersion"] = str(rv)
    meta["creationTimestamp"] = kube_time(created)
    return body


async def get(
    conn: AsyncConnection,
    cluster_id: int,
    kind: str,
    namespace: str,
    name: str,
    *,
    lock: bool = False,
) -> KubeObject | None:
    """The stored object, or None. `lock=True` holds a shared row lock until the transaction
    ends (PostgreSQL), so that the object cannot be deleted meanwhile: creating something in
    a namespace locks the namespace, and deleting the namespace waits for it."""
    query = sa.select(o.c.body).where(
        o.c.cluster_id == cluster_id,
        o.c.kind == kind,
        o.c.namespace == namespace,
        o.c.name == name,
    )
    if lock:
        query = query.with_for_update(read=True)
    row = (await conn.execute(query)).first()
    return row[0] if row else None


async def list_objects(
    conn: AsyncConnection,
    cluster_id: int,
    kinds: str | tuple[str, ...],
    namespace: str | None = None,
) -> list[KubeObject]:
    """Objects of `kinds`, ordered by namespace and name; `namespace=None` means all."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    query = sa.select(o.c.body).where(o.c.cluster_id == cluster_id, o.c.kind.in_(kinds))
    if namespace is not None:
        query = query.where(o.c.namespace == namespace)
    rows = await conn.execute(query.order_by(o.c.namespace, o.c.name))
    return [row[0] for row in rows]


async def create(
    conn: AsyncConnection, cluster: str, cluster_id: int, body: KubeObject
) -> KubeObject:
    body = copy.deepcopy(body)
    kind = body["kind"]
    meta = body.setdefault("metadata", {})
    namespace, name = meta.get("namespace", ""), meta["name"]
    if await get(conn, cluster_id, kind, namespace, name) is not None:
        raise AlreadyExists(f"{kind} {name!r} already exists")
    now = datetime.now(UTC)
    uid = str(uuid.uuid4())
    rv = await next_resource_version(conn, cluster_id)
    _with_server_fields(body, uid, rv, now)
    try:
        await conn.execute(
            o.insert().values(
                cluster_id=cluster_id,
                kind=kind,
                namespace=namespace,
                name=name,
                uid=uid,
                resource_version=rv,
                created_at=now,
                body=body,
            )
        )
    except sa.exc.IntegrityError as exc:
        # A concurrent transaction created it first (PostgreSQL; SQLite writers serialise).
        raise AlreadyExists(f"{kind} {name!r} already exists") from exc
    touch(conn, generation_key(cluster, kind, namespace, name))
    return body


async def update(
    conn: AsyncConnection, cluster: str, cluster_id: int, body: KubeObject
) -> KubeObject:
    """Replace an object. A resourceVersion in `body` must match the stored one, also against
    a concurrent writer (the row is only changed if its version is still the one read)."""
    body = copy.deepcopy(body)
    kind, meta = body["kind"], body.setdefault("metadata", {})
    namespace, name = meta.get("namespace", ""), meta["name"]
    row = (
        await conn.execute(
            sa.select(o.c.id, o.c.uid, o.c.resource_version, o.c.created_at).where(
                o.c.cluster_id == cluster_id,
                o.c.kind == kind,
                o.c.namespace == namespace,
                o.c.name == name,
            )
        )
    ).first()
    if row is None:
        raise KeyError(name)
    wanted = meta.get("resourceVersion")
    if wanted and str(wanted) != str(row.resource_version):
        raise Conflict(
            "the object has been modified; please apply your changes to the latest version"
        )
    rv = await next_resource_version(conn, cluster_id)
    _with_server_fields(body, row.uid, rv, row.created_at)
    result = await conn.execute(
        o.update()
        .where(o.c.id == row.id, o.c.resource_version == row.resource_version)
        .values(resource_version=rv, body=body)
    )
    if result.rowcount != 1:
        raise Conflict(
            "the object has been modified; please apply your changes to the latest version"
        )
    touch(conn, generation_key(cluster, kind, namespace, name))
    return body


async def delete(
    conn: AsyncConnection, cluster: str, cluster_id: int, kind: str, namespace: str, name: str
) -> KubeObject | None:
    body = await get(conn, cluster_id, kind, namespace, name)
    if body is None:
        return None
    await conn.execute(
        o.delete().where(
            o.c.cluster_id == cluster_id,
            o.c.kind == kind,
            o.c.namespace == namespace,
            o.c.name == name,
        )
    )
    await next_resource_version(conn, cluster_id)
    touch(conn, generation_key(cluster, kind, namespace, name))
    return body


async def delete_namespaced(
    conn: AsyncConnection, cluster: str, cluster_id: int, namespace: str
) -> list[KubeObject]:
    """Delete every object inside a namespace (used when the namespace goes)."""
    rows = await conn.execute(
        sa.select(o.c.body).where(o.c.cluster_id == cluster_id, o.c.namespace == namespace)
    )
    removed = [row[0] for row in rows]
    await conn.execute(o.delete().where(o.c.cluster_id == cluster_id, o.c.namespace == namespace))
    if removed:
        await next_resource_version(conn, cluster_id)
    for body in removed:
        touch(conn, generation_key(cluster, body["kind"], namespace, body["metadata"]["name"]))
    return removed
