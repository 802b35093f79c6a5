"""What a request to the Kubernetes-compatible API is about, parsed from method and path the
way the Kubernetes API server does it, and the RBAC question it raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from acp.rbac.attributes import Attributes

API_PREFIXES = ("api", "apis")
# Subresources of a namespace (`/api/v1/namespaces/x/status`), not resources inside it.
NAMESPACE_SUBRESOURCES = ("status", "finalize")
METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class RequestInfo:
    path: str
    verb: str
    is_resource_request: bool = False
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    # Path segments from the resource on: resource/name/subresource/…
    parts: tuple[str, ...] = ()

    def attributes(self) -> Attributes:
        if not self.is_resource_request:
            return Attributes(verb=self.verb, path=self.path)
        return Attributes(
            verb=self.verb,
            resource=self.resource,
            subresource=self.subresource,
            api_group=self.api_group,
            namespace=self.namespace,
            name=self.name,
        )


def _field_selector_name(selector: str) -> str:
    """`metadata.name=x` (or `==`) in a field selector narrows a list to one name."""
    for term in selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            value = value.strip()
            if value and "/" not in value and "%" not in value and value not in (".", ".."):
                return value
    return ""


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """`path` is relative to the cluster's API base and starts with "/"."""
    parts = [p for p in path.strip("/").split("/") if p] if path.strip("/") else []
    non_resource = RequestInfo(path=path, verb=method.lower())
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = METHOD_VERBS.get(method, method.lower())
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("1", "true") else "list"
        name = _field_selector_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        path=path,
        verb=verb,
        is_resource_request=True,
        api_prefix=prefix,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=tuple(rest),
    )
