"""A tiny standard-library registry reader, independent of every client under
test, for checking what a client really stored. Speaks Basic and the Docker
token protocol (Bearer challenge -> token from the realm with Basic credentials)."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.support.endpoint import RegistryEndpoint
from tests.support.images import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Manifest:
    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()

    def json(self) -> Any:
        return json.loads(self.body)


class RegistryHttp:
    def __init__(self, registry: RegistryEndpoint) -> None:
        self.registry = registry
        self._ssl = (
            ssl.create_default_context(cafile=registry.ca_file) if registry.ca_file else None
        )

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Response:
        headers = dict(headers or {})
        first = self._send(method, path, headers)
        if first.status != 401:
            return first
        headers["Authorization"] = self._authorization(first.headers.get("www-authenticate", ""))
        return self._send(method, path, headers)

    def manifest(self, repo: str, reference: str) -> Manifest | None:
        """The manifest bytes as served, or None if the registry says 404."""
        response = self.request("GET", f"/v2/{repo}/manifests/{reference}", {"Accept": ACCEPT})
        if response.status == 404:
            return None
        if response.status != 200:
            raise AssertionError(f"GET manifest {repo}:{reference}: HTTP {response.status}")
        return Manifest(response.body, response.headers.get("content-type", ""))

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}").status == 200

    def tags(self, repo: str) -> list[str]:
        response = self.request("GET", f"/v2/{repo}/tags/list")
        if response.status == 404:
            return []
        return list(response.json().get("tags") or [])

    def _authorization(self, challenge: str) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme != "bearer":
            return self.registry.basic_auth_header()
        params = dict(CHALLENGE_PARAM.findall(challenge))
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        url = params["realm"] + "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url, headers={"Authorization": self.registry.basic_auth_header()}
        )
        with urllib.request.urlopen(request, timeout=30, context=self._ssl) as answer:
            token = json.loads(answer.read())
        return f"Bearer {token.get('token') or token['access_token']}"

    def _send(self, method: str, path: str, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(self.registry.url + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._ssl) as answer:
                return Response(answer.status, _lower(answer.headers), answer.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, _lower(exc.headers), exc.read())


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
