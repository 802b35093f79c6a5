"""A stand-in for acp-server that honours the contract the benchmark relies on, in memory.

`fake_acp_server.py --listen HOST:PORT --data-dir DIR`: /healthz, namespace creation with Basic
admin credentials, /v2 with Basic or Bearer (401 Bearer challenge otherwise), /auth/token, and
the registry endpoints the workloads use. It exists to test the harness, not to be fast.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
BLOBS: dict[str, bytes] = {}
REPO_BLOBS: dict[str, set[str]] = {}
MANIFESTS: dict[str, dict[str, bytes]] = {}
TAGS: dict[str, dict[str, str]] = {}
UPLOADS: dict[str, bytearray] = {}
TOKENS: set[str] = set()
NAMESPACES: set[str] = set()

ROUTES = [
    re.compile(r"^/v2/(?P<name>.+)/(?P<kind>blobs/uploads)/(?P<rest>[^/]*)$"),
    re.compile(r"^/v2/(?P<name>.+)/(?P<kind>blobs|manifests)/(?P<rest>[^/]+)$"),
    re.compile(r"^/v2/(?P<name>.+)/(?P<kind>tags)/(?P<rest>list)$"),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this each response waits ~40 ms.
    disable_nagle_algorithm = True
    password = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    # --- plumbing ------------------------------------------------------------------------

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        if (
            self.request_version == "HTTP/1.0"
            and "keep-alive" in self.headers.get("Connection", "").lower()
        ):
            all_headers["Connection"] = "keep-alive"
        for name, value in all_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def basic_ok(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        return user == "admin" and pw == self.password

    def authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return self.basic_ok() or (auth.startswith("Bearer ") and auth[7:] in TOKENS)

    def challenge(self) -> None:
        host = f"127.0.0.1:{self.server.server_address[1]}"
        self.reply(
            401,
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            {"WWW-Authenticate": f'Bearer realm="http://{host}/auth/token",service="{host}"'},
        )

    # --- methods -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self.dispatch()

    def do_HEAD(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":
            return self.reply(200, b"ok")
        if url.path == "/kubernetes/global/api/v1/namespaces" and self.command == "POST":
            if not self.basic_ok():
                return self.reply(401)
            NAMESPACES.add(json.loads(self.body())["metadata"]["name"])
            return self.reply(201, b"{}")
        if url.path == "/auth/token":
            if not self.basic_ok():
                return self.reply(401)
            token = secrets.token_hex(16)
            TOKENS.add(token)
            doc = {"token": token, "access_token": token, "expires_in": 300}
            return self.reply(200, json.dumps(doc).encode())
        if not url.path.startswith("/v2/"):
            return self.reply(404)
        if not self.authorized():
            self.body()
            return self.challenge()
        if url.path == "/v2/":
            return self.reply(200, b"{}")
        if url.path == "/v2/_catalog":
            repos = sorted(set(MANIFESTS) | set(REPO_BLOBS))[: int(query.get("n", 100))]
            return self.reply(200, json.dumps({"repositories": repos}).encode())
        match = next((m for m in (r.match(url.path) for r in ROUTES) if m), None)
        if not match:
            return self.reply(404)
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if name.split("/")[0] not in NAMESPACES:
            return self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        handler = getattr(self, f"{kind.replace('/', '_')}_{self.command.lower()}", None)
        if handler is None:
            return self.reply(405)
        return handler(name, rest, query)

    # --- registry ------------------------------------------------------------------------

    def blobs_head(self, name: str, digest: str, query: dict[str, str]) -> None:
        if digest not in REPO_BLOBS.get(name, set()):
            return self.reply(404)
        self.reply(200, BLOBS[digest], {"Docker-Content-Digest": digest})

    blobs_get = blobs_head

    def blobs_uploads_post(self, name: str, rest: str, query: dict[str, str]) -> None:
        self.body()
        mount, source = query.get("mount"), query.get("from", "")
        if mount and mount in REPO_BLOBS.get(source, set()):
            REPO_BLOBS.setdefault(name, set()).add(mount)
            return self.reply(201, headers={"Location": f"/v2/{name}/blobs/{mount}"})
        upload = secrets.token_hex(8)
        UPLOADS[upload] = bytearray()
        self.reply(202, headers={"Location": f"/v2/{name}/blobs/uploads/{upload}"})

    def blobs_uploads_patch(self, name: str, upload: str, query: dict[str, str]) -> None:
        UPLOADS[upload] += self.body()
        self.reply(
            202,
            headers={
                "Location": f"/v2/{name}/blobs/uploads/{upload}",
                "Range": f"0-{len(UPLOADS[upload]) - 1}",
            },
        )

    def blobs_uploads_put(self, name: str, upload: str, query: dict[str, str]) -> None:
        data = bytes(UPLOADS.pop(upload) + self.body())
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest != query.get("digest"):
            return self.reply(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
        with LOCK:
            BLOBS[digest] = data
            REPO_BLOBS.setdefault(name, set()).add(digest)
        self.reply(
            201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
        )

    def manifests_put(self, name: str, ref: str, query: dict[str, str]) -> None:
        body = self.body()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with LOCK:
            MANIFESTS.setdefault(name, {})[digest] = body
            if not ref.startswith("sha256:"):
                TAGS.setdefault(name, {})[ref] = digest
        self.reply(
            201,
            headers={"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest},
        )

    def manifests_get(self, name: str, ref: str, query: dict[str, str]) -> None:
        digest = TAGS.get(name, {}).get(ref, ref)
        body = MANIFESTS.get(name, {}).get(digest)
        if body is None:
            return self.reply(404)
        media_type = json.loads(body)["mediaType"]
        self.reply(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    manifests_head = manifests_get

    def tags_get(self, name: str, rest: str, query: dict[str, str]) -> None:
        doc = {"name": name, "tags": sorted(TAGS.get(name, {}))}
        self.reply(200, json.dumps(doc).encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    Handler.password = os.environ["ACP_ADMIN_PASSWORD"]
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
