"""A small blocking registry client tuned so that it is not the bottleneck.

Uploads go out with sendfile(2) from a page-cached file, downloads land with recv_into(2) in a
preallocated buffer, and every request travels on one keep-alive HTTP/1.1 connection.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# What containerd and skopeo send; Distribution answers 404 for an OCI manifest without it.
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
OCTET = "application/octet-stream"


class RegistryError(RuntimeError):
    """A registry answered something other than what the workload needs."""

    def __init__(self, what: str, status: int, body: bytes = b"") -> None:
        text = body[:300].decode("utf-8", "replace").strip()
        super().__init__(f"{what}: HTTP {status} {text}".rstrip())
        self.status = status


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic_auth(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def location_path(location: str) -> str:
    """Path and query of a Location header, which may be absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(path: str, **params: str) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection to a registry, with a fixed Authorization header."""

    def __init__(
        self, host: str, port: int, authorization: str | None = None, timeout: float = 600.0
    ) -> None:
        self.host = host
        self.port = port
        self.authorization = authorization
        self._http = http.client.HTTPConnection(host, port, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, extra: dict[str, str] | None, auth: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        if auth and self.authorization:
            headers["Authorization"] = self.authorization
        if extra:
            headers.update(extra)
        return headers

    def _finish(self) -> Response:
        resp = self._http.getresponse()
        body = resp.read()
        return Response(resp.status, resp.headers, body)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
    ) -> Response:
        hdrs = self._headers(headers, auth)
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        self._http.request(method, path, body=body, headers=hdrs)
        return self._finish()

    def send_file(
        self,
        method: str,
        path: str,
        file: BinaryIO,
        offset: int,
        count: int,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send `count` bytes of `file` from `offset` as the body, zero-copy."""
        conn = self._http
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in self._headers(headers, True).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(count))
        conn.endheaders()
        assert conn.sock is not None
        try:
            conn.sock.sendfile(file, offset, count)
        except OSError as exc:
            # A server that rejects early closes the socket mid-body; its answer says why.
            try:
                resp = self._finish()
            except (OSError, http.client.HTTPException):
                raise exc from None
            what = f"{method} {path} (body cut short)"
            raise RegistryError(what, resp.status, resp.body) from exc
        return self._finish()

    def get_into(
        self, path: str, buf: memoryview, headers: dict[str, str] | None = None
    ) -> tuple[Response, int]:
        """GET a body straight into `buf`; returns the response (without body) and its size."""
        self._http.request("GET", path, headers=self._headers(headers, True))
        resp = self._http.getresponse()
        if resp.status != 200:
            raise RegistryError(f"GET {path}", resp.status, resp.read())
        # The body is read on a blocking socket, as the loopback limit is measured: with a
        # Python-level timeout every recv is preceded by a poll(2), which costs the client
        # about a third of its throughput at GiB/s. SO_RCVTIMEO keeps a stalled server from
        # hanging the run (the read then fails).
        sock = self._http.sock
        timeout = sock.gettimeout()
        sock.settimeout(None)
        seconds = int(timeout or 600)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, 0))
        try:
            filled = 0
            while filled < len(buf):
                n = resp.readinto(buf[filled:])
                if not n:
                    break
                filled += n
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
            sock.settimeout(timeout)
        if resp.read(1):
            raise RegistryError(f"GET {path} returned more than {len(buf)} bytes", resp.status)
        return Response(resp.status, resp.headers, b""), filled


def expect(resp: Response, what: str, *statuses: int) -> Response:
    if resp.status not in statuses:
        raise RegistryError(what, resp.status, resp.body)
    return resp


# --- registry operations -------------------------------------------------------------------


def start_upload(conn: Connection, repo: str) -> str:
    resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/"), f"POST upload {repo}", 202)
    location = resp.header("Location")
    if not location:
        raise RegistryError(f"POST upload {repo}: no Location header", resp.status)
    return location_path(location)


def _check_committed(resp: Response, what: str, digest: str) -> None:
    expect(resp, what, 201)
    got = resp.header("Docker-Content-Digest")
    if got and got != digest:
        raise RegistryError(f"{what}: server computed {got}, expected {digest}", resp.status)


