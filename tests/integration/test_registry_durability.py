"""Durability and worker processes (SQLite and PostgreSQL):

- SIGKILL in the middle of large blob uploads and of manifest PUTs: after a restart nothing
  partial is visible, every acknowledged push is intact, and the client can push again;
- with --workers 2, a chunked upload begun on one worker continues and ends on the other.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.acp_fixtures import DATABASES
from tests.support.platform import Platform
from tests.support.registry_client import (
    OCI_MANIFEST,
    RegistryClient,
    make_image,
    sha256,
)
from tests.support.server import RunningServer, running_server

MiB = 1024 * 1024


@pytest.fixture(params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, database=request.param) as started:
        yield started


def _admin(server: RunningServer) -> RegistryClient:
    return RegistryClient(server.url, basic=("admin", server.admin_password), timeout=120)


class _Stream:
    """A large deterministic body, sent piece by piece; counts what went out."""

    def __init__(self, size: int, seed: bytes) -> None:
        self.size = size
        self.block = hashlib.shake_256(seed).digest(MiB)
        self.sent = 0

    def digest(self) -> str:
        hasher = hashlib.sha256()
        for chunk in self._chunks():
            hasher.update(chunk)
        return "sha256:" + hasher.hexdigest()

    def _chunks(self) -> Iterator[bytes]:
        for index in range(self.size // MiB):
            yield index.to_bytes(8, "big") + self.block[8:]

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks():
            self.sent += len(chunk)
            yield chunk


def _send_in_background(
    client: RegistryClient, method: str, url: str, stream: _Stream, **kw: object
) -> threading.Thread:
    def run() -> None:
        # The server is killed under it.
        with contextlib.suppress(httpx.HTTPError):
            client.request(method, url, content=iter(stream), **kw)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def _namespace(server: RunningServer, name: str) -> None:
    with Platform(server, server.login()) as admin:
        admin.namespace(name)


def test_kill_during_large_blob_uploads(server: RunningServer) -> None:
    ns = f"dur-{uuid.uuid4().hex[:6]}"
    _namespace(server, ns)
    repo = f"{ns}/app"
    earlier = make_image(layers=2, layer_size=2 * MiB)
    with _admin(server) as admin:
        assert admin.push_image(repo, "v1", earlier).status_code == 201
        session = admin.start_upload(repo).headers["Location"]
    chunked = _Stream(128 * MiB, b"chunked")
    single = _Stream(128 * MiB, b"single")
    chunked_digest, single_digest = chunked.digest(), single.digest()
    sender_a, sender_b = _admin(server), _admin(server)
    threads = [
        _send_in_background(
            sender_a, "PATCH", session, chunked, headers={"Content-Length": str(chunked.size)}
        ),
        _send_in_background(
            sender_b,
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={single_digest}",
            single,
            headers={"Content-Length": str(single.size)},
        ),
    ]
    _wait_for(lambda: chunked.sent >= 48 * MiB and single.sent >= 48 * MiB)
    server.kill9()
    for thread in threads:
        thread.join(30)
    sender_a.close()
    sender_b.close()
    server.start()
    with _admin(server) as admin:
        # Nothing partial is visible.
        assert admin.head_blob(repo, chunked_digest).status_code == 404
        assert admin.head_blob(repo, single_digest).status_code == 404
        status = admin.request("GET", session)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-0"
        # Earlier pushes are intact.
        assert admin.manifest(repo, "v1").content == earlier.manifest
        for blob in earlier.blobs:
            assert admin.blob(repo, sha256(blob)).content == blob
        # And the client can push again: the interrupted session, and a new single POST.
        again = _Stream(128 * MiB, b"chunked")
        resumed = admin.request(
            "PATCH", session, content=iter(again), headers={"Content-Length": str(again.size)}
        )
        assert resumed.status_code == 202
        assert resumed.headers["Range"] == f"0-{again.size - 1}"
        assert admin.request("PUT", session, params={"digest": chunked_digest}).status_code == 201
        retry = _Stream(128 * MiB, b"single")
        single_again = admin.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={single_digest}",
            content=iter(retry),
            headers={"Content-Length": str(retry.size)},
        )
        assert single_again.status_code == 201
        for digest in (chunked_digest, single_digest):
            hasher = hashlib.sha256()
            with admin.http.stream("GET", f"/v2/{repo}/blobs/{digest}") as response:
                for piece in response.iter_bytes():
                    hasher.update(piece)
            assert "sha256:" + hasher.hexdigest() == digest


def test_kill_during_manifest_puts(server: RunningServer) -> None:
    ns = f"dur-{uuid.uuid4().hex[:6]}"
    _namespace(server, ns)
    repo = f"{ns}/app"
    image = make_image()
    with _admin(server) as admin:
        assert admin.push_image(repo, "v1", image).status_code == 201
    # A PUT whose body is half sent when the server dies.
    variant = json.loads(image.manifest)
    variant["annotations"] = {"half": "sent"}
    half = json.dumps(variant).encode()
    raw = socket.create_connection(("127.0.0.1", server.port))
    token = f"admin:{server.admin_password}".encode()
    raw.sendall(
        (
            f"PUT /v2/{repo}/manifests/half HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Authorization: Basic {base64.b64encode(token).decode()}\r\n"
            f"Content-Type: {OCI_MANIFEST}\r\nContent-Length: {len(half)}\r\n\r\n"
        ).encode()
        + half[: len(half) // 2]
    )
    # Meanwhile, a steady stream of complete pushes; the kill lands among them.
    acknowledged: list[tuple[str, bytes]] = []
    stop = threading.Event()

    def push_many() -> None:
        with _admin(server) as client:
            for index in range(10_000):
                if stop.is_set():
                    return
                manifest = json.loads(image.manifest)
                manifest["annotations"] = {"n": str(index)}
                body = json.dumps(manifest).encode()
                try:
                    response = client.put_manifest(repo, f"t{index}", body)
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged.append((f"t{index}", body))

    pusher = threading.Thread(target=push_many, daemon=True)
    pusher.start()
    _wait_for(lambda: len(acknowledged) >= 30)
    server.kill9()
    stop.set()
    pusher.join(30)
    raw.close()
    server.start()
    with _admin(server) as admin:
        assert admin.manifest(repo, "half").status_code == 404
        assert admin.manifest(repo, sha256(half)).status_code == 404
        assert admin.manifest(repo, "v1").content == image.manifest
        for tag, body in acknowledged:
            got = admin.manifest(repo, tag)
            assert got.status_code == 200, tag
            assert got.content == body
        # Every tag that exists resolves to a whole manifest (none half-written).
        for tag in admin.tags(repo).json()["tags"]:
            got = admin.manifest(repo, tag)
            assert got.status_code == 200
            assert got.headers["Docker-Content-Digest"] == sha256(got.content)
        assert admin.put_manifest(repo, "half", half).status_code == 201
        assert admin.manifest(repo, "half").content == half


# --- two workers -------------------------------------------------------------------------


def _worker_of(server: RunningServer, request_id: str) -> int:
    """The pid of the worker that served a request, from its access log line."""
    assert server.log_path is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log_path.read_text().splitlines():
            if request_id in line and '"kind": "access"' in line:
                return int(json.loads(line)["pid"])
        time.sleep(0.02)
    raise AssertionError(f"no access log line for request {request_id}")


class _Connection:
    """One keep-alive connection, hence always the same worker."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        credentials = f"admin:{server.admin_password}".encode()
        self.auth = "Basic " + base64.b64encode(credentials).decode()
        self.pid = self.request("GET", "/v2/")[0]

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        request_id = uuid.uuid4().hex
        self.http.request(
            method,
            path,
            body=body,
            headers={"Authorization": self.auth, "X-Request-Id": request_id, **(headers or {})},
        )
        response = self.http.getresponse()
        data = response.read()
        return _worker_of(self.server, request_id), response, data


