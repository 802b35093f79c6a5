"""Errors of the JSON APIs that are neither Kubernetes nor OCI — the platform API and the
registry metadata API: `{"error": {"code", "message"}}`, 401 with a challenge for refused
credentials, 429 with `Retry-After` while password guessing is throttled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from acp.auth.resolver import Unauthenticated
from acp.auth.throttle import Throttled

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="acp"'}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(
        {"error": {"code": exc.code, "message": exc.message}},
        status=exc.status,
        headers=exc.headers,
    )


def error_middleware() -> Middleware:
    """Renders the errors above. (Refusals are counted from the response status by the
    access logger, once for every surface.)"""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except Unauthenticated as exc:
            return error_response(ApiError(401, "UNAUTHORIZED", str(exc), dict(CHALLENGE)))
        except Throttled as exc:
            return error_response(
                ApiError(429, "TOO_MANY_REQUESTS", str(exc), {"Retry-After": str(exc.retry_after)})
            )

    return errors
