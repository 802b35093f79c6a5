"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from aiohttp import web

from acp.registry import access, errors, manifest_format, names
from acp.registry.handlers.common import (
    Target,
    actor,
    authorize,
    json_response,
    read_body,
    reference,
    registry,
    repository,
)


async def get_manifest(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.pull(repo.name))
    ref = reference(target.arg)
    manifest = await registry(request).manifests.get(repo, ref)
    if ref.tag is not None and not manifest_format.accepts(
        request.headers.getall("Accept", []), manifest.media_type
    ):
        # By digest the client gets exactly what it named; by tag, only what it accepts.
        raise errors.RegistryError(
            404,
            errors.MANIFEST_UNKNOWN,
            f"the manifest is a {manifest.media_type}, which the Accept header leaves out",
            {"reference": ref.value, "mediaType": manifest.media_type},
        )
    response = web.Response(
        body=manifest.body,
        headers={
            "Content-Type": manifest.media_type,
            "Docker-Content-Digest": manifest.digest,
            "ETag": f'"{manifest.digest}"',
        },
    )
    return response


async def put_manifest(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.push(repo.name))
    ref = reference(target.arg)
    extra_tags = request.query.getall("tag", []) if ref.digest is not None else []
    for tag in extra_tags:
        if not names.is_tag(tag):
            raise errors.RegistryError(400, errors.TAG_INVALID, "invalid tag", {"tag": tag[:200]})
    manifests = registry(request).manifests
    body = await read_body(request, manifests.max_bytes)
    pushed = await manifests.put(repo, ref, body, request.headers.get("Content-Type"), extra_tags)
    response = web.Response(
        status=201,
        headers={
            "Location": f"/v2/{repo.path}/manifests/{pushed.digest}",
            "Docker-Content-Digest": pushed.digest,
        },
    )
    if pushed.subject is not None:
        response.headers["OCI-Subject"] = pushed.subject
    if extra_tags:
        response.headers["OCI-Tag"] = ", ".join(pushed.tags)
    return response


async def delete_manifest(request: web.Request, target: Target) -> web.StreamResponse:
    """By tag: that tag only. By digest: the manifest, and the tags that pointed at it."""
    repo = repository(request, target.name)
    ref = reference(target.arg)
    if ref.tag is not None:
        identity = await authorize(request, access.delete_tag(repo.name))
        deleted_tag = await registry(request).tags.delete(repo, ref.tag, actor(request, identity))
        return json_response({"tag": deleted_tag.tag, "digest": deleted_tag.digest}, 202)
    identity = await authorize(request, access.delete_manifest(repo.name))
    assert ref.digest is not None
    deleted = await registry(request).manifests.delete(repo, ref.digest, actor(request, identity))
    return json_response(
        {"digest": deleted.digest, "deletedTags": list(deleted.tags)},
        202,
        headers={"Docker-Content-Digest": deleted.digest},
    )
