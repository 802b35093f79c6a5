"""First-start and every-start set-up: clusters, built-in RBAC objects, admin, signing key."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.auth import accounts
from acp.auth.keys import ensure_signing_key
from acp.db import objects, tables
from acp.db.engine import Database
from acp.rbac import builtin

log = logging.getLogger("acp.bootstrap")

ADMIN_PASSWORD_FILE = "admin-password"


async def cluster_ids(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(sa.select(tables.clusters.c.name, tables.clusters.c.id))
    return {name: cluster_id for name, cluster_id in rows}


async def _ensure_clusters(conn: AsyncConnection, names: list[str]) -> dict[str, int]:
    existing = await cluster_ids(conn)
    for name in names:
        if name not in existing:
            await conn.execute(
                tables.clusters.insert().values(
                    name=name, resource_version=0, created_at=datetime.now(UTC)
                )
            )
    return await cluster_ids(conn)


async def _ensure_builtin_rbac(conn: AsyncConnection, cluster: str, cluster_id: int) -> None:
    """Create missing built-in objects and bring auto-updated ones back to their definition."""
    wanted = builtin.cluster_role_objects() + builtin.cluster_role_binding_objects()
    for body in wanted:
        name = body["metadata"]["name"]
        current = await objects.get(conn, cluster_id, body["kind"], "", name)
        if current is None:
            await objects.create(conn, cluster, cluster_id, body)
            continue
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get("rbac.authorization.kubernetes.io/autoupdate") == "false":
            continue
        fields = ("rules", "roleRef", "subjects")
        if any(current.get(f) != body.get(f) for f in fields):
            merged = {**current, **{f: body[f] for f in fields if f in body}}
            await objects.update(conn, cluster, cluster_id, merged)


async def installation_id(conn: AsyncConnection) -> str | None:
    return (await conn.execute(sa.select(tables.installation.c.id).limit(1))).scalar()


async def ensure_installation(db: Database) -> str:
    """This installation's identity, made on first start."""
    async with db.write() as conn:
        found = await installation_id(conn)
        if found is None:
            found = secrets.token_hex(16)
            await conn.execute(
                tables.installation.insert().values(id=found, created_at=datetime.now(UTC))
            )
        return found


async def _ensure_admin(conn: AsyncConnection, data_dir: Path) -> str | None:
    """Create `admin` on first start. Returns the generated password, if one was generated."""
    if await accounts.get_user(conn, builtin.ADMIN_USER) is not None:
        return None
    password = os.environ.get("ACP_ADMIN_PASSWORD")
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(18)
    await accounts.create_user(conn, builtin.ADMIN_USER, password)
    if generated:
        path = data_dir / ADMIN_PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generated + "\n")
        os.chmod(path, 0o600)
    return generated


async def bootstrap(db: Database, clusters: list[str], data_dir: Path) -> str | None:
    """Idempotent; run by the supervising process before workers start."""
    async with db.write() as conn:
        ids = await _ensure_clusters(conn, clusters)
        for name in clusters:
            await _ensure_builtin_rbac(conn, name, ids[name])
        await ensure_signing_key(conn)
        return await _ensure_admin(conn, data_dir)