def _one_connection_per_worker(server: RunningServer) -> tuple[_Connection, _Connection]:
    connections: dict[int, _Connection] = {}
    for _ in range(40):
        connection = _Connection(server)
        connections.setdefault(connection.pid, connection)
        if len(connections) == 2:
            break
    assert len(connections) == 2, "both workers should accept connections"
    first, second = connections.values()
    return first, second


def test_chunked_upload_moves_between_workers(tmp_path: Path) -> None:
    with running_server(tmp_path, database=DATABASES[0], workers=2) as server:
        ns = f"wrk-{uuid.uuid4().hex[:6]}"
        _namespace(server, ns)
        first, second = _one_connection_per_worker(server)
        data = hashlib.shake_256(b"workers").digest(3 * MiB + 17)
        pieces = [data[:MiB], data[MiB : 2 * MiB], data[2 * MiB :]]
        pid, response, _ = first.request("POST", f"/v2/{ns}/app/blobs/uploads/")
        assert response.status == 202
        served_by = [pid]
        location = response.getheader("Location")
        assert location is not None
        offset = 0
        # Alternate: each chunk lands on the other worker than the one before.
        for connection, piece in zip((second, first, second), pieces, strict=True):
            pid, response, body = connection.request(
                "PATCH",
                location,
                piece,
                {"Content-Range": f"{offset}-{offset + len(piece) - 1}"},
            )
            assert response.status == 202, body
            offset += len(piece)
            served_by.append(pid)
        pid, response, body = second.request("PUT", f"{location}?digest={sha256(data)}")
        assert response.status == 201, body
        served_by.append(pid)
        assert served_by == [first.pid, second.pid, first.pid, second.pid, second.pid]
        assert first.pid != second.pid
        pid, response, body = first.request("GET", f"/v2/{ns}/app/blobs/{sha256(data)}")
        assert response.status == 200
        assert body == data


