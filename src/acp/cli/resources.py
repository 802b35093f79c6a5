"""The Kubernetes resource types `ac get|create|delete` know: names, aliases, REST paths and
table columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acp.cli.printers import age

RBAC_GROUP = "rbac.authorization.k8s.io"
IMAGE_GROUP = "image.acp.io"
USER_GROUP = "user.acp.io"

Row = Callable[[Mapping[str, Any]], list[str]]


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _age(obj: Mapping[str, Any]) -> str:
    return age(str((obj.get("metadata") or {}).get("creationTimestamp", "")))


def _created(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp", ""))


def _subjects(obj: Mapping[str, Any], kind: str) -> str:
    names = []
    for subject in obj.get("subjects") or ():
        if subject.get("kind") != kind:
            continue
        if kind == "ServiceAccount":
            names.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
        else:
            names.append(str(subject.get("name", "")))
    return ", ".join(names)


def _role_ref(obj: Mapping[str, Any]) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _binding_wide(obj: Mapping[str, Any]) -> list[str]:
    return [_subjects(obj, "User"), _subjects(obj, "Group"), _subjects(obj, "ServiceAccount")]


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    kind: str
    group: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    version: str = "v1"
    headers: tuple[str, ...] = ("NAME", "AGE")
    row: Row = field(default=lambda obj: [_name(obj), _age(obj)])
    wide_headers: tuple[str, ...] = ()
    wide_row: Row = field(default=lambda obj: [])

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def type_name(self) -> str:
        """How kubectl names the type in messages: `namespace`, `rolebinding.rbac…`."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    @property
    def aliases(self) -> tuple[str, ...]:
        names = (self.plural, self.singular, *self.short_names)
        if self.group:
            names += (f"{self.plural}.{self.group}", f"{self.singular}.{self.group}")
        return names

    def path(self, namespace: str = "", name: str = "") -> str:
        """REST path under the cluster's Kubernetes API; `namespace` "" lists everywhere."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        False,
        ("ns",),
        headers=("NAME", "STATUS", "AGE"),
        row=lambda o: [_name(o), str((o.get("status") or {}).get("phase", "Active")), _age(o)],
    ),
    Resource(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        "",
        True,
        ("sa",),
        headers=("NAME", "SECRETS", "AGE"),
        row=lambda o: [_name(o), str(len(o.get("secrets") or ())), _age(o)],
    ),
    Resource(
        "roles",
        "role",
        "Role",
        RBAC_GROUP,
        True,
        headers=("NAME", "CREATED AT"),
        row=lambda o: [_name(o), _created(o)],
    ),
    Resource(
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        RBAC_GROUP,
        True,
        headers=("NAME", "ROLE", "AGE"),
        row=lambda o: [_name(o), _role_ref(o), _age(o)],
        wide_headers=("USERS", "GROUPS", "SERVICEACCOUNTS"),
        wide_row=_binding_wide,
    ),
    Resource(
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        RBAC_GROUP,
        False,
        headers=("NAME", "CREATED AT"),
        row=lambda o: [_name(o), _created(o)],
    ),
    Resource(
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        RBAC_GROUP,
        False,
        headers=("NAME", "ROLE", "AGE"),
        row=lambda o: [_name(o), _role_ref(o), _age(o)],
        wide_headers=("USERS", "GROUPS", "SERVICEACCOUNTS"),
        wide_row=_binding_wide,
    ),
)

BY_PLURAL = {r.plural: r for r in RESOURCES}
NAMESPACES, SERVICEACCOUNTS = BY_PLURAL["namespaces"], BY_PLURAL["serviceaccounts"]
ROLEBINDINGS, CLUSTERROLEBINDINGS = BY_PLURAL["rolebindings"], BY_PLURAL["clusterrolebindings"]

# Resource types `ac auth can-i` understands beyond the ones above: plural -> API group.
EXTRA_GROUPS = {
    "images": IMAGE_GROUP,
    "imagestreams": IMAGE_GROUP,
    "imagestreamtags": IMAGE_GROUP,
    "users": USER_GROUP,
    "selfsubjectaccessreviews": "authorization.k8s.io",
    "subjectaccessreviews": "authorization.k8s.io",
    "tokenreviews": "authentication.k8s.io",
}
EXTRA_ALIASES = {
    "image": "images",
    "imagestream": "imagestreams",
    "is": "imagestreams",
    "imagestreamtag": "imagestreamtags",
    "istag": "imagestreamtags",
    "user": "users",
}

# Who can usually grant what a refused request needed (for error messages).
NEEDED_ROLE = {
    "namespaces": "cluster-admin",
    "serviceaccounts": "edit (or admin)",
    "roles": "admin",
    "rolebindings": "admin",
    "clusterroles": "cluster-admin",
    "clusterrolebindings": "cluster-admin",
}


def find(name: str) -> Resource | None:
    lowered = name.lower()
    return next((r for r in RESOURCES if lowered in r.aliases), None)


def group_of(resource: str) -> tuple[str, str]:
    """(plural, API group) for `resource`, `resource.group` or a known alias."""
    known = find(resource)
    if known is not None:
        return known.plural, known.group
    plural, _, group = resource.partition(".")
    plural = EXTRA_ALIASES.get(plural, plural)
    if group:
        return plural, group
    return plural, EXTRA_GROUPS.get(plural, "")


def as_list(items: Sequence[Mapping[str, Any]], resource: Resource) -> dict[str, Any]:
    """A kubectl-style `List`, each item with its apiVersion and kind."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [with_type(item, resource) for item in items],
    }


def with_type(obj: Mapping[str, Any], resource: Resource) -> dict[str, Any]:
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
