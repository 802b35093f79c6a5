"""Registry metadata API (`/api/registry/v1` on each cluster's registry endpoint).

What `ac get images` and `ac delete images` talk to:

- `GET  /info`: the cluster this endpoint serves and its registry addresses.
- `GET  /images?namespace=&limit=&continue=`: tagged images in the namespaces the caller may
  pull from (or one namespace), one SQL query per page.
- `DELETE /namespaces/{ns}/repositories/{name}/tags/{tag}[?dryRun=true]`: that tag only.
- `DELETE /namespaces/{ns}/repositories/{name}/manifests/{digest}[?dryRun=true]`: the manifest
  and the tags that pointed at it.

Errors are `{"error": {"code", "message"}}` like the platform API. A caller without permission
in a namespace gets 403 whether or not the namespace or image exists.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from acp import __version__
from acp.auth.http import identify
from acp.auth.identity import Identity
from acp.auth.resolver import Unauthenticated
from acp.auth.throttle import Throttled
from acp.db.engine import touch
from acp.rbac.attributes import (
    Attributes,
    registry_delete_manifest,
    registry_delete_tag,
    registry_list,
    registry_pull,
)
from acp.registry import images
from acp.registry.repositories import generation_key
from acp.server.context import AppContext, context
from acp.server.middleware import request_cluster, request_id

PREFIX = "/api/registry/v1"
API_VERSION = "registry.acp.io/v1"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

LIST_ROLES = "system:image-puller (or view, edit, admin)"
DELETE_ROLES = "system:image-deleter (or edit, admin)"


class MetadataError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except MetadataError as exc:
        status, code, message, headers = exc.status, exc.code, exc.message, exc.headers
    except Unauthenticated as exc:
        status, code, message = 401, "UNAUTHORIZED", str(exc)
        headers = {"WWW-Authenticate": 'Bearer realm="acp"'}
    except Throttled as exc:
        status, code, message = 429, "TOO_MANY_REQUESTS", str(exc)
        headers = {"Retry-After": str(exc.retry_after)}
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def _who(identity: Identity) -> str:
    if identity.is_anonymous:
        return "anonymous requests"
    if sa := identity.service_account():
        return f"ServiceAccount {sa[0]}/{sa[1]}"
    return f"user {identity.username!r}"


def _forbidden(identity: Identity, action: str, namespace: str, roles: str) -> MetadataError:
    if identity.is_anonymous:
        return MetadataError(
            401,
            "UNAUTHORIZED",
            f"log in to {action} in namespace {namespace!r}",
            {"WWW-Authenticate": 'Bearer realm="acp"'},
        )
    return MetadataError(
        403,
        "FORBIDDEN",
        f"{_who(identity)} may not {action} in namespace {namespace!r}: this needs the role "
        f"{roles} bound in that namespace",
    )


def _namespace(value: str) -> str:
    if not images.NAMESPACE_RE.fullmatch(value):
        raise MetadataError(400, "INVALID", f"{value!r} is not a valid namespace name")
    return value


async def _require_namespace(ctx: AppContext, cluster: str, namespace: str) -> None:
    async with ctx.db.read() as conn:
        exists = await images.namespace_exists(conn, ctx.cluster_ids[cluster], namespace)
    if not exists:
        raise MetadataError(
            404,
            "NAMESPACE_NOT_FOUND",
            f"namespace {namespace!r} does not exist in cluster {cluster!r}",
        )


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
        raise MetadataError(400, "INVALID", f"limit must be a number from 1 to {MAX_LIMIT}")
    return int(raw)


def _dry_run(request: web.Request) -> bool:
    raw = request.query.get("dryRun", "")
    if raw.lower() in ("", "false"):
        return False
    if raw.lower() in ("true", "all"):
        return True
    raise MetadataError(400, "INVALID", "dryRun must be true or false")


# --- handlers --------------------------------------------------------------------------------


async def info(request: web.Request) -> web.Response:
    ctx = context(request)
    cluster = request_cluster(request)
    return web.json_response(
        {
            "apiVersion": API_VERSION,
            "kind": "RegistryInfo",
            "cluster": cluster,
            "registryHost": ctx.registry_host(cluster),
            "registryUrl": ctx.registry_url(cluster),
            "registryApiUrl": ctx.registry_url(cluster),
            "serverVersion": __version__,
        }
    )


async def _visible_namespaces(ctx: AppContext, identity: Identity, cluster: str) -> set[str] | None:
    """Namespaces whose images the caller may list: pull or `list images` there."""
    pull = await ctx.authorizer.namespaces_allowing(identity, registry_pull(""), cluster)
    if pull is None:
        return None
    listing = await ctx.authorizer.namespaces_allowing(identity, registry_list(""), cluster)
    if listing is None:
        return None
    return pull | listing


async def list_images(request: web.Request) -> web.Response:
    ctx = context(request)
    cluster = request_cluster(request)
    identity = await identify(request, cluster=cluster)
    limit = _limit(request)
    try:
        after = (
            images.Cursor.decode(request.query["continue"])
            if request.query.get("continue")
            else None
        )
    except images.InvalidCursor as exc:
        raise MetadataError(400, "INVALID", f"{exc}; start again without it") from exc
    namespace = request.query.get("namespace", "")
    namespaces: set[str] | None
    if namespace:
        _namespace(namespace)
        allowed = await ctx.authorizer.allowed(
            identity, registry_pull(namespace), cluster
        ) or await ctx.authorizer.allowed(identity, registry_list(namespace), cluster)
        if not allowed:
            raise _forbidden(identity, "list images", namespace, LIST_ROLES)
        await _require_namespace(ctx, cluster, namespace)
        namespaces = {namespace}
    else:
        namespaces = await _visible_namespaces(ctx, identity, cluster)
    async with ctx.db.read() as conn:
        records, cursor = await images.list_images(
            conn, ctx.cluster_ids[cluster], namespaces, after=after, limit=limit
        )
    return web.json_response(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageList",
            "metadata": {
                "continue": cursor.encode() if cursor else "",
                "cluster": cluster,
                "registryHost": ctx.registry_host(cluster),
            },
            "items": [record.to_api() for record in records],
        }
    )


async def _delete(request: web.Request, *, by_digest: bool) -> web.Response:
    ctx = context(request)
    cluster = request_cluster(request)
    identity = await identify(request, cluster=cluster)
    namespace = _namespace(request.match_info["namespace"])
    name = request.match_info["name"]
    reference = request.match_info["digest" if by_digest else "tag"]
    if not images.REPOSITORY_RE.fullmatch(name):
        raise MetadataError(400, "INVALID", f"{name!r} is not a valid repository name")
    pattern = images.DIGEST_RE if by_digest else images.TAG_RE
    if not pattern.fullmatch(reference):
        what = "digest (sha256:<64 hex>)" if by_digest else "tag"
        raise MetadataError(400, "INVALID", f"{reference!r} is not a valid {what}")
    dry_run = _dry_run(request)
    attrs: Attributes = (registry_delete_manifest if by_digest else registry_delete_tag)(
        namespace, name
    )
    action = "delete images" if by_digest else "delete image tags"
    if not await ctx.authorizer.allowed(identity, attrs, cluster):
        await ctx.audit.record(
            actor=identity.username,
            action="image.delete",
            outcome="denied",
            cluster=cluster,
            namespace=namespace,
            resource=attrs.resource,
            name=f"{name}{'@' if by_digest else ':'}{reference}",
            request_id=request_id(request),
        )
        raise _forbidden(identity, action, namespace, DELETE_ROLES)
    await _require_namespace(ctx, cluster, namespace)
    repository = f"{namespace}/{name}"
    cluster_id = ctx.cluster_ids[cluster]
    try:
        if dry_run:
            async with ctx.db.read() as conn:
                if by_digest:
                    _, plan = await images.plan_manifest_deletion(
                        conn, cluster_id, repository, reference
                    )
                else:
                    _, plan = await images.plan_tag_deletion(
                        conn, cluster_id, repository, reference
                    )
        else:
            async with ctx.db.write() as conn:
                if by_digest:
                    plan = await images.delete_manifest(conn, cluster_id, repository, reference)
                else:
                    plan = await images.delete_tag(conn, cluster_id, repository, reference)
                # The registry's per-worker manifest cache must stop serving what went.
                touch(conn, generation_key(cluster, repository))
                await ctx.audit.record(
                    actor=identity.username,
                    action="image.delete",
                    cluster=cluster,
                    namespace=namespace,
                    resource=attrs.resource,
                    name=f"{name}{'@' if by_digest else ':'}{reference}",
                    request_id=request_id(request),
                    details={"digest": plan.digest, "tags": list(plan.deleted_tags)},
                    conn=conn,
                )
    except images.NotFound as exc:
        raise MetadataError(404, "NOT_FOUND", str(exc)) from exc
    except images.Conflict as exc:
        raise MetadataError(409, "CONFLICT", str(exc)) from exc
    return web.json_response(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageDeletion",
            "dryRun": dry_run,
            "namespace": namespace,
            "repository": name,
            "reference": reference,
            "digest": plan.digest,
            "deletedTags": list(plan.deleted_tags),
            "manifestDeleted": plan.manifest_deleted,
            "remainingTags": list(plan.remaining_tags),
        }
    )


async def delete_tag(request: web.Request) -> web.Response:
    return await _delete(request, by_digest=False)


async def delete_manifest(request: web.Request) -> web.Response:
    return await _delete(request, by_digest=True)


def setup(app: web.Application) -> None:
    api = web.Application(middlewares=[_errors])
    api.router.add_get("/info", info)
    api.router.add_get("/images", list_images)
    base = "/namespaces/{namespace}/repositories/{name:.+}"
    api.router.add_delete(base + "/tags/{tag}", delete_tag)
    api.router.add_delete(base + "/manifests/{digest}", delete_manifest)
    app.add_subapp(PREFIX, api)
