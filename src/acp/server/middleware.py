"""What every request passes through: request id, cluster of the listener, access log,
metrics, and a last-resort error page that never leaks internals."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from acp.server import metrics
from acp.server.context import context

errors_log = logging.getLogger("acp.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id(request: web.Request) -> str:
    return request.get("request_id", "")


def set_route_label(request: web.Request, label: str) -> None:
    """Name the endpoint for metrics when one aiohttp route serves many (the /v2/ and
    /kubernetes/ dispatchers); `label` must come from a small fixed set."""
    request["route_label"] = label


def request_cluster(request: web.Request) -> str:
    """The cluster whose registry this listener serves (the main listener serves `global`)."""
    return request.get("cluster", "global")


def _listener_cluster(request: web.Request) -> str:
    ctx = context(request)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if sockname else None
    for cluster in ctx.settings.clusters:
        if not cluster.on_main_listener and cluster.port == port:
            return cluster.name
    return "global"


def _fallback_error(request: web.Request, status: int, message: str) -> web.Response:
    rid = request_id(request)
    path = request.path
    body: dict[str, Any]
    if path.startswith("/v2"):
        body = {"errors": [{"code": "UNKNOWN", "message": message, "detail": {"requestId": rid}}]}
    elif path.startswith("/kubernetes/"):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "InternalError",
            "code": status,
        }
    else:
        body = {"error": {"code": "INTERNAL_ERROR", "message": message, "requestId": rid}}
    return web.json_response(body, status=status)


class InFlight:
    """Counts handlers running in this worker, so shutdown can wait for them.

    aiohttp's own graceful shutdown stops reading from connections at once, which would cut
    off requests whose bodies are still arriving (uploads); the server therefore first stops
    accepting connections, waits here until the handlers finished, and only then lets
    aiohttp close the connections.
    """

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()
        metrics.REQUESTS_IN_FLIGHT.inc()

    def leave(self) -> None:
        self.count -= 1
        metrics.REQUESTS_IN_FLIGHT.dec()
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


IN_FLIGHT = web.AppKey("acp_in_flight", InFlight)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-Id", "")
    rid = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
    request["request_id"] = rid
    request["cluster"] = _listener_cluster(request)
    in_flight = request.app[IN_FLIGHT]
    in_flight.enter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = rid
        raise
    except Exception:
        errors_log.exception(
            "unhandled error in %s %s (request %s)", request.method, request.path, rid
        )
        response = _fallback_error(request, 500, f"internal server error (request id {rid})")
    finally:
        in_flight.leave()
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response


def _route_of(request: web.BaseRequest) -> str:
    # A request aiohttp could not parse (say, a TLS handshake sent to a plain-HTTP port,
    # as podman tries first) never reached the router, and has no match_info to ask.
    try:
        resource = request.match_info.route.resource  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        return "unmatched"
    return resource.canonical if resource is not None else "unmatched"


_SURFACES = (
    ("/v2", "registry"),
    ("/auth/token", "token"),
    ("/kubernetes/", "kubernetes"),
    ("/api/registry/", "registry-api"),
    ("/api/v1/", "platform"),
)


_LOGIN_PATHS = frozenset({"/auth/token", "/api/v1/login"})


def _surface(path: str) -> str:
    return next((name for prefix, name in _SURFACES if path.startswith(prefix)), "other")


def _auth_failure(request: web.BaseRequest, response: web.StreamResponse) -> str | None:
    """Why a request was refused for who it is, if it was: `credentials` (wrong, expired
    or revoked), `insufficient_scope` (a registry token that does not cover the request),
    `forbidden` (no role allows it) or `throttled` (too many failed logins). A 401 to a request
    without credentials is the start of the token handshake, not a failure; the login endpoints
    take credentials in the body too, and answer 401 only to wrong ones."""
    status = response.status
    if status == 403:
        return "forbidden"
    if status == 429:
        return "throttled"
    if status != 401:
        return None
    if "Authorization" not in request.headers and request.path not in _LOGIN_PATHS:
        return None
    if "insufficient_scope" in response.headers.get("WWW-Authenticate", ""):
        return "insufficient_scope"
    return "credentials"


class AccessLogger(AbstractAccessLogger):
    """Runs after each response has been sent, when its size is known."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = request.get("route_label") or _route_of(request)
        status = response.status
        bytes_in = request.get("bytes_in", request.content_length or 0)
        bytes_out = response.body_length
        metrics.REQUESTS.labels(route, request.method, str(status)).inc()
        metrics.LATENCY.labels(route, request.method).observe(time)
        if bytes_in:
            metrics.BYTES_IN.labels(route).inc(bytes_in)
        if bytes_out:
            metrics.BYTES_OUT.labels(route).inc(bytes_out)
        refusal = _auth_failure(request, response) if status in (401, 403, 429) else None
        if refusal is not None:
            metrics.AUTH_FAILURES.labels(_surface(request.path), refusal).inc()
        identity = request.get("identity")
        self.logger.info(
            json.dumps(
                {
                    "kind": "access",
                    "request_id": request.get("request_id", ""),
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(time * 1000, 2),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "remote": request.remote,
                    "user": identity.username if identity is not None else None,
                    "cluster": request.get("cluster"),
                }
            )
        )
