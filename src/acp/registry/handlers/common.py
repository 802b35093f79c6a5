"""What every registry handler shares: the services, the caller, permission checks, request
parsing and response headers."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from acp.auth.http import identify
from acp.auth.identity import Identity
from acp.registry import access, challenge, errors, names
from acp.registry.actor import Actor
from acp.registry.repositories import Repo
from acp.registry.services import Registry
from acp.server.bodies import read_limited
from acp.server.context import AppContext, context
from acp.server.middleware import request_cluster, request_id
from acp.storage import digests

REGISTRY = web.AppKey("acp_registry", Registry)
API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"


@dataclass(frozen=True)
class Target:
    """The parts of a /v2/ path: repository name and what follows it."""

    name: str = ""
    # A reference, digest or upload id, depending on the endpoint.
    arg: str = ""


def registry(request: web.Request) -> Registry:
    return request.config_dict[REGISTRY]


def service_name(ctx: AppContext, cluster: str) -> str:
    """The token `service` (audience) of a cluster's registry: its host:port."""
    return ctx.registry_host(cluster)


_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def valid_host_header(value: str) -> bool:
    """Whether `value` is `host[:port]`: a host name, an IPv4 address or an [IPv6] address,
    with an optional numeric port."""
    port: str | None
    if value.startswith("["):
        address, bracket, rest = value[1:].partition("]")
        if not bracket or "%" in address or (rest and not rest.startswith(":")):
            return False
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return False
        port = rest[1:] if rest else None
    else:
        host, colon, after = value.partition(":")
        labels = host.removesuffix(".").split(".")
        if len(host) > 253 or not all(_HOSTNAME.fullmatch(label) for label in labels):
            return False
        port = after if colon else None
    return port is None or (
        port.isascii() and port.isdigit() and 0 < len(port) <= 5 and int(port) <= 65535
    )


def token_realm(request: web.Request) -> str:
    """Where clients get registry tokens: the public URL if one is set, else the host the
    client asked for (when it is a plain host[:port]), else this listener's address."""
    ctx = context(request)
    base = ctx.registry_url(request_cluster(request))
    if not ctx.settings.public_url:
        host = request.headers.get("Host", "")
        if valid_host_header(host):
            base = f"{request.scheme}://{host}"
    return f"{base}/auth/token"


async def caller(request: web.Request) -> Identity:
    cluster = request_cluster(request)
    return await identify(
        request, cluster=cluster, registry_service=service_name(context(request), cluster)
    )


async def authorize(request: web.Request, need: access.Need) -> Identity:
    """The caller, if it has `need`; the refusal the token protocol prescribes otherwise."""
    identity = await caller(request)
    cluster = request_cluster(request)
    if not await access.allowed(context(request).authorizer, identity, cluster, need):
        raise challenge.refusal(
            identity,
            token_realm(request),
            service_name(context(request), cluster),
            challenge.repository_scope(need),
            challenge.access_detail(need),
        )
    return identity


async def may(request: web.Request, identity: Identity, need: access.Need) -> bool:
    return await access.allowed(
        context(request).authorizer, identity, request_cluster(request), need
    )


def repository(request: web.Request, raw_name: str) -> Repo:
    try:
        name = names.parse_repository(raw_name)
    except names.InvalidName as exc:
        if request.method == "HEAD":
            # A HEAD answer has no body to explain a 400, and clients (podman, skopeo) stop
            # on it with a bare "400 Bad Request". "Not here" lets them go on to the POST or
            # GET whose NAME_INVALID message they do show.
            raise errors.RegistryError(404, errors.NAME_UNKNOWN, str(exc)) from exc
        raise errors.name_invalid(str(exc)) from exc
    return registry(request).repositories.repo(request_cluster(request), name)


def actor(request: web.Request, identity: Identity) -> Actor:
    return Actor(identity.username, request_id(request))


def digest_param(value: str | None, what: str = "digest") -> str:
    if not value:
        raise errors.digest_invalid(f"the {what} is missing")
    try:
        digests.parse(value)
    except digests.DigestError as exc:
        raise errors.digest_invalid(str(exc), value[:200]) from exc
    return value


def reference(value: str) -> names.Reference:
    try:
        return names.parse_reference(value)
    except names.InvalidReference as exc:
        if exc.is_digest:
            raise errors.digest_invalid(str(exc), value[:200]) from exc
        raise errors.RegistryError(400, errors.TAG_INVALID, str(exc), {"tag": value[:200]}) from exc


def page_params(request: web.Request) -> tuple[int | None, str | None]:
    """`n` and `last` of a paginated listing."""
    raw_n = request.query.get("n")
    n = None
    if raw_n is not None:
        if not raw_n.isdigit() or len(raw_n) > 9:
            raise errors.RegistryError(
                400, errors.UNSUPPORTED, "n must be a non-negative integer", {"n": raw_n[:20]}
            )
        n = int(raw_n)
    return n, request.query.get("last") or None


def next_link(path: str, n: int | None, last: str, **extra: str) -> str:
    query = [f"{key}={quote(value, safe='')}" for key, value in extra.items()]
    if n is not None:
        query.append(f"n={n}")
    query.append(f"last={quote(last, safe='')}")
    return f'<{path}?{"&".join(query)}>; rel="next"'


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def has_body(request: web.Request) -> bool:
    if request.content_length is not None:
        return request.content_length > 0
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


# An upload whose client sends nothing for this long ends (and frees its upload).
BODY_STALL_SECONDS = 120


class IncompleteBody(ConnectionError):
    """The client sent fewer bytes than it announced, or stopped sending."""


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives, in the pieces the network delivers (no copies)."""
    content = request.content
    if hasattr(content, "set_read_chunk_size"):  # aiohttp >= 3.12
        # Larger buffers: fewer, bigger pieces, and fewer pauses of the socket.
        content.set_read_chunk_size(1024 * 1024)
    received = 0
    try:
        while True:
            try:
                async with asyncio.timeout(BODY_STALL_SECONDS):
                    chunk, end_of_http_chunk = await content.readchunk()
            except TimeoutError:
                raise IncompleteBody(
                    f"no data for {BODY_STALL_SECONDS} s after {received} bytes"
                ) from None
            except (ConnectionError, HttpProcessingError) as exc:
                # The client hung up or broke the framing part-way.
                raise IncompleteBody(f"{exc} after {received} bytes") from None
            if not chunk:
                # An empty piece marks the end of a transfer-encoding chunk, or of the body.
                # (A request without a body always answers "end of chunk": check for EOF.)
                if end_of_http_chunk and not content.at_eof():
                    continue
                break
            received += len(chunk)
            yield chunk
    finally:
        request["bytes_in"] = received
    if request.content_length is not None and received != request.content_length:
        raise IncompleteBody(f"received {received} of {request.content_length} bytes")


async def read_body(request: web.Request, limit: int) -> bytes:
    """A small body, whole; 413 beyond `limit` bytes."""
    return await read_limited(
        request,
        limit,
        lambda: errors.manifest_invalid(f"the body is larger than the {limit} byte limit", 413),
    )
