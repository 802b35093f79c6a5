"""Zero-copy blob downloads with `Range` support.

aiohttp's FileResponse relies on `loop.sendfile`, which uvloop does not implement, and then
falls back to reading the file through Python in 256 KiB pieces. Here the response headers
go out through aiohttp as usual, and the body goes straight from the page cache to the socket
with sendfile(2), in a thread that waits for the socket with poll(2). The thread works on a
duplicate of the socket's descriptor, so the event loop closing the connection meanwhile can
never make it write to a reused descriptor. TLS connections use a plain read/write loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import select
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

log = logging.getLogger("acp.registry")

# Give up on a client that takes no data for this long.
STALL_SECONDS = 120
FALLBACK_CHUNK = 1024 * 1024
# Bytes per sendfile(2) call. A call for the whole body tells the kernel more is coming
# until the very end; 1 MiB calls measured about 8 % faster over loopback on the reference
# machine (medians of 3 x 7 passes of 1 GiB: about 1,910 against 1,750 MiB/s); 4 MiB calls
# varied between the two.
SENDFILE_CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class BadRange(Exception):
    """A Range header that cannot be satisfied (or parsed)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    # Inclusive, as in Content-Range.
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a `Range` header asks for; None for the whole content.
    Several ranges at once are answered with the whole content (RFC 9110 allows that)."""
    if header is None:
        return None
    header = header.strip()
    if "," in header and header.startswith("bytes="):
        return None
    match = _RANGE.fullmatch(header)
    if match is None:
        raise BadRange(f"malformed Range header {header[:100]!r}")
    first, last = match.groups()
    if not first and not last:
        raise BadRange("a byte range needs a start or a suffix length")
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise BadRange("empty suffix range")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        raise BadRange(f"invalid range: it ends (byte {last}) before it starts (byte {start})")
    if start >= size:
        raise BadRange(f"range starts beyond the {size} bytes of content")
    return ByteRange(start, end)


async def send_file(
    request: web.Request,
    fd: int,
    size: int,
    byte_range: ByteRange | None,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Send `fd` (which this function closes) as the response body."""
    try:
        response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
        offset, count = (byte_range.start, byte_range.length) if byte_range else (0, size)
        if byte_range:
            response.headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
        response.headers["Accept-Ranges"] = "bytes"
        response.content_length = count
        writer = await response.prepare(request)
        assert writer is not None
        if count and request.method != "HEAD":
            try:
                await _send_body(request, writer, fd, offset, count)
            except Exception as exc:
                # Headers are out: nothing more can be said. Drop the connection so the
                # client sees a short body rather than a wrong one.
                if not isinstance(exc, ConnectionError | TimeoutError):
                    log.exception("sending a blob failed")
                if request.transport is not None:
                    request.transport.close()
                return response
        await response.write_eof()
        return response
    finally:
        os.close(fd)


async def _send_body(
    request: web.Request, writer: AbstractStreamWriter, fd: int, offset: int, count: int
) -> None:
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client went away")
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("sslcontext") is not None:
        await _copy(writer, fd, offset, count)
        return
    await _wait_for_empty_buffer(transport)
    await asyncio.to_thread(_sendfile_blocking, sock.fileno(), fd, offset, count)
    # Counted by aiohttp for the access log and metrics, like bytes it wrote itself.
    writer.output_size += count


async def _wait_for_empty_buffer(transport: asyncio.BaseTransport) -> None:
    """The headers must have left the transport's buffer before bytes bypass it."""
    # uvloop's transports do not derive from asyncio.WriteTransport but have its methods.
    buffered = cast(asyncio.WriteTransport, transport).get_write_buffer_size
    for _ in range(STALL_SECONDS * 1000):
        if buffered() == 0:
            return
        if transport.is_closing():
            raise ConnectionResetError("the client went away")
        await asyncio.sleep(0.001)
    raise TimeoutError("the client stopped reading")


def _sendfile_blocking(socket_fd: int, fd: int, offset: int, count: int) -> None:
    # The socket's send buffer is left to TCP's autotuning: a fixed SO_SNDBUF turns it off, and
    # on loopback that held a 1 GiB body to about 55 % of what an autotuned connection carries.
    out = os.dup(socket_fd)
    try:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, count, os.POSIX_FADV_SEQUENTIAL)
        poller = select.poll()
        poller.register(out, select.POLLOUT)
        while count > 0:
            try:
                sent = os.sendfile(out, fd, offset, min(count, SENDFILE_CHUNK))
            except BlockingIOError:
                if not poller.poll(STALL_SECONDS * 1000):
                    raise TimeoutError("the client stopped reading") from None
                continue
            if sent == 0:
                raise ConnectionResetError("the file ended early or the client went away")
            offset += sent
            count -= sent
    finally:
        os.close(out)


async def _copy(writer: AbstractStreamWriter, fd: int, offset: int, count: int) -> None:
    while count > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(count, FALLBACK_CHUNK), offset)
        if not chunk:
            raise ConnectionResetError("the file ended early")
        await writer.write(chunk)
        offset += len(chunk)
        count -= len(chunk)


async def open_file(path: os.PathLike[str] | str) -> int | None:
    """A read-only descriptor for `path`, None if it does not exist."""
    with contextlib.suppress(FileNotFoundError):
        return await asyncio.to_thread(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
    return None
