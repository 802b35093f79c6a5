"""Identify the caller of an HTTP request (every surface uses this)."""

from __future__ import annotations

from aiohttp import web

from acp.auth.identity import Identity
from acp.server.context import context


async def identify(
    request: web.Request, *, cluster: str | None = None, registry_service: str | None = None
) -> Identity:
    """The caller's identity, remembered on the request for the access log.

    Raises `acp.auth.resolver.Unauthenticated` for credentials that are wrong, expired or
    revoked, and `acp.auth.throttle.Throttled` while password guessing is being slowed down.
    """
    identity = await context(request).identities.resolve(
        request.headers.get("Authorization"),
        address=request.remote or "",
        cluster=cluster,
        registry_service=registry_service,
    )
    request["identity"] = identity
    return identity
