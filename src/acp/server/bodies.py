"""Reading a small request body whole, with a size limit."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def read_limited(
    request: web.Request, limit: int, too_large: Callable[[], Exception]
) -> bytes:
    """The whole body, however many pieces it arrives in; raises `too_large()` beyond `limit`
    bytes, before reading anything when Content-Length already says so."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    parts: list[bytes] = []
    size = 0
    while True:
        # `read(n)` answers with what has arrived so far: read on until the end of the body.
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large()
    request["bytes_in"] = size
    return b"".join(parts)
