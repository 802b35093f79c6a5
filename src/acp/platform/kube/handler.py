"""The Kubernetes-compatible API's request path: authenticate, impersonate, authorise (one
RBAC decision per request, as the Kubernetes API server makes it), then route to discovery,
a stored kind, a subresource or a review."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acp.auth.http import identify
from acp.auth.resolver import Unauthenticated
from acp.auth.throttle import Throttled
from acp.platform.kube import (
    codec,
    discovery,
    errors,
    impersonation,
    openapi,
    patch,
    requestinfo,
    resources,
    reviews,
    schema,
    selectors,
    serviceaccounts,
    store,
    tables,
)
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Qualified
from acp.platform.kube.kinds import Kind
from acp.platform.kube.namespaces import NamespaceKind
from acp.platform.kube.rbac_objects import BindingKind, RoleKind
from acp.platform.kube.serviceaccounts import ServiceAccountKind
from acp.server.context import context
from acp.server.middleware import set_route_label

KINDS: dict[str, Kind] = {
    kind.resource.plural: kind
    for kind in (
        NamespaceKind(),
        ServiceAccountKind(),
        RoleKind(namespaced=True),
        RoleKind(namespaced=False),
        BindingKind(namespaced=True),
        BindingKind(namespaced=False),
    )
}

Review = Callable[[Call, dict[str, Any]], Awaitable[dict[str, Any]]]
REVIEWS: dict[str, Review] = {
    resources.SELF_SUBJECT_ACCESS_REVIEWS.plural: reviews.self_subject_access_review,
    resources.SELF_SUBJECT_RULES_REVIEWS.plural: reviews.self_subject_rules_review,
    resources.SUBJECT_ACCESS_REVIEWS.plural: reviews.subject_access_review,
    resources.SELF_SUBJECT_REVIEWS.plural: reviews.self_subject_review,
    resources.TOKEN_REVIEWS.plural: reviews.token_review,
}


def status_response(exc: errors.KubeError) -> web.Response:
    return web.Response(
        text=json.dumps(exc.status()),
        status=exc.code,
        content_type=codec.JSON,
        headers=exc.headers,
    )


async def serve(request: web.Request) -> web.StreamResponse:
    try:
        return await _serve(request)
    except errors.KubeError as exc:
        return status_response(exc)
    except Unauthenticated as exc:
        return status_response(errors.unauthorized(str(exc)))
    except Throttled as exc:
        return status_response(errors.too_many_requests(str(exc), exc.retry_after))


async def _serve(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    cluster = request.match_info["cluster"]
    if ctx.settings.cluster(cluster) is None or cluster not in ctx.cluster_ids:
        raise errors.path_not_found()
    path = "/" + request.match_info.get("path", "")
    actor = await identify(request, cluster=cluster)
    identity = actor
    if impersonation.requested(request):
        identity = await impersonation.impersonate(request, ctx, actor, cluster)
    info = requestinfo.parse(request.method, path, request.query)
    set_route_label(request, _route_label(info))
    call = Call(request, ctx, cluster, actor, identity, info)
    attrs = info.attributes()
    if not await call.allowed(attrs):
        what = (
            Qualified(info.api_group, info.resource, info.name)
            if info.is_resource_request
            else None
        )
        raise errors.forbidden(what, errors.forbidden_reason(identity.username, attrs))
    if not info.is_resource_request:
        return _non_resource(call)
    return await _resource(call)


def _route_label(info: requestinfo.RequestInfo) -> str:
    """`/kubernetes/{cluster}/rolebindings` and the like; unknown resources share one label so
    that clients cannot create metric series at will."""
    if not info.is_resource_request:
        return "/kubernetes/{cluster}/{discovery}"
    if info.resource not in KINDS and info.resource not in REVIEWS:
        return "/kubernetes/{cluster}/{other}"
    sub = "/token" if info.subresource == "token" else ""
    return f"/kubernetes/{{cluster}}/{info.resource}{sub}"


def _non_resource(call: Call) -> web.StreamResponse:
    if call.request.method not in ("GET", "HEAD"):
        raise errors.method_not_allowed(
            "the server does not allow this method on the requested resource"
        )
    path = call.info.path
    if path == "/openapi/v2" or path.startswith("/openapi/v3"):
        return _openapi(call, path)
    document = discovery.document(path, call.request.host)
    if isinstance(document, str):
        return web.Response(text=document)
    return web.Response(text=json.dumps(document), content_type=codec.JSON)


def _openapi(call: Call, path: str) -> web.StreamResponse:
    if path == "/openapi/v2":
        if openapi.V2_PROTOBUF in call.request.headers.get("Accept", ""):
            return web.Response(
                body=openapi.V2_DOCUMENT_PROTOBUF, content_type=openapi.V2_PROTOBUF_RESPONSE
            )
        return web.Response(text=json.dumps(openapi.V2_DOCUMENT_JSON), content_type=codec.JSON)
    rest = path.removeprefix("/openapi/v3")
    if rest in ("", "/"):
        document = openapi.v3_root(f"/kubernetes/{call.cluster}")
    else:
        found = openapi.v3_document(rest)
        if found is None:
            raise errors.path_not_found()
        document = found
    return web.Response(text=json.dumps(document), content_type=codec.JSON)


# --- resources -------------------------------------------------------------------------------


def _resource_type(info: requestinfo.RequestInfo) -> resources.ResourceType:
    if not resources.served_group_version(info.api_group, info.api_version):
        raise errors.path_not_found()
    if len(info.parts) > 3 or not info.resource:
        raise errors.path_not_found()
    rtype = resources.lookup(info.api_group, info.api_version, info.resource, info.subresource)
    if rtype is None:
        raise errors.path_not_found()
    item = len(info.parts) >= 2
    if info.resource == "namespaces":
        return rtype
    if rtype.namespaced:
        if item and not info.namespace:
            raise errors.path_not_found()
    elif info.namespace:
        raise errors.path_not_found()
    return rtype


def _not_allowed() -> errors.KubeError:
    return errors.method_not_allowed(
        "the server does not allow this method on the requested resource"
    )


async def _resource(call: Call) -> web.StreamResponse:
    info = call.info
    rtype = _resource_type(info)
    verb = info.verb
    item = len(info.parts) >= 2
    if verb == "watch" or verb not in rtype.verbs:
        raise _not_allowed()
    if rtype is resources.SERVICE_ACCOUNT_TOKEN:
        body = await _decode(call, schema.TOKEN_REQUEST, "authentication.k8s.io/v1", "TokenRequest")
        answer = await serviceaccounts.issue_token(call, info.namespace, info.name, body)
        return _render(call, answer, status=201)
    if not rtype.stored:
        if item:
            raise _not_allowed()
        return await _review(call, rtype)
    kind = KINDS[rtype.plural]
    # A Namespace's own requests carry its name as the request's namespace (as in Kubernetes).
    namespace = "" if rtype is resources.NAMESPACES else info.namespace
    if verb == "list":
        return await _list(call, kind, namespace or None)
    if verb == "get":
        obj = await store.get(call, kind, namespace, info.name)
        return _render_objects(call, kind, [obj], single=True)
    if verb == "create":
        if item:
            raise _not_allowed()
        obj = await _decode(call, kind.message, rtype.api_version, rtype.kind)
        created = await store.create(call, kind, obj, namespace)
        return _render(call, created, status=201)
    if verb in ("update", "patch") and not item:
        raise _not_allowed()
    if verb == "update":
        obj = await _decode(call, kind.message, rtype.api_version, rtype.kind)
        create_ok = rtype is not resources.NAMESPACES
        stored, was_created = await store.replace(call, kind, obj, namespace, info.name, create_ok)
        return _render(call, stored, status=201 if was_created else 200)
    if verb == "patch":
        return await _patch(call, kind, namespace)
    if verb == "delete":
        return await _delete(call, kind, namespace)
    if verb == "deletecollection":
        return await _delete_collection(call, kind, namespace)
    raise _not_allowed()


def _render(call: Call, body: dict[str, Any], status: int = 200) -> web.Response:
    output = codec.negotiate(call.request.headers.get("Accept"), tables=False)
    return codec.render(body, output, status, call.warnings)


async def _decode(
    call: Call, message: schema.Message, api_version: str, kind: str
) -> dict[str, Any]:
    raw = await codec.read_body(call.request)
    if not raw.strip():
        raise errors.bad_request("the request body is empty; expected a " + kind)
    decoded = codec.decode_body(raw, call.request.headers.get("Content-Type"))
    _check_type_meta(decoded.obj, api_version, kind)
    decoded = codec.check_fields(decoded, message)
    codec.apply_field_validation(decoded, codec.field_validation(call.query), call.warnings)
    return decoded.obj


def _check_type_meta(obj: dict[str, Any], api_version: str, kind: str) -> None:
    given_version, given_kind = obj.get("apiVersion"), obj.get("kind")
    if given_version not in (None, "") and given_version != api_version:
        raise errors.bad_request(
            f"the API version in the data ({given_version}) does not match the expected API "
            f"version ({api_version})"
        )
    if given_kind not in (None, "") and given_kind != kind:
        if given_kind not in schema.BY_KIND:
            raise errors.bad_request(
                f'no kind "{given_kind}" is registered for version "{api_version}"'
            )
        raise errors.bad_request(
            f"the kind in the data ({given_kind}) does not match the expected kind ({kind})"
        )


async def _review(call: Call, rtype: resources.ResourceType) -> web.StreamResponse:
    message = schema.BY_KIND[rtype.kind]
    review = await _decode(call, message, rtype.api_version, rtype.kind)
    review = {"kind": rtype.kind, "apiVersion": rtype.api_version, **review}
    if rtype is resources.LOCAL_SUBJECT_ACCESS_REVIEWS:
        answer = await reviews.local_subject_access_review(call, review, call.info.namespace)
    else:
        answer = await REVIEWS[rtype.plural](call, review)
    return _render(call, answer, status=201)


# --- lists and tables ------------------------------------------------------------------------


def _page(
    call: Call, items: list[dict[str, Any]], version: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Apply `limit` and `continue`: items after the continue token, at most `limit` of them."""
    meta: dict[str, Any] = {"resourceVersion": str(version)}
    token = call.query.get("continue", "")
    if token:
        start = _decode_continue(token)
        items = [i for i in items if _position(i) > start]
    limit_text = call.query.get("limit", "")
    if limit_text:
        if not limit_text.isdigit():
            raise errors.bad_request(f'invalid limit "{limit_text}"')
        limit = int(limit_text)
        if 0 < limit < len(items):
            meta["continue"] = _encode_continue(_position(items[limit - 1]))
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
    return items, meta


