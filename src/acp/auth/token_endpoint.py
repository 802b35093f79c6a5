"""The Docker registry token endpoint, `/auth/token` on every registry listener.

What OCI clients do after the registry's `401 WWW-Authenticate: Bearer realm=…`:

- `GET /auth/token?service=…&scope=…&scope=…[&offline_token=true]` with Basic credentials
  (user + password, user + session token, anything + ServiceAccount token), or none for an
  anonymous token;
- `POST /auth/token` with the OAuth2 form: `grant_type=password` (username, password) or
  `grant_type=refresh_token` (refresh_token), `scope` (space-separated), `access_type=offline`.

A token grants, per requested scope, the actions the platform's authorizer allows; scopes it
does not know are dropped (the token protocol treats a partial grant as success). Tokens are
short-lived JWTs bound to the listener's cluster and service; the identity resolver re-checks
that the user, session or ServiceAccount behind them is still alive on every use.

A refresh token is a platform session token (`acps_…`), so it can be listed and revoked like
any session; callers who authenticated with a session or ServiceAccount token get that same
token back.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from acp.auth import accounts
from acp.auth.identity import Identity
from acp.auth.resolver import Unauthenticated
from acp.auth.throttle import Throttled
from acp.registry import access
from acp.registry.handlers.common import service_name
from acp.registry.names import InvalidName, parse_repository
from acp.server.context import AppContext, context
from acp.server.middleware import request_cluster, request_id

MIN_TTL_SECONDS = 60
MAX_SCOPES = 50


class TokenError(Exception):
    def __init__(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}


def _response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _error(exc: TokenError) -> web.Response:
    # OAuth2 fields for OAuth clients, `errors` for Docker-style clients.
    return _response(
        {
            "error": exc.error,
            "error_description": exc.description,
            "errors": [
                {
                    "code": "UNAUTHORIZED" if exc.status == 401 else exc.error.upper(),
                    "message": exc.description,
                }
            ],
        },
        exc.status,
        exc.headers,
    )


# --- scopes ----------------------------------------------------------------------------------


def parse_scopes(values: list[str]) -> dict[tuple[str, str], set[str]]:
    """`type:name:action,action` entries (several per value, space-separated) as
    {(type, name): actions}. Malformed entries are dropped."""
    scopes: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for entry in value.split()[:MAX_SCOPES]:
            kind, sep, rest = entry.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep or not sep2 or not name:
                continue
            kind = kind.split("(", 1)[0]  # "repository(plugin)": the class is ignored
            wanted = {a for a in actions.split(",") if a}
            if wanted:
                scopes.setdefault((kind, name), set()).update(wanted)
    return scopes


async def grant(
    ctx: AppContext, identity: Identity, cluster: str, scopes: dict[tuple[str, str], set[str]]
) -> list[dict[str, Any]]:
    """The access list of a token: what was asked for, cut to what RBAC allows."""
    granted: list[dict[str, Any]] = []
    for (kind, name), wanted in scopes.items():
        if kind == "registry" and name == "catalog":
            # Listing is always filtered by pull permission, so it may be granted to all.
            granted.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        if kind != "repository":
            continue
        try:
            repository = parse_repository(name)
        except InvalidName:
            continue
        actions = await access.grantable(ctx.authorizer, identity, cluster, repository, wanted)
        if actions:
            granted.append({"type": "repository", "name": repository.path, "actions": actions})
    return granted


def _scope_string(granted: list[dict[str, Any]]) -> str:
    return " ".join(f"{g['type']}:{g['name']}:{','.join(g['actions'])}" for g in granted)


# --- credentials -----------------------------------------------------------------------------


async def _resolve(request: web.Request, authorization: str | None) -> Identity:
    ctx = context(request)
    try:
        identity = await ctx.identities.resolve(
            authorization, address=request.remote or "", cluster=request_cluster(request)
        )
    except Unauthenticated as exc:
        username = _basic_username(authorization)
        if username:
            # An OCI client's `login` with a wrong password ends here.
            await ctx.audit.record(
                actor=username,
                action="login",
                outcome="denied",
                request_id=request_id(request),
                details={"remote": request.remote, "via": "token-endpoint"},
            )
        raise TokenError(
            401, "invalid_grant", str(exc), {"WWW-Authenticate": 'Basic realm="acp-registry"'}
        ) from exc
    except Throttled as exc:
        raise TokenError(
            429, "too_many_requests", str(exc), {"Retry-After": str(exc.retry_after)}
        ) from exc
    request["identity"] = identity
    return identity


def _basic_username(authorization: str | None) -> str:
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(credentials.strip()).decode().partition(":")[0][:300]
    except ValueError:
        return ""


def _presented_secret(authorization: str | None) -> str | None:
    """The token or password inside an Authorization header."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    try:
        return base64.b64decode(credentials.strip()).decode().partition(":")[2]
    except ValueError:
        return None


