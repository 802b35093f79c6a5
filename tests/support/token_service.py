"""A minimal Docker token service, so the peer registry can challenge with
``Bearer`` like our server does and every client driver is proven against the
token protocol, not only against Basic.

It signs ES256 JWTs with a self-signed certificate carried in the ``x5c``
header (what Distribution's ``auth.token.rootcertbundle`` verifies), accepts
GET with Basic credentials and the OAuth2 password-grant POST (containerd tries
that first), and grants every action asked for to a known user.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ISSUER = "acp-tests-token-issuer"
TOKEN_TTL = 300


class TokenService:
    def __init__(self, workdir: Path, users: dict[str, str], service: str) -> None:
        self.users = users
        self.service = service
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _self_signed(self.key)
        self.cert_file = workdir / "token-ca.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[tuple[str, str | None, list[str]]] = []  # method, user, scopes
        handler = type("Handler", (_Handler,), {"service_ref": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self, user: str | None, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        access = [] if user is None else [_access(scope) for scope in scopes]
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": self.service,
            "exp": now + TOKEN_TTL,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        token = jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": [self._x5c]})
        issued = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
        return {"token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}

    def check(self, user: str, password: str) -> bool:
        return secrets.compare_digest(self.users.get(user, "\0"), password)


def _access(scope: str) -> dict[str, Any]:
    kind, rest = scope.split(":", 1)
    name, actions = rest.rsplit(":", 1)
    return {"type": kind, "name": name, "actions": actions.split(",")}


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


class _Handler(BaseHTTPRequestHandler):
    service_ref: TokenService

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        user: str | None = None
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            decoded = base64.b64decode(header[6:]).decode(errors="replace")
            name, _, password = decoded.partition(":")
            if not self.service_ref.check(name, password):
                return self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
            user = name
        self._grant("GET", user, query.get("scope", []))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if form.get("grant_type") != ["password"]:
            return self._reply(400, {"error": "unsupported_grant_type"})
        user = form.get("username", [""])[0]
        if not self.service_ref.check(user, form.get("password", [""])[0]):
            return self._reply(401, {"error": "invalid_grant"})
        self._grant("POST", user, " ".join(form.get("scope", [])).split())

    def _grant(self, method: str, user: str | None, scopes: list[str]) -> None:
        self.service_ref.requests.append((method, user, scopes))
        self._reply(200, self.service_ref.issue(user, scopes))

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