def _position(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _encode_continue(position: tuple[str, str]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    import base64

    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(namespace), str(name)
    except (ValueError, TypeError, RecursionError) as exc:
        raise errors.bad_request("continue key is not valid") from exc


async def _list(call: Call, kind: Kind, namespace: str | None) -> web.StreamResponse:
    items, version = await store.list_all(call, kind, namespace)
    if selector := call.query.get("labelSelector", ""):
        items = [i for i in items if selectors.label_selector(selector)(i)]
    if selector := call.query.get("fieldSelector", ""):
        items = [i for i in items if selectors.field_selector(selector)(i)]
    items, meta = _page(call, items, version)
    return _render_objects(call, kind, items, single=False, list_meta=meta)


def _render_objects(
    call: Call,
    kind: Kind,
    items: list[dict[str, Any]],
    *,
    single: bool,
    list_meta: dict[str, Any] | None = None,
) -> web.Response:
    include = call.query.get("includeObject", "")
    if include not in ("", "None", "Metadata", "Object"):
        raise errors.bad_request(f'includeObject: Unsupported value: "{include}"')
    output = codec.negotiate(
        call.request.headers.get("Accept"), tables=True, include_object=include
    )
    rtype = kind.resource
    meta = list_meta or {}
    if output.format == "table":
        body = tables.table(rtype, items, meta if not single else {}, output.include_object)
    elif output.format == "partial":
        if single:
            body = tables.partial_metadata(items[0])
        else:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [tables.partial_metadata(i) for i in items],
            }
    elif single:
        body = items[0]
    else:
        body = {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": meta,
            # Items of a typed list carry no apiVersion/kind of their own, as in Kubernetes.
            "items": [
                {k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in items
            ],
        }
    return codec.render(body, output, 200, call.warnings)


# --- patch and delete ------------------------------------------------------------------------


async def _patch(call: Call, kind: Kind, namespace: str) -> web.StreamResponse:
    content_type = codec.media_type(call.request.headers.get("Content-Type"))
    if content_type not in codec.PATCH_TYPES:
        raise errors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(codec.PATCH_TYPES)}"
        )
    body = codec.parse_json(await codec.read_body(call.request))
    if content_type != codec.JSON_PATCH and not isinstance(body, dict):
        raise errors.bad_request("a merge patch must be a JSON object")
    mode = codec.field_validation(call.query)

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        if content_type == codec.JSON_PATCH:
            patched = patch.json_patch(current, body)
        elif content_type == codec.MERGE_PATCH:
            patched = patch.merge_patch(current, body)
        else:
            patched = patch.strategic_merge_patch(current, body)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch does not produce an object")
        _check_type_meta(patched, kind.resource.api_version, kind.resource.kind)
        decoded = codec.check_fields(codec.Decoded(patched), kind.message)
        codec.apply_field_validation(decoded, mode, call.warnings)
        return decoded.obj

    stored = await store.patch(call, kind, namespace, call.info.name, apply)
    return _render(call, stored)


