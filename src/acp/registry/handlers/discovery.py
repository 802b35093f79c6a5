"""Content discovery: GET /v2/ (API check), tags/list, referrers, _catalog."""

from __future__ import annotations

from aiohttp import web

from acp.registry import access, challenge, manifest_format
from acp.registry.handlers.common import (
    Target,
    authorize,
    caller,
    digest_param,
    json_response,
    next_link,
    page_params,
    registry,
    repository,
    service_name,
    token_realm,
)
from acp.server.context import context
from acp.server.middleware import request_cluster


async def api_version(request: web.Request, _target: Target) -> web.StreamResponse:
    """200 for callers with credentials; without any, the challenge that starts the token
    flow (so `docker login` and friends check the password here)."""
    identity = await caller(request)
    if identity.via == "anonymous":
        raise challenge.refusal(
            identity,
            token_realm(request),
            service_name(context(request), request_cluster(request)),
            None,
        )
    return json_response({})


async def list_tags(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.pull(repo.name))
    n, last = page_params(request)
    page = await registry(request).tags.list(repo, n, last)
    headers = {}
    if page.more and page.names:
        headers["Link"] = next_link(f"/v2/{repo.path}/tags/list", n, page.names[-1])
    return json_response({"name": repo.path, "tags": page.names}, headers=headers)


async def list_referrers(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.pull(repo.name))
    subject = digest_param(target.arg)
    artifact_type = request.query.get("artifactType") or None
    page = await registry(request).referrers.list(
        repo, subject, artifact_type, request.query.get("last") or None
    )
    response = json_response(page.index())
    response.content_type = manifest_format.OCI_INDEX
    if artifact_type is not None:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    if page.next_last is not None:
        extra = {"artifactType": artifact_type} if artifact_type else {}
        response.headers["Link"] = next_link(
            f"/v2/{repo.path}/referrers/{subject}", None, page.next_last, **extra
        )
    return response


async def list_catalog(request: web.Request, _target: Target) -> web.StreamResponse:
    """Repositories in the namespaces where the caller may pull (the others stay unseen)."""
    identity = await caller(request)
    ctx = context(request)
    cluster = request_cluster(request)
    if identity.via == "anonymous" or not access.may_list_catalog(identity):
        raise challenge.refusal(
            identity,
            token_realm(request),
            service_name(ctx, cluster),
            challenge.CATALOG_SCOPE,
            [{"Type": "registry", "Name": "catalog", "Action": "*"}],
        )
    n, last = page_params(request)
    namespaces = await access.pullable_namespaces(ctx.authorizer, identity, cluster)
    page = await registry(request).catalog.list(cluster, namespaces, n, last)
    headers = {}
    if page.more and page.names:
        headers["Link"] = next_link("/v2/_catalog", n, page.names[-1])
    return json_response({"repositories": page.names}, headers=headers)