async def _refresh_token(
    request: web.Request, identity: Identity, presented: str | None, client_id: str
) -> str | None:
    """A revocable secret that gets this identity new tokens later."""
    if identity.via in ("session", "serviceaccount-token"):
        return presented
    if identity.via != "password":
        return None
    ctx = context(request)
    async with ctx.db.write() as conn:
        user = await accounts.get_user(conn, identity.username)
        if user is None:
            return None
        token, session = await accounts.create_session(
            conn, user, ctx.identities.session_ttl, f"registry-token {client_id}"[:255]
        )
        await ctx.audit.record(
            actor=identity.username,
            action="login",
            request_id=request_id(request),
            details={"remote": request.remote, "session": session.id, "via": "token-endpoint"},
            conn=conn,
        )
    return token


async def _issue(
    request: web.Request,
    identity: Identity,
    scope_values: list[str],
    refresh_token: str | None,
    oauth: bool,
) -> web.Response:
    ctx = context(request)
    cluster = request_cluster(request)
    granted = await grant(ctx, identity, cluster, parse_scopes(scope_values))
    ttl = max(MIN_TTL_SECONDS, ctx.settings.registry_token_ttl_seconds)
    now = time.time()
    token = ctx.identities.mint_registry_token(
        identity, cluster, service_name(ctx, cluster), granted, ttl
    )
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if oauth:
        body["scope"] = _scope_string(granted)
    if refresh_token:
        body["refresh_token"] = refresh_token
    return _response(body)


# --- handlers --------------------------------------------------------------------------------


async def token_get(request: web.Request) -> web.Response:
    try:
        authorization = request.headers.get("Authorization")
        identity = await _resolve(request, authorization)
        refresh = None
        if request.query.get("offline_token", "").lower() == "true":
            refresh = await _refresh_token(
                request,
                identity,
                _presented_secret(authorization),
                request.query.get("client_id", ""),
            )
        return await _issue(request, identity, request.query.getall("scope", []), refresh, False)
    except TokenError as exc:
        return _error(exc)


async def token_post(request: web.Request) -> web.Response:
    try:
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        client_id = str(form.get("client_id", ""))
        scopes = [str(form.get("scope", ""))]
        offline = str(form.get("access_type", "")) == "offline"
        if grant_type == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            if not username or not password:
                raise TokenError(400, "invalid_request", "username and password are required")
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            identity = await _resolve(request, f"Basic {basic}")
            refresh = (
                await _refresh_token(request, identity, password, client_id) if offline else None
            )
        elif grant_type == "refresh_token":
            presented = str(form.get("refresh_token", ""))
            if not presented:
                raise TokenError(400, "invalid_request", "refresh_token is required")
            identity = await _resolve(request, f"Bearer {presented}")
            if identity.via not in ("session", "serviceaccount-token"):
                raise TokenError(401, "invalid_grant", "not a refresh token")
            refresh = presented
        else:
            raise TokenError(
                400, "unsupported_grant_type", "grant_type must be password or refresh_token"
            )
        return await _issue(request, identity, scopes, refresh, True)
    except TokenError as exc:
        return _error(exc)


def setup(app: web.Application) -> None:
    app.router.add_get("/auth/token", token_get)
    app.router.add_post("/auth/token", token_post)
