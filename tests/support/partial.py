"""An HTTP request whose body stops half-way until the test lets it finish: an upload that is
in progress while something else happens (a metrics scrape, a backup)."""

from __future__ import annotations

import base64
import socket
from typing import Any

from tests.support.server import RunningServer


class PartialPatch:
    """A PATCH whose body stops half-way until `finish()` sends the rest."""

    def __init__(
        self, server: RunningServer, location: str, auth: tuple[str, str], data: bytes
    ) -> None:
        credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
        self.head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Authorization: Basic {credentials}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(data)}\r\nContent-Range: 0-{len(data) - 1}\r\n\r\n"
        ).encode()
        self.data = data
        self.sock = socket.create_connection(("127.0.0.1", server.port))

    def __enter__(self) -> Any:
        self.sock.sendall(self.head + self.data[: len(self.data) // 2])
        return self.finish

    def finish(self) -> None:
        self.sock.sendall(self.data[len(self.data) // 2 :])
        status = self.sock.makefile("rb").readline()
        assert status.startswith(b"HTTP/1.1 202"), status

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()
