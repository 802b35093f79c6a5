"""Namespaces, RoleBindings and ServiceAccounts for registry tests, written straight into a
running server's database through `acp.db.objects` (as the Kubernetes API does), with the
cache generations bumped so that every worker sees the change at once.

Once the Kubernetes-compatible API is merged, tests may use it instead; these helpers keep
the registry's tests independent of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.auth.keys import load_key_ring
from acp.auth.resolver import IdentityResolver
from acp.auth.throttle import LoginThrottle
from acp.db import objects
from acp.db.bootstrap import cluster_ids
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.rbac.evaluate import RBAC_GROUP
from acp.registry.repositories import purge_namespace
from acp.server.settings import Settings
from tests.support.server import RunningServer

T = TypeVar("T")


def _database(server: RunningServer) -> tuple[Database, Generations]:
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    generations = Generations(settings.run_dir / "generations")
    return Database(settings.effective_database_url, generations), generations


def _run(
    server: RunningServer,
    work: Callable[[AsyncConnection, dict[str, int]], Awaitable[T]],
    write: bool = True,
) -> T:
    async def main() -> T:
        db, generations = _database(server)
        try:
            async with db.write() if write else db.read() as conn:
                ids = await cluster_ids(conn)
                return await work(conn, ids)
        finally:
            await db.dispose()
            generations.close()

    return asyncio.run(main())


def create_namespace(server: RunningServer, name: str, cluster: str = "global") -> None:
    async def work(conn: AsyncConnection, ids: dict[str, int]) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await objects.create(conn, cluster, ids[cluster], body)

    _run(server, work)


def delete_namespace(server: RunningServer, name: str, cluster: str = "global") -> None:
    """Delete a namespace with everything in it, its repositories included (what the
    Kubernetes API's namespace deletion does, through `purge_namespace`)."""

    async def work(conn: AsyncConnection, ids: dict[str, int]) -> None:
        await purge_namespace(conn, cluster, ids[cluster], name)
        await objects.delete_namespaced(conn, cluster, ids[cluster], name)
        await objects.delete(conn, cluster, ids[cluster], "Namespace", "", name)

    _run(server, work)


def subject(kind: str, name: str, namespace: str = "") -> dict[str, str]:
    """A RoleBinding subject: kind User, Group or ServiceAccount."""
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"kind": kind, "apiGroup": RBAC_GROUP, "name": name}


def bind(
    server: RunningServer,
    namespace: str,
    name: str,
    cluster_role: str,
    subjects: Iterable[dict[str, str]],
    cluster: str = "global",
) -> None:
    async def work(conn: AsyncConnection, ids: dict[str, int]) -> None:
        body: dict[str, Any] = {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role},
            "subjects": list(subjects),
        }
        await objects.create(conn, cluster, ids[cluster], body)

    _run(server, work)


def unbind(server: RunningServer, namespace: str, name: str, cluster: str = "global") -> None:
    async def work(conn: AsyncConnection, ids: dict[str, int]) -> None:
        await objects.delete(conn, cluster, ids[cluster], "RoleBinding", namespace, name)

    _run(server, work)


def create_service_account(
    server: RunningServer, namespace: str, name: str, cluster: str = "global"
) -> str:
    """Create a ServiceAccount and return a token for it (like `kubectl create token`)."""

    async def work(conn: AsyncConnection, ids: dict[str, int]) -> str:
        body = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
        created = await objects.create(conn, cluster, ids[cluster], body)
        keys = await load_key_ring(conn)
        db, generations = _database(server)
        resolver = IdentityResolver(
            db, generations, keys, LoginThrottle(db), ids, server.url, timedelta(hours=1)
        )
        token, _ = resolver.mint_service_account_token(
            cluster, namespace, name, created["metadata"]["uid"], None, 3600
        )
        await db.dispose()
        generations.close()
        return token

    return _run(server, work)


def delete_service_account(
    server: RunningServer, namespace: str, name: str, cluster: str = "global"
) -> None:
    async def work(conn: AsyncConnection, ids: dict[str, int]) -> None:
        await objects.delete(conn, cluster, ids[cluster], "ServiceAccount", namespace, name)

    _run(server, work)


def audit_events(server: RunningServer, action_prefix: str) -> list[dict[str, Any]]:
    """Audit records whose action starts with `action_prefix`, oldest first."""
    import sqlalchemy as sa

    from acp.db import tables

    async def work(conn: AsyncConnection, _ids: dict[str, int]) -> list[dict[str, Any]]:
        a = tables.audit_events
        rows = await conn.execute(
            sa.select(a).where(a.c.action.like(f"{action_prefix}%")).order_by(a.c.id)
        )
        return [dict(row._mapping) for row in rows]

    return _run(server, work, write=False)


def sign_token(server: RunningServer, claims: dict[str, Any]) -> str:
    """A JWT signed with the server's own key (to build expired or odd tokens in tests)."""

    async def work(conn: AsyncConnection, _ids: dict[str, int]) -> str:
        return (await load_key_ring(conn)).sign(claims)

    return _run(server, work, write=False)
