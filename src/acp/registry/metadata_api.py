"""Registry metadata API (`/api/registry/v1` on each cluster's registry endpoint).

What `ac get images` and `ac delete images` talk to:

- `GET  /info`: the cluster this endpoint serves and its registry addresses.
- `GET  /images?namespace=&limit=&continue=`: tagged images in the namespaces the caller may
  pull from (or one namespace), one SQL query per page (`Inventory.list_images`).
- `DELETE /namespaces/{ns}/repositories/{name}/tags/{tag}[?dryRun=true]`: that tag only.
- `DELETE /namespaces/{ns}/repositories/{name}/manifests/{digest}[?dryRun=true]`: the manifest
  and the tags that pointed at it.

Errors are `{"error": {"code", "message"}}` like the platform API. A caller without permission
in a namespace gets 403 whether or not the namespace or image exists.

The handlers only translate: listing and deleting are the OCI registry's own services
(`acp.registry.routes.registry(request)`), so a tag deleted here is gone for OCI clients at
once, with the same audit record and cache invalidation as a `DELETE /v2/…/manifests/<tag>`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from acp import __version__
from acp.auth.http import identify
from acp.auth.identity import Identity
from acp.db.objects import kube_time
from acp.rbac.attributes import registry_list
from acp.registry import access, errors, names
from acp.registry.actor import Actor
from acp.registry.inventory import ImageRecord
from acp.registry.routes import registry
from acp.server.api_errors import CHALLENGE, ApiError, error_middleware
from acp.server.context import AppContext, context
from acp.server.middleware import request_cluster, request_id
from acp.storage import digests

PREFIX = "/api/registry/v1"
API_VERSION = "registry.acp.io/v1"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

LIST_ROLES = "system:image-puller (or view, edit, admin)"
DELETE_ROLES = "system:image-deleter (or edit, admin)"


def _who(identity: Identity) -> str:
    if identity.is_anonymous:
        return "anonymous requests"
    if sa := identity.service_account():
        return f"ServiceAccount {sa[0]}/{sa[1]}"
    return f"user {identity.username!r}"


def _forbidden(identity: Identity, action: str, namespace: str, roles: str) -> ApiError:
    if identity.is_anonymous:
        return ApiError(
            401,
            "UNAUTHORIZED",
            f"log in to {action} in namespace {namespace!r}",
            dict(CHALLENGE),
        )
    return ApiError(
        403,
        "FORBIDDEN",
        f"{_who(identity)} may not {action} in namespace {namespace!r}: this needs the role "
        f"{roles} bound in that namespace",
    )


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID", message)


def _namespace(value: str) -> str:
    if not names.NAMESPACE_RE.fullmatch(value):
        raise _invalid(f"{value!r} is not a valid namespace name")
    return value


async def _require_namespace(request: web.Request, cluster: str, namespace: str) -> None:
    if not await registry(request).repositories.namespace_exists(cluster, namespace):
        raise ApiError(
            404,
            "NAMESPACE_NOT_FOUND",
            f"namespace {namespace!r} does not exist in cluster {cluster!r}",
        )


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
        raise _invalid(f"limit must be a number from 1 to {MAX_LIMIT}")
    return int(raw)


def _dry_run(request: web.Request) -> bool:
    raw = request.query.get("dryRun", "")
    if raw.lower() in ("", "false"):
        return False
    if raw.lower() in ("true", "all"):
        return True
    raise _invalid("dryRun must be true or false")


# --- continue tokens: the (repository, tag) a page ended at ----------------------------------


def encode_continue(after: tuple[str, str]) -> str:
    raw = json.dumps(list(after), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, str]:
    """Raises ApiError for a token this server did not hand out."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        value = None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
        and "/" in value[0]
    ):
        raise _invalid("the continue token is not valid; start again without it")
    return value[0], value[1]


