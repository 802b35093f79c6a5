"""Registry endpoints for client tests, and the CNCF Distribution peer registry.

Client tests only see a ``RegistryEndpoint``; whatever starts the registry (the
peer below, or our own server) hands one out.
"""

from __future__ import annotations

import base64
import dataclasses
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.support.procs import Daemon, free_port, remove_tree, require_binary, run
from tests.support.token_service import ISSUER, TokenService

DISTRIBUTION_BINARY = "docker-registry"
TOKEN_SERVICE = "acp-peer"


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a registry listens and how to log in to it.

    ``host`` is what goes in image references (``127.0.0.1:PORT``). ``namespace``
    is the first path segment tests put their repositories under (our server needs
    it to exist). ``ca_file`` is for HTTPS endpoints with a private CA.
    """

    host: str
    username: str
    password: str
    plain_http: bool = True
    ca_file: Path | None = None
    namespace: str = "e2e"
    name: str = "registry"

    @property
    def url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"

    def repo(self, name: str) -> str:
        """``namespace/name`` for a repository of this registry."""
        return f"{self.namespace}/{name}"

    def ref(self, repo: str, tag: str | None = None, digest: str | None = None) -> str:
        """Full image reference ``host/repo[:tag][@digest]``."""
        out = f"{self.host}/{repo}"
        if tag:
            out += f":{tag}"
        if digest:
            out += f"@{digest}"
        return out

    def with_credentials(self, username: str, password: str) -> RegistryEndpoint:
        return dataclasses.replace(self, username=username, password=password)

    def basic_auth_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header of an anonymous ``GET /v2/`` ('' if open)."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=10):
                return ""
        except urllib.error.HTTPError as exc:
            return exc.headers.get("WWW-Authenticate", "")


CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: acp-tests-peer
  headers:
    X-Content-Type-Options: [nosniff]
auth:
{auth}
"""
HTPASSWD_AUTH = """\
  htpasswd:
    realm: acp-peer
    path: {htpasswd}"""
TOKEN_AUTH = """\
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {certs}"""


class DistributionRegistry:
    """CNCF Distribution (Debian ``docker-registry``) with filesystem storage on a
    free 127.0.0.1 port. ``auth="htpasswd"`` challenges with Basic; ``"token"``
    challenges with Bearer and sends clients to an in-process token service."""

    def __init__(
        self, workdir: Path, users: dict[str, str], auth: Literal["htpasswd", "token"] = "htpasswd"
    ) -> None:
        if not users:
            raise ValueError("at least one user is needed")
        self.workdir = workdir
        self.users = users
        self.auth = auth
        self.port = 0
        self.daemon: Daemon | None = None
        self.token_service: TokenService | None = None

    def start(self) -> RegistryEndpoint:
        binary = require_binary(DISTRIBUTION_BINARY)
        self.workdir.mkdir(parents=True, exist_ok=True)
        auth = self._auth_config()
        # A free port can be taken between probing and binding: retry on a new one.
        for attempt in range(3):
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(
                CONFIG_TEMPLATE.format(storage=self.workdir / "storage", port=self.port, auth=auth)
            )
            self.daemon = Daemon(
                "docker-registry",
                [binary, "serve", config],
                log=self.workdir / "registry.log",
            )
            try:
                self.daemon.wait_ready(self._answers, timeout=30)
                break
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.daemon.log_tail():
                    raise
        user, password = next(iter(self.users.items()))
        return RegistryEndpoint(
            host=f"127.0.0.1:{self.port}",
            username=user,
            password=password,
            name=f"distribution-{self.auth}",
        )

    def _auth_config(self) -> str:
        if self.auth == "token":
            self.token_service = TokenService(self.workdir, self.users, TOKEN_SERVICE).start()
            return TOKEN_AUTH.format(
                realm=self.token_service.realm,
                service=TOKEN_SERVICE,
                issuer=ISSUER,
                certs=self.token_service.cert_file,
            )
        htpasswd = self.workdir / "htpasswd"
        lines = [run(["htpasswd", "-Bbn", u, p]).stdout.strip() for u, p in self.users.items()]
        htpasswd.write_text("\n".join(lines) + "\n")
        return HTPASSWD_AUTH.format(htpasswd=htpasswd)

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        if self.token_service is not None:
            self.token_service.stop()
            self.token_service = None

    def cleanup(self) -> None:
        self.stop()
        remove_tree(self.workdir)
