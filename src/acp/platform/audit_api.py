"""`GET /api/v1/audit`: read the audit log (logins, permission changes, deletes).

Only callers allowed to `list` `auditevents` in API group `audit.acp.io` on the `global`
cluster may read it: `cluster-admin`, or a ClusterRole granted for that purpose.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aiohttp import web

from acp.auth.http import identify
from acp.auth.resolver import Unauthenticated
from acp.db.audit import AuditQuery
from acp.platform.api import ApiError
from acp.rbac.attributes import Attributes
from acp.server.context import context

AUDIT_API_GROUP = "audit.acp.io"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
_DURATION = re.compile(r"(\d{1,9})([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(value: str, what: str, now: datetime | None = None) -> datetime:
    """An RFC 3339 time, or a duration back from now (`90s`, `15m`, `2h`, `7d`)."""
    match = _DURATION.fullmatch(value)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError as exc:
            raise ApiError(
                400, "INVALID", f"{what}: {value[:64]!r} reaches back before the year 1"
            ) from exc
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ApiError(400, "INVALID", f"{what}: {value[:64]!r} is out of range") from exc
    except ValueError as exc:
        raise ApiError(
            400,
            "INVALID",
            f"{what} must be an RFC 3339 time (2024-05-01T10:00:00Z) or a duration (15m, 2h, "
            f"7d), got {value[:64]!r}",
        ) from exc


def _int(value: str, what: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(400, "INVALID", f"{what} must be a number from {low} to {high}")
    return int(value)


def _query(request: web.Request) -> AuditQuery:
    params = request.query
    since = params.get("since", "")
    until = params.get("until", "")
    token = params.get("continue", "")
    return AuditQuery(
        since=parse_time(since, "since") if since else None,
        until=parse_time(until, "until") if until else None,
        actor=params.get("actor", ""),
        action=params.get("action", ""),
        cluster=params.get("cluster", ""),
        namespace=params.get("namespace", ""),
        outcome=params.get("outcome", ""),
        after_id=_int(token, "continue", 0, 2**62) if token else 0,
        limit=_int(params.get("limit", str(DEFAULT_LIMIT)), "limit", 1, MAX_LIMIT),
    )


async def list_events(request: web.Request) -> web.Response:
    identity = await identify(request)
    if identity.is_anonymous:
        raise Unauthenticated("log in first: reading the audit log needs a session token")
    ctx = context(request)
    attrs = Attributes(verb="list", resource="auditevents", api_group=AUDIT_API_GROUP)
    if not await ctx.authorizer.allowed(identity, attrs, "global"):
        raise ApiError(
            403,
            "FORBIDDEN",
            f"{identity.username!r} may not read the audit log: this needs the cluster-admin "
            "role of the global cluster",
        )
    events, after = await ctx.audit.query(_query(request))
    body: dict[str, object] = {
        "apiVersion": f"{AUDIT_API_GROUP}/v1",
        "kind": "AuditEventList",
        "items": events,
    }
    if after is not None:
        body["continue"] = str(after)
    return web.json_response(body)