async def _delete_options(call: Call) -> dict[str, Any]:
    raw = await codec.read_body(call.request)
    options: dict[str, Any] = {}
    if raw.strip():
        decoded = codec.decode_body(raw, call.request.headers.get("Content-Type"))
        options = codec.check_fields(decoded, schema.DELETE_OPTIONS).obj
    call.body_dry_run = list(options.get("dryRun") or [])
    return options


def _deleted_status(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    details = {
        "name": obj["metadata"]["name"],
        "kind": kind.resource.plural,
        "uid": obj["metadata"]["uid"],
    }
    if kind.resource.group:
        details["group"] = kind.resource.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


async def _delete(call: Call, kind: Kind, namespace: str) -> web.StreamResponse:
    options = await _delete_options(call)
    preconditions = options.get("preconditions") or {}
    deleted = await store.delete(
        call,
        kind,
        namespace,
        call.info.name,
        uid=preconditions.get("uid", ""),
        version=preconditions.get("resourceVersion", ""),
    )
    view = kind.deleted_view(deleted)
    return _render(call, view if view is not None else _deleted_status(kind, deleted))


async def _delete_collection(call: Call, kind: Kind, namespace: str) -> web.StreamResponse:
    await _delete_options(call)
    if not namespace and kind.resource.namespaced:
        raise _not_allowed()
    items, version = await store.list_all(call, kind, namespace or None)
    if selector := call.query.get("labelSelector", ""):
        items = [i for i in items if selectors.label_selector(selector)(i)]
    if selector := call.query.get("fieldSelector", ""):
        items = [i for i in items if selectors.field_selector(selector)(i)]
    deleted = []
    for item in items:
        try:
            deleted.append(await store.delete(call, kind, namespace, item["metadata"]["name"]))
        except errors.KubeError as exc:
            if exc.reason != "NotFound":
                raise
    body = {
        "kind": f"{kind.resource.kind}List",
        "apiVersion": kind.resource.api_version,
        "metadata": {"resourceVersion": str(version)},
        "items": deleted,
    }
    return _render(call, body)