def image_item(record: ImageRecord) -> dict[str, Any]:
    return {
        "namespace": record.namespace,
        # The path inside the namespace: "my-app" of "my-ns/my-app".
        "repository": record.repository[len(record.namespace) + 1 :],
        "tag": record.tag,
        "digest": record.digest,
        "mediaType": record.media_type,
        "size": record.size,
        "created": kube_time(record.created),
        # When the tag was last pointed at this digest.
        "tagged": kube_time(record.tagged),
        "platforms": list(record.platforms),
    }


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
    """Namespaces whose images the caller may list (None: every one): where it may pull, as
    the OCI registry decides it (public namespaces included), or `list images`."""
    pull = await access.pullable_namespaces(ctx.authorizer, identity, cluster)
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
    token = request.query.get("continue", "")
    after = decode_continue(token) if token else None
    namespace = request.query.get("namespace", "")
    visible = await _visible_namespaces(ctx, identity, cluster)
    namespaces: set[str] | None = visible
    if namespace:
        _namespace(namespace)
        if visible is not None and namespace not in visible:
            raise _forbidden(identity, "list images", namespace, LIST_ROLES)
        await _require_namespace(request, cluster, namespace)
        namespaces = {namespace}
    page = await registry(request).inventory.list_images(
        cluster, namespaces, limit=limit, after=after
    )
    return web.json_response(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageList",
            "metadata": {
                "continue": encode_continue(page.next_after) if page.next_after else "",
                "cluster": cluster,
                "registryHost": ctx.registry_host(cluster),
            },
            "items": [image_item(record) for record in page.items],
        }
    )


def _target(request: web.Request, *, by_digest: bool) -> tuple[names.RepositoryName, str]:
    """The repository and the tag or digest named by the path; 400 when malformed."""
    namespace = _namespace(request.match_info["namespace"])
    name = request.match_info["name"]
    try:
        repository = names.parse_repository(f"{namespace}/{name}")
    except names.InvalidName as exc:
        raise _invalid(f"{name!r} is not a valid repository name: {exc}") from exc
    reference = request.match_info["digest" if by_digest else "tag"]
    if by_digest:
        try:
            digests.parse(reference)
        except digests.DigestError as exc:
            raise _invalid(f"{reference!r} is not a valid digest: {exc}") from exc
    elif not names.is_tag(reference):
        raise _invalid(f"{reference!r} is not a valid tag")
    return repository, reference


async def _delete(request: web.Request, *, by_digest: bool) -> web.Response:
    ctx = context(request)
    cluster = request_cluster(request)
    identity = await identify(request, cluster=cluster)
    repository, reference = _target(request, by_digest=by_digest)
    namespace = repository.namespace
    dry_run = _dry_run(request)
    need = (access.delete_manifest if by_digest else access.delete_tag)(repository)
    shown = f"{repository.path}{'@' if by_digest else ':'}{reference}"
    if not await access.allowed(ctx.authorizer, identity, cluster, need):
        await ctx.audit.record(
            actor=identity.username,
            action="registry.manifest.delete" if by_digest else "registry.tag.delete",
            outcome="denied",
            cluster=cluster,
            namespace=namespace,
            resource=need.attributes.resource,
            name=shown[len(namespace) + 1 :],
            request_id=request_id(request),
        )
        action = "delete images" if by_digest else "delete image tags"
        raise _forbidden(identity, action, namespace, DELETE_ROLES)
    await _require_namespace(request, cluster, namespace)
    services = registry(request)
    repo = services.repositories.repo(cluster, repository)
    actor = Actor(identity.username, request_id(request))
    remaining: tuple[str, ...] = ()
    try:
        if by_digest:
            manifest = await services.manifests.delete(repo, reference, actor, dry_run=dry_run)
            digest, deleted_tags = manifest.digest, manifest.tags
        else:
            tag = await services.tags.delete(repo, reference, actor, dry_run=dry_run)
            digest, deleted_tags, remaining = tag.digest, (tag.tag,), tag.siblings
    except errors.RegistryError as exc:
        if exc.status != 404:
            raise
        raise ApiError(404, "NOT_FOUND", f"{shown} does not exist") from exc
    return web.json_response(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageDeletion",
            "dryRun": dry_run,
            "namespace": namespace,
            "repository": repository.name,
            "reference": reference,
            "digest": digest,
            "deletedTags": list(deleted_tags),
            "manifestDeleted": by_digest,
            "remainingTags": list(remaining),
        }
    )


async def delete_tag(request: web.Request) -> web.Response:
    return await _delete(request, by_digest=False)


async def delete_manifest(request: web.Request) -> web.Response:
    return await _delete(request, by_digest=True)


def setup(app: web.Application) -> None:
    api = web.Application(middlewares=[error_middleware()])
    api.router.add_get("/info", info)
    api.router.add_get("/images", list_images)
    base = "/namespaces/{namespace}/repositories/{name:.+}"
    api.router.add_delete(base + "/tags/{tag}", delete_tag)
    api.router.add_delete(base + "/manifests/{digest}", delete_manifest)
    app.add_subapp(PREFIX, api)
