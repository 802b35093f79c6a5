"""`Call`: one request to the Kubernetes-compatible API after authentication, with what every
handler and service needs from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from acp.auth.identity import Identity
from acp.platform.kube import errors
from acp.platform.kube.requestinfo import RequestInfo
from acp.rbac.attributes import Attributes
from acp.server.context import AppContext
from acp.server.middleware import request_id


@dataclass
class Call:
    request: web.Request
    ctx: AppContext
    cluster: str
    # Who authenticated, and who the request acts as (they differ under impersonation).
    actor: Identity
    identity: Identity
    info: RequestInfo
    warnings: list[str] = field(default_factory=list)
    # `dryRun` given in a DeleteOptions body rather than the query.
    body_dry_run: list[str] = field(default_factory=list)

    @property
    def cluster_id(self) -> int:
        return self.ctx.cluster_ids[self.cluster]

    @property
    def query(self) -> Any:
        return self.request.query

    @property
    def request_id(self) -> str:
        return request_id(self.request)

    @property
    def dry_run(self) -> bool:
        values = [*self.request.query.getall("dryRun", []), *self.body_dry_run]
        for value in values:
            if value != "All":
                raise errors.bad_request(
                    f'dryRun: Unsupported value: "{value}": supported values: "All"'
                )
        return bool(values)

    async def allowed(self, attrs: Attributes) -> bool:
        return await self.ctx.authorizer.allowed(self.identity, attrs, self.cluster)

    async def audit(
        self,
        action: str,
        *,
        conn: Any,
        namespace: str = "",
        resource: str = "",
        name: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        details = dict(details or {})
        if self.actor.username != self.identity.username:
            details["impersonating"] = self.identity.username
        await self.ctx.audit.record(
            actor=self.actor.username,
            action=action,
            cluster=self.cluster,
            namespace=namespace,
            resource=resource,
            name=name,
            request_id=self.request_id,
            details=details,
            conn=conn,
        )
