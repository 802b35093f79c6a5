"""ServiceAccounts and their `token` subresource (TokenRequest, as `kubectl create token`).

Tokens are signed JWTs naming the ServiceAccount's uid; the identity resolver refuses them as
soon as the ServiceAccount is deleted (or replaced by a new one of the same name).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.auth.resolver import SA_TOKEN_MIN_SECONDS
from acp.db import objects
from acp.platform.kube import errors, schema, validation
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Cause, Qualified
from acp.platform.kube.kinds import Kind
from acp.platform.kube.resources import AUTHENTICATION_GROUP, SERVICE_ACCOUNTS

TOKEN_REQUEST = "TokenRequest"


class ServiceAccountKind(Kind):
    resource = SERVICE_ACCOUNTS
    message = schema.SERVICE_ACCOUNT

    def causes(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.service_account_causes(obj)


def _token_causes(spec: dict[str, Any]) -> list[Cause]:
    causes = []
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < SA_TOKEN_MIN_SECONDS:
        causes.append(
            validation.invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration less than 10 minutes",
            )
        )
    if seconds is not None and seconds > 2**32:
        causes.append(
            validation.invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    if spec.get("boundObjectRef"):
        causes.append(
            validation.forbidden(
                "spec.boundObjectRef", "tokens bound to objects are not supported by this server"
            )
        )
    for index, audience in enumerate(spec.get("audiences") or []):
        if not audience:
            causes.append(validation.required(f"spec.audiences[{index}]"))
    return causes


async def issue_token(
    call: Call, namespace: str, name: str, request: dict[str, Any]
) -> dict[str, Any]:
    """Answer a TokenRequest for ServiceAccount `namespace/name` (audited)."""
    spec = request.get("spec") or {}
    if causes := _token_causes(spec):
        raise errors.invalid(TOKEN_REQUEST, AUTHENTICATION_GROUP, name, causes)
    dry_run = call.dry_run
    async with call.ctx.db.write() as conn:
        account = await objects.get(conn, call.cluster_id, "ServiceAccount", namespace, name)
        if account is None:
            raise errors.not_found(Qualified.of(SERVICE_ACCOUNTS, name))
        audiences = list(spec.get("audiences") or [])
        token, expires = "", 0
        if not dry_run:
            token, expires = call.ctx.identities.mint_service_account_token(
                call.cluster,
                namespace,
                name,
                account["metadata"]["uid"],
                audiences or None,
                spec.get("expirationSeconds"),
            )
            await _audit(call, conn, namespace, name, audiences, expires)
    granted = audiences or [call.ctx.identities.service_account_issuer(call.cluster)]
    now = datetime.now(UTC)
    answer_spec: dict[str, Any] = {"audiences": granted, "boundObjectRef": None}
    status: dict[str, Any] = {"token": token, "expirationTimestamp": None}
    if expires:
        answer_spec["expirationSeconds"] = expires - int(now.timestamp())
        status["expirationTimestamp"] = datetime.fromtimestamp(expires, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    return {
        "kind": TOKEN_REQUEST,
        "apiVersion": f"{AUTHENTICATION_GROUP}/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": answer_spec,
        "status": status,
    }


async def _audit(
    call: Call, conn: AsyncConnection, namespace: str, name: str, audiences: list[str], expires: int
) -> None:
    await call.audit(
        "serviceaccount.token",
        conn=conn,
        namespace=namespace,
        resource="serviceaccounts/token",
        name=name,
        details={
            "audiences": audiences,
            "expires": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
