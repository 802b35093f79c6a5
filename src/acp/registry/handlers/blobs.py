"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

from aiohttp import web

from acp.registry import access, errors
from acp.registry.handlers.common import (
    API_VERSION,
    API_VERSION_HEADER,
    Target,
    actor,
    authorize,
    digest_param,
    registry,
    repository,
)
from acp.registry.sendfile import BadRange, open_file, parse_range, send_file
from acp.storage.base import LocalBlob


def _headers(digest: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        # Content-addressed: the bytes behind a digest never change.
        "Cache-Control": "max-age=31536000",
        "ETag": f'"{digest}"',
        # Set here: these responses are sent before the dispatcher could add it.
        API_VERSION_HEADER: API_VERSION,
    }


async def head_blob(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.pull(repo.name))
    digest = digest_param(target.arg)
    size = await registry(request).blobs.size(repo, digest)
    if size is None:
        raise errors.blob_unknown(digest)
    # A StreamResponse, because a Response would compute Content-Length from its (empty) body.
    response = web.StreamResponse(
        status=200, headers={**_headers(digest), "Accept-Ranges": "bytes"}
    )
    response.content_length = size
    await response.prepare(request)
    await response.write_eof()
    return response


async def get_blob(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.pull(repo.name))
    digest = digest_param(target.arg)
    location = await registry(request).blobs.locate(repo, digest)
    if not isinstance(location, LocalBlob):
        raise web.HTTPTemporaryRedirect(location.url, headers=_headers(digest))
    try:
        byte_range = parse_range(request.headers.get("Range"), location.size)
    except BadRange as exc:
        raise errors.RegistryError(
            416,
            errors.UNSUPPORTED,
            f"range not satisfiable: {exc}",
            headers={"Content-Range": f"bytes */{location.size}"},
        ) from exc
    fd = await open_file(location.path)
    if fd is None:
        raise errors.blob_unknown(digest)
    return await send_file(request, fd, location.size, byte_range, _headers(digest))


async def delete_blob(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    identity = await authorize(request, access.delete_manifest(repo.name))
    digest = digest_param(target.arg)
    await registry(request).blobs.delete(repo, digest, actor(request, identity))
    return web.Response(status=202, headers={"Docker-Content-Digest": digest})