def upload_monolithic(conn: Connection, repo: str, file: BinaryIO, size: int, digest: str) -> None:
    """POST then PUT with the whole body (what containerd and skopeo do)."""
    location = start_upload(conn, repo)
    resp = conn.send_file(
        "PUT", with_query(location, digest=digest), file, 0, size, {"Content-Type": OCTET}
    )
    _check_committed(resp, f"PUT blob {repo}", digest)


def upload_chunked(
    conn: Connection, repo: str, file: BinaryIO, size: int, digest: str, chunk: int
) -> None:
    """POST, one PATCH per chunk, then PUT without body (what docker does)."""
    location = start_upload(conn, repo)
    offset = 0
    while offset < size:
        count = min(chunk, size - offset)
        headers = {"Content-Type": OCTET, "Content-Range": f"{offset}-{offset + count - 1}"}
        resp = conn.send_file("PATCH", location, file, offset, count, headers)
        expect(resp, f"PATCH blob {repo} at {offset}", 202)
        location = location_path(resp.header("Location") or location)
        offset += count
    resp = conn.request("PUT", with_query(location, digest=digest), b"", {"Content-Type": OCTET})
    _check_committed(resp, f"PUT blob {repo} (close chunked upload)", digest)


def blob_exists(conn: Connection, repo: str, digest: str) -> bool:
    resp = conn.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    return expect(resp, f"HEAD blob {repo}", 200, 404).status == 200


def push_blob(conn: Connection, repo: str, data: bytes, *, check: bool = True) -> str:
    """Push a small blob the way clients do: HEAD, then POST and PUT if it is missing."""
    digest = sha256_digest(data)
    if check and blob_exists(conn, repo, digest):
        return digest
    location = start_upload(conn, repo)
    resp = conn.request("PUT", with_query(location, digest=digest), data, {"Content-Type": OCTET})
    _check_committed(resp, f"PUT blob {repo}", digest)
    return digest


def mount_blob(conn: Connection, repo: str, data: bytes, from_repo: str) -> str:
    """Cross-repository mount; falls back to an upload when the registry declines."""
    digest = sha256_digest(data)
    path = with_query(f"/v2/{repo}/blobs/uploads/", mount=digest, **{"from": from_repo})
    resp = expect(conn.request("POST", path), f"POST mount {repo}", 201, 202)
    if resp.status == 202:
        location = location_path(resp.header("Location") or "")
        put = with_query(location, digest=digest)
        resp = conn.request("PUT", put, data, {"Content-Type": OCTET})
        _check_committed(resp, f"PUT blob {repo}", digest)
    return digest


def put_manifest(
    conn: Connection, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
) -> str:
    digest = sha256_digest(body)
    resp = conn.request(
        "PUT", f"/v2/{repo}/manifests/{reference}", body, {"Content-Type": media_type}
    )
    _check_committed(resp, f"PUT manifest {repo}:{reference}", digest)
    return digest


# --- Docker token protocol -----------------------------------------------------------------

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def fetch_bearer(host: str, port: int, basic: str, scopes: list[str]) -> str:
    """Log in like an OCI client: read the challenge on /v2/, then ask the realm for a token."""
    with Connection(host, port) as conn:
        resp = conn.request("GET", "/v2/", auth=False)
        challenge = resp.header("WWW-Authenticate") or ""
    scheme, params = parse_challenge(challenge)
    if resp.status != 401 or scheme != "bearer" or "realm" not in params:
        raise RegistryError(f"GET /v2/ gave no Bearer challenge ({challenge!r})", resp.status)
    realm = urlsplit(params["realm"])
    query: list[tuple[str, str]] = []
    if "service" in params:
        query.append(("service", params["service"]))
    query.extend(("scope", scope) for scope in scopes)
    path = realm.path + "?" + urlencode(query)
    with Connection(realm.hostname or host, realm.port or port, basic) as conn:
        token_resp = expect(conn.request("GET", path), "GET token", 200)
    payload = token_resp.json()
    token = payload.get("token") or payload.get("access_token")
    if not token:
        raise RegistryError("token endpoint answered without a token", token_resp.status)
    return str(token)
