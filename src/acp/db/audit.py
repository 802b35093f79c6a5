"""Audit records: every login, permission change and delete, in the database and the log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.engine import Database

log = logging.getLogger("acp.audit")


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
