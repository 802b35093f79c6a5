"""Platform state for tests, created the way users create it: accounts through the platform
API, namespaces, ServiceAccounts, tokens and RoleBindings through the Kubernetes-compatible
API (what `ac` and kubectl send), images through the OCI registry.

Tests whose point is an API set their world up with this; only tests that need volume
(thousands of tags) write rows directly (`tests/support/seed.py`).
"""

from __future__ import annotations

from typing import Any

from tests.support.registry_client import OCI_INDEX, Image, RegistryClient, make_index
from tests.support.server import RunningServer

RBAC = "rbac.authorization.k8s.io"


def subject(
    *, user: str = "", group: str = "", serviceaccount: tuple[str, str] | None = None
) -> dict[str, str]:
    """One RoleBinding subject (exactly one of the arguments)."""
    if serviceaccount is not None:
        return {"kind": "ServiceAccount", "namespace": serviceaccount[0], "name": serviceaccount[1]}
    if user:
        return {"kind": "User", "apiGroup": RBAC, "name": user}
    return {"kind": "Group", "apiGroup": RBAC, "name": group}


def rolebinding(
    namespace: str,
    role: str,
    *,
    user: str = "",
    group: str = "",
    serviceaccount: tuple[str, str] | None = None,
    name: str = "",
) -> dict[str, Any]:
    """A RoleBinding of ClusterRole `role` to one subject; named after both by default."""
    who = user or group or (serviceaccount[1] if serviceaccount else "")
    name = name or f"{role.replace(':', '-')}-{who.replace(':', '-')}"[:63].rstrip("-")
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject(user=user, group=group, serviceaccount=serviceaccount)],
    }


class Platform:
    """Admin operations on one running server, over HTTP only."""

    def __init__(self, server: RunningServer, admin_token: str) -> None:
        self.server = server
        self.http = server.client(admin_token)
        self._registry_urls: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _kube(
        self, method: str, path: str, cluster: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self.http.request(method, f"/kubernetes/{cluster}/{path}", json=body)
        if response.status_code >= 300:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    # --- accounts ----------------------------------------------------------------------------

    def user(self, name: str, password: str) -> None:
        response = self.http.post("/api/v1/users", json={"username": name, "password": password})
        assert response.status_code == 201, response.text

    # --- namespaces --------------------------------------------------------------------------

    def namespace(self, name: str, cluster: str = "global") -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self._kube("POST", "api/v1/namespaces", cluster, body)

    def delete_namespace(self, name: str, cluster: str = "global") -> None:
        self._kube("DELETE", f"api/v1/namespaces/{name}", cluster)

    # --- RBAC --------------------------------------------------------------------------------

    def bind(
        self,
        namespace: str,
        role: str,
        *,
        user: str = "",
        group: str = "",
        serviceaccount: tuple[str, str] | None = None,
        name: str = "",
        cluster: str = "global",
    ) -> str:
        """RoleBinding of ClusterRole `role` to one subject in `namespace`; returns its name."""
        body = rolebinding(
            namespace, role, user=user, group=group, serviceaccount=serviceaccount, name=name
        )
        self._kube("POST", f"apis/{RBAC}/v1/namespaces/{namespace}/rolebindings", cluster, body)
        return str(body["metadata"]["name"])

    def unbind(self, namespace: str, name: str, cluster: str = "global") -> None:
        self._kube("DELETE", f"apis/{RBAC}/v1/namespaces/{namespace}/rolebindings/{name}", cluster)

    # --- ServiceAccounts ---------------------------------------------------------------------

    def serviceaccount(
        self, namespace: str, name: str, cluster: str = "global", seconds: int = 3600
    ) -> str:
        """Create a ServiceAccount and return a token for it (`kubectl create token`)."""
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        self._kube("POST", f"api/v1/namespaces/{namespace}/serviceaccounts", cluster, body)
        return self.token(namespace, name, cluster, seconds)

    def token(self, namespace: str, name: str, cluster: str = "global", seconds: int = 3600) -> str:
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        path = f"api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        return str(self._kube("POST", path, cluster, request)["status"]["token"])

    def delete_serviceaccount(self, namespace: str, name: str, cluster: str = "global") -> None:
        self._kube("DELETE", f"api/v1/namespaces/{namespace}/serviceaccounts/{name}", cluster)

    # --- images ------------------------------------------------------------------------------

    def registry_url(self, cluster: str = "global") -> str:
        """The cluster's registry, as the platform advertises it."""
        if not self._registry_urls:
            clusters = self.http.get("/api/v1/clusters").json()["items"]
            self._registry_urls = {c["name"]: c["registryUrl"] for c in clusters}
        return self._registry_urls[cluster]

    def registry(self, cluster: str = "global") -> RegistryClient:
        """An OCI client of the cluster's registry with the admin's password."""
        return RegistryClient(
            self.registry_url(cluster), basic=("admin", self.server.admin_password)
        )

    def push(self, repository: str, tag: str, image: Image, cluster: str = "global") -> str:
        """Push `image` as `repository:tag` over /v2/; returns its digest."""
        with self.registry(cluster) as client:
            response = client.push_image(repository, tag, image)
        assert response.status_code == 201, response.text
        return image.digest

    def push_index(
        self, repository: str, tag: str, children: list[Image], cluster: str = "global"
    ) -> str:
        """Push the children by digest, then an OCI index of them as `repository:tag`."""
        with self.registry(cluster) as client:
            for child in children:
                assert client.push_image(repository, child.digest, child).status_code == 201
            response = client.put_manifest(repository, tag, make_index(children), OCI_INDEX)
        assert response.status_code == 201, response.text
        return str(response.headers["Docker-Content-Digest"])

    def tags(self, repository: str, cluster: str = "global") -> list[str]:
        """The repository's tags as OCI clients see them ([] if it does not exist)."""
        with self.registry(cluster) as client:
            response = client.tags(repository)
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return list(response.json().get("tags") or [])

    def manifest_exists(self, repository: str, digest: str, cluster: str = "global") -> bool:
        with self.registry(cluster) as client:
            return client.manifest(repository, digest).status_code == 200
