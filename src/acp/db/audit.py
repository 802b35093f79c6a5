"""Audit records: every login, permission change and delete, in the database and the log."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.engine import Database

log = logging.getLogger("acp.audit")


@dataclass(frozen=True)
class AuditQuery:
    """Which events to read: oldest first, `limit` at a time, after event `after_id`."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    # An exact action, or a prefix ending in "*" ("rolebinding.*").
    action: str = ""
    cluster: str = ""
    namespace: str = ""
    outcome: str = ""
    after_id: int = 0
    limit: int = 500


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: str = "success",
        cluster: str = "",
        namespace: str = "",
        resource: str = "",
        name: str = "",
        request_id: str = "",
        details: dict[str, Any] | None = None,
        conn: AsyncConnection | None = None,
    ) -> None:
        """Write one audit event; inside `conn`'s transaction when given, so the record and
        the change it describes commit together."""
        at = datetime.now(UTC)
        event: dict[str, Any] = {
            "at": at,
            "request_id": request_id,
            "cluster": cluster,
            "actor": actor,
            "action": action,
            "namespace": namespace,
            "resource": resource,
            "name": name,
            "outcome": outcome,
            "details": details or {},
        }
        if conn is not None:
            await conn.execute(tables.audit_events.insert().values(**event))
        else:
            async with self._db.write() as own:
                await own.execute(tables.audit_events.insert().values(**event))
        log.info(json.dumps({**event, "at": at.isoformat(), "kind": "audit"}))

    async def query(self, q: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
        """Matching events, and the id to continue after when there are more."""
        t = tables.audit_events
        where: list[Any] = [t.c.id > q.after_id]
        if q.since is not None:
            where.append(t.c.at >= q.since)
        if q.until is not None:
            where.append(t.c.at < q.until)
        for column, value in ((t.c.actor, q.actor), (t.c.cluster, q.cluster)):
            if value:
                where.append(column == value)
        if q.namespace:
            where.append(t.c.namespace == q.namespace)
        if q.outcome:
            where.append(t.c.outcome == q.outcome)
        if q.action.endswith("*"):
            prefix = q.action[:-1]
            where.append(t.c.action.startswith(prefix, autoescape=True))
        elif q.action:
            where.append(t.c.action == q.action)
        statement = sa.select(t).where(*where).order_by(t.c.id).limit(q.limit + 1)
        async with self._db.read() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        events = [_event(row) for row in rows]
        return events, (int(rows[-1]["id"]) if more else None)


def _event(row: Any) -> dict[str, Any]:
    at: datetime = row["at"]
    if at.tzinfo is None:  # SQLite keeps the UTC wall time without its offset
        at = at.replace(tzinfo=UTC)
    return {
        "id": int(row["id"]),
        "time": at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "requestId": row["request_id"],
        "cluster": row["cluster"],
        "actor": row["actor"],
        "action": row["action"],
        "namespace": row["namespace"],
        "resource": row["resource"],
        "name": row["name"],
        "outcome": row["outcome"],
        "details": row["details"] or {},
    }
