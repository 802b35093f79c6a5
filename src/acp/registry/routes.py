"""The OCI distribution API under /v2/ and the token endpoint, wired into the application.

Repository names contain '/', so /v2/ paths are matched here, from the end, against the
spec's endpoint shapes, on the raw (undecoded) path: a name such as `../x` or `a//b` reaches
the name grammar and gets NAME_INVALID rather than being normalised into something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from acp.auth import token_endpoint
from acp.auth.resolver import Unauthenticated
from acp.auth.throttle import Throttled
from acp.registry import challenge, errors
from acp.registry.handlers import blobs, discovery, manifests, uploads
from acp.registry.handlers.common import (
    API_VERSION,
    API_VERSION_HEADER,
    REGISTRY,
    IncompleteBody,
    Target,
    json_response,
    registry,
    service_name,
    token_realm,
)
from acp.registry.services import Registry, build_registry
from acp.server.context import CONTEXT, context
from acp.server.middleware import request_cluster, set_route_label
from acp.storage import open_blob_store

log = logging.getLogger("acp.registry")

Handler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]

# Tried in order against the path after "/v2/"; `name` is greedy, so it ends at the last
# occurrence of the endpoint keyword.
ENDPOINTS: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r""), {"GET": discovery.api_version, "HEAD": discovery.api_version}),
    (re.compile(r"_catalog"), {"GET": discovery.list_catalog}),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": discovery.list_tags}),
    (
        re.compile(r"(?P<name>.+)/manifests/(?P<arg>[^/]+)"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.get_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), {"POST": uploads.start_upload}),
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)"),
        {
            "GET": uploads.upload_status,
            "PATCH": uploads.append_chunk,
            "PUT": uploads.finish_upload,
            "DELETE": uploads.cancel_upload,
        },
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/(?P<arg>[^/]+)"),
        {"GET": blobs.get_blob, "HEAD": blobs.head_blob, "DELETE": blobs.delete_blob},
    ),
    (re.compile(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)"), {"GET": discovery.list_referrers}),
]

# Metric labels: the endpoint names of the distribution spec, whatever the repository.
ROUTE_LABELS: dict[Handler, str] = {
    discovery.api_version: "/v2/",
    discovery.list_catalog: "/v2/_catalog",
    discovery.list_tags: "/v2/{name}/tags/list",
    manifests.get_manifest: "/v2/{name}/manifests/{reference}",
    manifests.put_manifest: "/v2/{name}/manifests/{reference}",
    manifests.delete_manifest: "/v2/{name}/manifests/{reference}",
    uploads.start_upload: "/v2/{name}/blobs/uploads/",
    uploads.upload_status: "/v2/{name}/blobs/uploads/{reference}",
    uploads.append_chunk: "/v2/{name}/blobs/uploads/{reference}",
    uploads.finish_upload: "/v2/{name}/blobs/uploads/{reference}",
    uploads.cancel_upload: "/v2/{name}/blobs/uploads/{reference}",
    blobs.get_blob: "/v2/{name}/blobs/{digest}",
    blobs.head_blob: "/v2/{name}/blobs/{digest}",
    blobs.delete_blob: "/v2/{name}/blobs/{digest}",
    discovery.list_referrers: "/v2/{name}/referrers/{digest}",
}


def _route(tail: str) -> tuple[dict[str, Handler], Target] | None:
    for pattern, handlers in ENDPOINTS:
        match = pattern.fullmatch(tail)
        if match is not None:
            parts = match.groupdict()
            return handlers, Target(
                unquote(parts.get("name") or ""), unquote(parts.get("arg") or "")
            )
    return None


async def dispatch(request: web.Request) -> web.StreamResponse:
    raw = request.raw_path.split("?", 1)[0]
    tail = raw[len("/v2/") :] if raw.startswith("/v2/") else ""
    try:
        found = _route(tail)
        if found is None:
            raise errors.RegistryError(
                404, errors.UNSUPPORTED, "no such endpoint in the registry API"
            )
        handlers, target = found
        handler = handlers.get(request.method)
        if handler is None:
            raise errors.RegistryError(
                405,
                errors.UNSUPPORTED,
                f"{request.method} is not supported here",
                headers={"Allow": ", ".join(sorted(handlers))},
            )
        set_route_label(request, ROUTE_LABELS.get(handler, "/v2/{other}"))
        response = await handler(request, target)
    except errors.RegistryError as exc:
        response = _error(exc)
    except Unauthenticated as exc:
        cluster = request_cluster(request)
        realm = token_realm(request)
        response = _error(
            errors.RegistryError(
                401,
                errors.UNAUTHORIZED,
                str(exc),
                headers={
                    "WWW-Authenticate": challenge.bearer(
                        realm, service_name(context(request), cluster)
                    )
                },
            )
        )
    except IncompleteBody as exc:
        # The client is most likely gone; if not, it learns why its upload failed.
        log.info("upload body incomplete: %s", exc)
        response = _error(
            errors.RegistryError(400, errors.BLOB_UPLOAD_INVALID, f"the body ended early: {exc}")
        )
    except Throttled as exc:
        response = _error(
            errors.RegistryError(
                429, errors.TOOMANYREQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)}
            )
        )
    if not response.prepared:
        response.headers[API_VERSION_HEADER] = API_VERSION
    return response


def _error(exc: errors.RegistryError) -> web.Response:
    return json_response(exc.body(), exc.status, headers=dict(exc.headers))


# --- upload expiry ---------------------------------------------------------------------------


async def _expire_uploads(app: web.Application) -> None:
    registry_services = app[REGISTRY]
    expiry = app[CONTEXT].settings.upload_expiry_seconds
    interval = min(600.0, max(5.0, expiry / 4))
    # Workers start together; spread their sweeps.
    await asyncio.sleep(random.uniform(1, interval))
    while True:
        try:
            await registry_services.uploads.expire()
        except Exception:
            log.exception("expiring abandoned uploads failed")
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))


_EXPIRY_TASK = web.AppKey("acp_registry_expiry", asyncio.Task[None])


async def _start_expiry(app: web.Application) -> None:
    app[_EXPIRY_TASK] = asyncio.create_task(_expire_uploads(app))


async def _stop_expiry(app: web.Application) -> None:
    task = app[_EXPIRY_TASK]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --- wiring ----------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    """Build the registry services for this worker and add /v2/ and /auth/token."""
    ctx = app[CONTEXT]
    app[REGISTRY] = build_registry(
        db=ctx.db,
        generations=ctx.generations,
        cluster_ids=ctx.cluster_ids,
        audit=ctx.audit,
        store=open_blob_store(str(ctx.settings.blob_dir)),
        manifest_max_bytes=ctx.settings.manifest_max_bytes,
        upload_expiry_seconds=ctx.settings.upload_expiry_seconds,
    )
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    token_endpoint.setup(app)
    app.on_startup.append(_start_expiry)
    app.on_cleanup.append(_stop_expiry)


__all__ = ["Registry", "registry", "setup"]
