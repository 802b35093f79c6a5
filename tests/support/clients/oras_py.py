"""oras-py (a library, no CLI): artifact push/pull, referrers and raw manifests.

oras-py has no referrers client and does not maintain the referrers tag schema,
so both live here: ``discover`` asks the referrers API and falls back to the
``sha256-<hex>`` tag, and pushes with a ``subject`` update that tag themselves
when the registry does not answer with ``OCI-Subject``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import oras.auth
import oras.auth.utils
import oras.client
import oras.container
import oras.oci
import requests

from tests.support.endpoint import RegistryEndpoint
from tests.support.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltArtifact,
    BuiltImage,
    Descriptor,
    OciLayout,
)

AuthBackend = Literal["basic", "token"]
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class OrasError(RuntimeError):
    pass


class ScopedTokenAuth(oras.auth.TokenAuth):
    """oras-py's token backend keeps one token and re-sends it when a later
    request is challenged for another scope (pull, then push), which a token
    service answers with 401 again. This variant asks for every scope seen so
    far whenever a new one comes up, and fails fast on bad credentials instead
    of oras-py's minute-long retry loop."""

    def __init__(self) -> None:
        super().__init__()
        self._scopes: list[str] = []

    def authenticate_request(
        self, original: requests.Response, headers: dict[str, str], refresh: bool = False
    ) -> tuple[dict[str, str], bool]:
        raw = original.headers.get("Www-Authenticate", "")
        scope = oras.auth.utils.parse_auth_header(raw).scope if raw else None
        if scope and scope not in self._scopes:
            self._scopes.append(scope)
            refresh = True
        result, changed = super().authenticate_request(original, headers, refresh=refresh)
        if not changed:
            raise oras.auth.AuthenticationException(
                f"{original.request.method} {original.url}: no token for {raw!r}"
            )
        return result, changed

    def request_token(self, h: oras.auth.utils.authHeader) -> Any:
        if self._scopes:
            h.scope = list(self._scopes)  # type: ignore[assignment]  # requests repeats list params
        return super().request_token(h)


def detect_auth_backend(registry: RegistryEndpoint) -> AuthBackend:
    """``token`` when the registry challenges Bearer, else ``basic``."""
    return "token" if registry.challenge().lower().startswith("bearer") else "basic"


@dataclass(frozen=True)
class Referrers:
    manifests: list[dict[str, Any]]
    source: Literal["api", "tag-schema"]  # referrers API, or the fallback tag

    @property
    def digests(self) -> list[str]:
        return [m["digest"] for m in self.manifests]


