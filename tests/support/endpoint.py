"""Where a registry listens and how to log in to it: what every client driver takes.

Whatever starts a registry (our server in `acp_registry.py`, CNCF Distribution in
`peer.py`) hands one out.
"""

from __future__ import annotations

import base64
import dataclasses
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


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
