"""Blob uploads: POST /v2/<name>/blobs/uploads/ (session, single request, mount), and
PATCH/PUT/GET/DELETE on the upload's location."""

from __future__ import annotations

import re

from aiohttp import web

from acp.registry import access, errors
from acp.registry.handlers.common import (
    Target,
    authorize,
    body_chunks,
    digest_param,
    has_body,
    may,
    registry,
    repository,
)
from acp.registry.repositories import Repo
from acp.registry.uploads import RangeMismatch, StoredBlob, UploadState
from acp.storage import digests

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def _upload_location(repo: Repo, upload_id: str) -> str:
    return f"/v2/{repo.path}/blobs/uploads/{upload_id}"


def _progress(repo: Repo, state: UploadState, status: int) -> web.Response:
    response = web.Response(
        status=status,
        headers={
            "Location": _upload_location(repo, state.id),
            # Inclusive end of what was received; "0-0" also for nothing yet, as clients expect.
            "Range": f"0-{max(state.offset - 1, 0)}",
            "Docker-Upload-UUID": state.id,
        },
    )
    return response


def _created(repo: Repo, blob: StoredBlob) -> web.Response:
    response = web.Response(
        status=201,
        headers={
            "Location": f"/v2/{repo.path}/blobs/{blob.digest}",
            "Docker-Content-Digest": blob.digest,
        },
    )
    return response


def _range_mismatch(repo: Repo, exc: RangeMismatch) -> errors.RegistryError:
    return errors.RegistryError(
        416,
        errors.BLOB_UPLOAD_INVALID,
        f"the chunk must start at byte {exc.offset}; GET the upload location for its status",
        {"offset": exc.offset},
        headers={
            "Location": _upload_location(repo, exc.upload_id),
            "Range": f"0-{max(exc.offset - 1, 0)}",
            "Docker-Upload-UUID": exc.upload_id,
        },
    )


def _chunk_start(request: web.Request) -> int | None:
    """Where a chunk says it starts (Content-Range), checked against its length."""
    header = request.headers.get("Content-Range")
    if header is None:
        return None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise errors.RegistryError(
            400, errors.BLOB_UPLOAD_INVALID, f"malformed Content-Range {header[:100]!r}"
        )
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise errors.RegistryError(
            416, errors.BLOB_UPLOAD_INVALID, "the Content-Range ends before it starts"
        )
    length = request.content_length
    if length is not None and length != end - start + 1:
        raise errors.RegistryError(
            400,
            errors.SIZE_INVALID,
            f"Content-Range covers {end - start + 1} bytes but Content-Length is {length}",
        )
    return start


async def start_upload(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    identity = await authorize(request, access.push(repo.name))
    uploads = registry(request).uploads
    mount = request.query.get("mount")
    if mount is not None:
        digest = digest_param(mount, "mount digest")
        source = _mount_source(request, request.query.get("from"))
        # Without pull permission on the source this is an ordinary upload: the answer must
        # not tell whether the blob exists there.
        if source is not None and await may(request, identity, access.pull(source.name)):
            mounted = await uploads.mount(repo, digest, source)
            if mounted is not None:
                return _created(repo, mounted)
    wanted = request.query.get("digest")
    if wanted is not None:
        stored = await uploads.monolithic(repo, digest_param(wanted), body_chunks(request))
        return _created(repo, stored)
    algorithm = request.query.get("digest-algorithm", digests.DEFAULT_ALGORITHM)
    if algorithm not in digests.ALGORITHMS:
        raise errors.digest_invalid(f"digest algorithm {algorithm[:30]!r} is not supported")
    return _progress(repo, await uploads.start(repo, algorithm), 202)


def _mount_source(request: web.Request, name: str | None) -> Repo | None:
    if not name:
        return None
    try:
        return repository(request, name)
    except errors.RegistryError:
        return None


async def upload_status(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.push(repo.name))
    state = await registry(request).uploads.status(repo, target.arg)
    return _progress(repo, state, 204)


async def append_chunk(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.push(repo.name))
    start = _chunk_start(request)
    try:
        state = await registry(request).uploads.append(
            repo, target.arg, body_chunks(request), start=start
        )
    except RangeMismatch as exc:
        raise _range_mismatch(repo, exc) from exc
    return _progress(repo, state, 202)


async def finish_upload(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.push(repo.name))
    digest = digest_param(request.query.get("digest"))
    body = body_chunks(request) if has_body(request) else None
    start = _chunk_start(request) if body is not None else None
    try:
        stored = await registry(request).uploads.finish(repo, target.arg, digest, body, start=start)
    except RangeMismatch as exc:
        raise _range_mismatch(repo, exc) from exc
    return _created(repo, stored)


async def cancel_upload(request: web.Request, target: Target) -> web.StreamResponse:
    repo = repository(request, target.name)
    await authorize(request, access.push(repo.name))
    await registry(request).uploads.cancel(repo, target.arg)
    return web.Response(status=204)
