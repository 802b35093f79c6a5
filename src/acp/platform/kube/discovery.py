"""Discovery (`/api`, `/apis`, `/apis/<group>/<version>`), `/version` and health paths.

kubectl first asks for aggregated discovery (`Accept: application/json;g=apidiscovery.k8s.io;
v=v2;as=APIGroupDiscoveryList,…,application/json`). Answering with plain `application/json`
documents makes it fall back, silently, to one request per group version, which is what this
server serves.
"""

from __future__ import annotations

from typing import Any

from acp import __version__
from acp.platform.kube import errors, resources

# The Kubernetes API version whose behaviour this server follows.
KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "32"


def version_info() -> dict[str, str]:
    return {
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+acp.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in resources.GROUPS[name]]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name) for name in resources.GROUPS],
    }


def api_group(name: str) -> dict[str, Any]:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def resource_list(group: str, version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [r.discovery() for r in resources.in_group_version(group, version)],
    }


def document(path: str, server_address: str) -> dict[str, Any] | str:
    """The discovery document (or health text) at a non-resource `path`; 404 if none."""
    parts = [p for p in path.split("/") if p]
    if path in ("/healthz", "/livez", "/readyz"):
        return "ok"
    if parts == ["version"]:
        return version_info()
    if parts == ["api"]:
        return api_versions(server_address)
    if parts == ["api", "v1"]:
        return resource_list("", "v1")
    if parts == ["apis"]:
        return api_group_list()
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in resources.GROUPS:
        return api_group(parts[1])
    if (
        len(parts) == 3
        and parts[0] == "apis"
        and resources.served_group_version(parts[1], parts[2])
    ):
        return resource_list(parts[1], parts[2])
    raise errors.path_not_found()