def test_tag_lists_follow_changes_made_on_the_other_worker(tmp_path: Path) -> None:
    """Each worker caches tag lists; a push or a tag delete on one worker shows on the other."""
    with running_server(tmp_path, database=DATABASES[0], workers=2) as server:
        ns = f"tl-{uuid.uuid4().hex[:6]}"
        _namespace(server, ns)
        first, second = _one_connection_per_worker(server)
        path = f"/v2/{ns}/app/tags/list"

        def tags(connection: _Connection) -> list[str]:
            _, response, body = connection.request("GET", path)
            assert response.status == 200, body
            return list(json.loads(body)["tags"])

        with _admin(server) as admin:
            assert admin.push_image(f"{ns}/app", "v1", make_image()).status_code == 201
        assert tags(first) == tags(second) == ["v1"]  # both workers now hold the page
        with _admin(server) as admin:
            assert admin.push_image(f"{ns}/app", "v2", make_image()).status_code == 201
        assert tags(second) == ["v1", "v2"]
        _, response, _ = first.request("DELETE", f"/v2/{ns}/app/manifests/v1")
        assert response.status == 202
        assert tags(second) == tags(first) == ["v2"]


def test_a_password_verified_on_one_worker_is_shared_and_ends_everywhere(
    tmp_path: Path,
) -> None:
    """Workers share recently verified passwords; a password change or a disabled account
    ends that at once on every worker."""
    with running_server(tmp_path, database=DATABASES[0], workers=2) as server:
        with Platform(server, server.login()) as admin:
            admin.user("erin", "erin-password-1")
        first, second = _one_connection_per_worker(server)

        def status(connection: _Connection, password: str) -> int:
            credentials = base64.b64encode(f"erin:{password}".encode()).decode()
            connection.auth = f"Basic {credentials}"
            return connection.request("GET", "/v2/")[1].status

        assert status(first, "erin-password-1") == 200
        assert status(second, "erin-password-1") == 200
        assert status(second, "wrong-password-1") == 401
        with server.client(server.login()) as api:
            changed = api.put("/api/v1/users/erin/password", json={"password": "erin-password-2"})
            assert changed.status_code == 204, changed.text
        assert status(first, "erin-password-1") == 401
        assert status(second, "erin-password-1") == 401
        assert status(first, "erin-password-2") == 200
        assert status(second, "erin-password-2") == 200
        with server.client(server.login()) as api:
            disabled = api.patch("/api/v1/users/erin", json={"disabled": True})
            assert disabled.status_code == 200, disabled.text
        assert status(first, "erin-password-2") == 401
        assert status(second, "erin-password-2") == 401