class Oras:
    """oras-py clients keyed by registry host, each with its own credentials.

    ``auth_backend`` None picks from the registry's challenge.
    """

    def __init__(self, workdir: Path, auth_backend: AuthBackend | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.auth_backend = auth_backend
        self._clients: dict[str, oras.client.OrasClient] = {}

    def login(
        self, registry: RegistryEndpoint, user: str | None = None, password: str | None = None
    ) -> None:
        user = registry.username if user is None else user
        password = registry.password if password is None else password
        client = self._new_client(registry)
        client.auth.set_basic_auth(user, password)
        # Preloaded config: oras-py would otherwise read ~/.docker/config.json.
        client.auth._auth_config = {
            "auths": {registry.host: {"auth": oras.auth.utils.get_basic_auth(user, password)}}
        }
        self._clients[registry.host] = client

    def logout(self, registry: RegistryEndpoint) -> None:
        self._clients.pop(registry.host, None)

    def client(self, registry: RegistryEndpoint) -> oras.client.OrasClient:
        """The logged-in client for ``registry``, or an anonymous one."""
        if registry.host not in self._clients:
            client = self._new_client(registry)
            client.auth._auth_config = {"auths": {}}
            self._clients[registry.host] = client
        return self._clients[registry.host]

    def _new_client(self, registry: RegistryEndpoint) -> oras.client.OrasClient:
        backend = self.auth_backend or detect_auth_backend(registry)
        tls: bool | str = str(registry.ca_file) if registry.ca_file else True
        client = oras.client.OrasClient(
            hostname=registry.host,
            insecure=registry.plain_http,
            tls_verify=tls,
            auth_backend="basic" if backend == "basic" else "token",
        )
        if backend == "token":
            auth = ScopedTokenAuth()
            auth.session = client.session
            auth.prefix = client.prefix
            auth._tls_verify = client._tls_verify
            client.auth = auth
        return client

    # ------------------------------------------------------------ oras-py operations

    def push_files(
        self,
        registry: RegistryEndpoint,
        ref: str,
        files: list[Path],
        *,
        media_type: str | None = None,
        annotations: dict[str, str] | None = None,
        subject: Descriptor | None = None,
    ) -> str:
        """``oras push`` of ``files`` to ``registry``/``ref`` (``repo:tag``); returns the
        manifest digest. With ``subject`` the artifact is attached as a referrer."""
        client = self.client(registry)
        target = f"{registry.host}/{ref}"
        specs = [f"{f}:{media_type}" if media_type else str(f) for f in files]
        subj = (
            oras.oci.Subject(subject.media_type, subject.digest, subject.size) if subject else None
        )
        response = client.push(
            target=target,
            files=specs,
            disable_path_validation=True,
            manifest_annotations=annotations,
            subject=subj,
            quiet=True,
        )
        digest = _content_digest(response)
        if subject is not None and "OCI-Subject" not in response.headers:
            body = response.request.body or b""
            body = body.encode() if isinstance(body, str) else body
            self._add_to_referrers_tag(registry, _repo(ref), subject.digest, body, digest)
        return digest

    def pull_files(self, registry: RegistryEndpoint, ref: str, outdir: Path) -> list[Path]:
        outdir.mkdir(parents=True, exist_ok=True)
        files = self.client(registry).pull(target=f"{registry.host}/{ref}", outdir=str(outdir))
        return [Path(f) for f in files]

    # ------------------------------------------------------------ raw registry access

    def get_manifest(self, registry: RegistryEndpoint, repo: str, reference: str) -> bytes:
        response = self._request(registry, "GET", repo, f"manifests/{reference}")
        _check(response, 200)
        return response.content

    def put_manifest(
        self, registry: RegistryEndpoint, repo: str, reference: str, body: bytes, media_type: str
    ) -> requests.Response:
        response = self._request(
            registry, "PUT", repo, f"manifests/{reference}", body, {"Content-Type": media_type}
        )
        _check(response, 201)
        return response

    def push_image(self, registry: RegistryEndpoint, repo: str, image: BuiltImage) -> str:
        """Push a layout-built image byte for byte, tagged with its layout tag."""
        blobs = [image.config, *(layer.descriptor for layer in image.layers)]
        response = self._push_from_layout(
            registry, repo, image.layout, blobs, image.manifest, image.tag
        )
        return _content_digest(response)

    def push_artifact(self, registry: RegistryEndpoint, repo: str, artifact: BuiltArtifact) -> str:
        """Push a layout-built artifact byte for byte (so its digest is known in
        advance), tagged with its layout tag; keeps the referrers tag current."""
        response = self._push_from_layout(
            registry,
            repo,
            artifact.layout,
            [artifact.config, *artifact.blobs],
            artifact.manifest,
            artifact.tag,
        )
        digest = _content_digest(response)
        if artifact.subject is not None and "OCI-Subject" not in response.headers:
            body = OciLayout(artifact.layout).blob_path(artifact.digest).read_bytes()
            self._add_to_referrers_tag(registry, repo, artifact.subject.digest, body, digest)
        return digest

    def _push_from_layout(
        self,
        registry: RegistryEndpoint,
        repo: str,
        layout_dir: Path,
        blobs: list[Descriptor],
        manifest: Descriptor,
        tag: str,
    ) -> requests.Response:
        layout = OciLayout(layout_dir)
        client = self.client(registry)
        container = client.get_container(f"{registry.host}/{repo}")
        for blob in blobs:
            layer = {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}
            _check(client.upload_blob(str(layout.blob_path(blob.digest)), container, layer), 201)
        body = layout.blob_path(manifest.digest).read_bytes()
        response = self.put_manifest(registry, repo, tag, body, manifest.media_type)
        if _content_digest(response) != manifest.digest:
            raise OrasError(
                f"registry stored {_content_digest(response)}, expected {manifest.digest}"
            )
        return response

    def discover(
        self,
        registry: RegistryEndpoint,
        repo: str,
        digest: str,
        artifact_type: str | None = None,
    ) -> Referrers:
        """Referrers of ``digest``: the referrers API, else the tag schema fallback."""
        query = f"?artifactType={artifact_type}" if artifact_type else ""
        response = self._request(registry, "GET", repo, f"referrers/{digest}{query}")
        if response.status_code == 200:
            manifests = response.json().get("manifests", [])
            source: Literal["api", "tag-schema"] = "api"
        elif response.status_code == 404:
            manifests = self._referrers_tag(registry, repo, digest)
            source = "tag-schema"
        else:
            raise OrasError(f"referrers of {digest}: HTTP {response.status_code} {response.text}")
        if artifact_type:
            manifests = [m for m in manifests if m.get("artifactType") == artifact_type]
        return Referrers(manifests, source)

    def _referrers_tag(
        self, registry: RegistryEndpoint, repo: str, digest: str
    ) -> list[dict[str, Any]]:
        response = self._request(
            registry, "GET", repo, f"manifests/{_fallback_tag(digest)}", None, {"Accept": OCI_INDEX}
        )
        if response.status_code == 404:
            return []
        _check(response, 200)
        return list(response.json().get("manifests", []))

    def _add_to_referrers_tag(
        self,
        registry: RegistryEndpoint,
        repo: str,
        subject_digest: str,
        body: bytes,
        digest: str,
    ) -> None:
        """Client side of the referrers tag schema (OCI distribution-spec 1.1)."""
        manifest = json.loads(body)
        entries = [
            m for m in self._referrers_tag(registry, repo, subject_digest) if m["digest"] != digest
        ]
        entry: dict[str, Any] = {
            "mediaType": manifest.get("mediaType", OCI_MANIFEST),
            "digest": digest,
            "size": len(body),
            "artifactType": manifest.get("artifactType") or manifest["config"]["mediaType"],
        }
        if manifest.get("annotations"):
            entry["annotations"] = manifest["annotations"]
        entries.append(entry)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        self.put_manifest(
            registry,
            repo,
            _fallback_tag(subject_digest),
            json.dumps(index, separators=(",", ":")).encode(),
            OCI_INDEX,
        )

    def _request(
        self,
        registry: RegistryEndpoint,
        method: str,
        repo: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        client = self.client(registry)
        client.auth.load_configs(client.get_container(f"{registry.host}/{repo}"))
        url = f"{client.prefix}://{registry.host}/v2/{repo}/{path}"
        all_headers = {"Accept": MANIFEST_ACCEPT, **(headers or {})}
        if isinstance(client.auth, oras.auth.BasicAuth) and getattr(
            client.auth, "_basic_auth", None
        ):
            all_headers.update(client.auth.get_auth_header())
        return client.do_request(url, method, data=body, headers=all_headers)


def _repo(ref: str) -> str:
    """``repo`` of ``repo:tag`` or ``repo@digest``."""
    name = ref.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def _fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")[:128]


def _content_digest(response: requests.Response) -> str:
    digest = response.headers.get("Docker-Content-Digest")
    if not digest:
        raise OrasError(f"no Docker-Content-Digest in the answer to {response.request.url}")
    return digest


def _check(response: requests.Response, *expected: int) -> None:
    ok = set(expected) | {200, 201, 202}
    if response.status_code not in ok:
        raise OrasError(
            f"{response.request.method} {response.url}: HTTP {response.status_code} "
            f"{response.text[:2000]}"
        )
