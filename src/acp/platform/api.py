"""Platform API (`/api/v1`): login, logout, whoami, clusters and user management."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from acp.auth import accounts
from acp.auth.http import identify
from acp.auth.identity import Identity
from acp.auth.resolver import Unauthenticated
from acp.platform.openapi import OPENAPI
from acp.rbac.attributes import Attributes
from acp.server.api_errors import ApiError, error_middleware
from acp.server.context import AppContext, context
from acp.server.middleware import request_id

USER_API_GROUP = "user.acp.io"
MAX_BODY = 64 * 1024


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "BODY_TOO_LARGE", f"the request body must be under {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ApiError(
                413, "BODY_TOO_LARGE", f"the request body must be under {MAX_BODY} bytes"
            )
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(
            400, "MALFORMED_JSON", "the request body is not valid JSON: it is nested too deeply"
        ) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "the request body must be a JSON object")
    return body


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "INVALID", f"{key!r} must be a non-empty string")
    return value


def _optional(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _required(body, key)


async def _caller(request: web.Request) -> Identity:
    identity = await identify(request)
    if identity.is_anonymous:
        raise Unauthenticated("log in first: this needs a session token")
    return identity


async def _require_user_admin(request: web.Request, verb: str, name: str = "") -> Identity:
    identity = await _caller(request)
    attrs = Attributes(verb=verb, resource="users", api_group=USER_API_GROUP, name=name)
    if not await context(request).authorizer.allowed(identity, attrs, "global"):
        raise ApiError(403, "FORBIDDEN", f"{identity.username!r} may not {verb} users")
    return identity


# --- sessions --------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _json_body(request)
    username, password = _required(body, "username"), _required(body, "password")
    try:
        user = await ctx.identities.check_password(username, password, request.remote or "")
    except Unauthenticated:
        await ctx.audit.record(
            actor=username,
            action="login",
            outcome="denied",
            request_id=request_id(request),
            details={"remote": request.remote},
        )
        raise
    async with ctx.db.write() as conn:
        token, session = await accounts.create_session(
            conn, user, ctx.identities.session_ttl, request.headers.get("User-Agent", "")
        )
        await ctx.audit.record(
            actor=username,
            action="login",
            request_id=request_id(request),
            details={"remote": request.remote, "session": session.id},
            conn=conn,
        )
    return web.json_response(
        {
            "token": token,
            "expiresAt": session.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user": {"username": user.username, "groups": list(user.groups)},
        },
        status=201,
    )


async def logout(request: web.Request) -> web.Response:
    identity = await _caller(request)
    if identity.session_id is None:
        raise ApiError(400, "NOT_A_SESSION", "only a session token can be logged out")
    ctx = context(request)
    async with ctx.db.write() as conn:
        await accounts.revoke_session(conn, identity.session_id)
        await ctx.audit.record(
            actor=identity.username,
            action="logout",
            request_id=request_id(request),
            details={"session": identity.session_id},
            conn=conn,
        )
    return web.Response(status=204)


async def whoami(request: web.Request) -> web.Response:
    identity = await _caller(request)
    return web.json_response(
        {
            "username": identity.username,
            "uid": identity.uid,
            "groups": list(identity.groups),
            "kind": identity.kind,
            "authenticatedBy": identity.via,
        }
    )


def cluster_info(ctx: AppContext, name: str) -> dict[str, str]:
    return {
        "name": name,
        "kubernetesApi": ctx.kubernetes_url(name),
        "registryHost": ctx.registry_host(name),
        "registryUrl": ctx.registry_url(name),
        "registryApiUrl": ctx.registry_url(name),
    }


async def clusters(request: web.Request) -> web.Response:
    await _caller(request)
    ctx = context(request)
    return web.json_response({"items": [cluster_info(ctx, c.name) for c in ctx.settings.clusters]})


# --- users -----------------------------------------------------------------------------------


def _user_errors(exc: accounts.AccountError) -> ApiError:
    if isinstance(exc, accounts.UserExists):
        return ApiError(409, "ALREADY_EXISTS", str(exc))
    if isinstance(exc, accounts.UserNotFound):
        return ApiError(404, "NOT_FOUND", str(exc))
    return ApiError(422, "INVALID", str(exc))


def _groups(body: dict[str, Any]) -> list[str] | None:
    groups = body.get("groups")
    if groups is None:
        return None
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ApiError(400, "INVALID", "'groups' must be a list of non-empty strings")
    if any(g.startswith("system:") for g in groups):
        raise ApiError(422, "INVALID", "groups starting with 'system:' are managed by the server")
    return groups


async def list_users(request: web.Request) -> web.Response:
    await _require_user_admin(request, "list")
    async with context(request).db.read() as conn:
        users = await accounts.list_users(conn)
    return web.json_response({"items": [user.public() for user in users]})


async def create_user(request: web.Request) -> web.Response:
    identity = await _require_user_admin(request, "create")
    body = await _json_body(request)
    username, password = _required(body, "username"), _required(body, "password")
    groups = _groups(body)
    ctx = context(request)
    try:
        async with ctx.db.write() as conn:
            user = await accounts.create_user(conn, username, password, groups)
            await ctx.audit.record(
                actor=identity.username,
                action="user.create",
                resource="users",
                name=username,
                request_id=request_id(request),
                conn=conn,
            )
    except accounts.AccountError as exc:
        raise _user_errors(exc) from exc
    return web.json_response(user.public(), status=201)


async def get_user(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await _require_user_admin(request, "get", name)
    async with context(request).db.read() as conn:
        user = await accounts.get_user(conn, name)
    if user is None:
        raise ApiError(404, "NOT_FOUND", f"user {name!r} not found")
    return web.json_response(user.public())


async def update_user(request: web.Request) -> web.Response:
    """PATCH: `disabled`, `groups` and (for admins) `password`."""
    name = request.match_info["name"]
    identity = await _require_user_admin(request, "update", name)
    body = await _json_body(request)
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise ApiError(400, "INVALID", "'disabled' must be true or false")
    if name == identity.username and disabled:
        raise ApiError(422, "INVALID", "you cannot disable your own account")
    password = _optional(body, "password")
    groups = _groups(body)
    ctx = context(request)
    try:
        async with ctx.db.write() as conn:
            user = await accounts.update_user(
                conn, name, password=password, disabled=disabled, groups=groups
            )
            changed = sorted(k for k in ("disabled", "groups", "password") if k in body)
            await ctx.audit.record(
                actor=identity.username,
                action="user.update",
                resource="users",
                name=name,
                request_id=request_id(request),
                details={"changed": changed},
                conn=conn,
            )
    except accounts.AccountError as exc:
        raise _user_errors(exc) from exc
    return web.json_response(user.public())


async def set_password(request: web.Request) -> web.Response:
    """PUT a new password: users change their own (giving the current one); admins any."""
    name = request.match_info["name"]
    identity = await _caller(request)
    body = await _json_body(request)
    new_password = _required(body, "password")
    ctx = context(request)
    attrs = Attributes(verb="update", resource="users", api_group=USER_API_GROUP, name=name)
    if not await ctx.authorizer.allowed(identity, attrs, "global"):
        if identity.username != name or identity.kind != "user":
            raise ApiError(403, "FORBIDDEN", f"{identity.username!r} may not change this password")
        current = _required(body, "currentPassword")
        await ctx.identities.check_password(name, current, request.remote or "")
    try:
        async with ctx.db.write() as conn:
            await accounts.update_user(conn, name, password=new_password)
            await ctx.audit.record(
                actor=identity.username,
                action="user.password",
                resource="users",
                name=name,
                request_id=request_id(request),
                conn=conn,
            )
    except accounts.AccountError as exc:
        raise _user_errors(exc) from exc
    return web.Response(status=204)


async def delete_user(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    identity = await _require_user_admin(request, "delete", name)
    if name == identity.username:
        raise ApiError(422, "INVALID", "you cannot delete your own account")
    ctx = context(request)
    try:
        async with ctx.db.write() as conn:
            await accounts.delete_user(conn, name)
            await ctx.audit.record(
                actor=identity.username,
                action="user.delete",
                resource="users",
                name=name,
                request_id=request_id(request),
                conn=conn,
            )
    except accounts.AccountError as exc:
        raise _user_errors(exc) from exc
    return web.Response(status=204)


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def setup(app: web.Application) -> None:
    from acp.platform import audit_api

    api = web.Application(middlewares=[error_middleware()])
    api.router.add_get("/audit", audit_api.list_events)
    api.router.add_post("/login", login)
    api.router.add_post("/logout", logout)
    api.router.add_get("/whoami", whoami)
    api.router.add_get("/clusters", clusters)
    api.router.add_get("/users", list_users)
    api.router.add_post("/users", create_user)
    api.router.add_get("/users/{name}", get_user)
    api.router.add_patch("/users/{name}", update_user)
    api.router.add_delete("/users/{name}", delete_user)
    api.router.add_put("/users/{name}/password", set_password)
    app.add_subapp("/api/v1", api)
    app.router.add_get("/openapi.json", openapi)
