"""Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl shows against a real
cluster (kubectl asks for them with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from acp.platform.kube.resources import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    NAMESPACES,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    ResourceType,
)

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata"
)


def _column(
    name: str, type_: str, description: str, fmt: str = "", priority: int = 0
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


NAME = _column("Name", "string", NAME_DESCRIPTION, "name")
AGE = _column("Age", "string", AGE_DESCRIPTION)
CREATED_AT = _column("Created At", "date", AGE_DESCRIPTION)


def human_duration(seconds: float) -> str:
    """How long ago, in kubectl's words ("45s", "3m12s", "5h", "12d")."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(obj: dict[str, Any], now: datetime) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return human_duration((now - created).total_seconds())


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def _subjects(obj: dict[str, Any], kind: str) -> str:
    names = []
    for subject in obj.get("subjects") or []:
        if subject.get("kind") != kind:
            continue
        if kind == "ServiceAccount":
            names.append(f"{subject.get('namespace', '')}:{subject.get('name', '')}")
        else:
            names.append(subject.get("name", ""))
    return ", ".join(names)


def _role(obj: dict[str, Any]) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


Cells = Callable[[dict[str, Any], datetime], list[Any]]

BINDING_COLUMNS = [
    NAME,
    _column("Role", "string", "RoleRef is the reference to the role."),
    AGE,
    _column("Users", "string", "Users in the binding", priority=1),
    _column("Groups", "string", "Groups in the binding", priority=1),
    _column("ServiceAccounts", "string", "ServiceAccounts in the binding", priority=1),
]


def _binding_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [
        _name(obj),
        _role(obj),
        _age(obj, now),
        _subjects(obj, "User"),
        _subjects(obj, "Group"),
        _subjects(obj, "ServiceAccount"),
    ]


def _created_at_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), obj["metadata"].get("creationTimestamp")]


TABLES: dict[str, tuple[list[dict[str, Any]], Cells]] = {
    NAMESPACES.plural: (
        [
            NAME,
            _column("Status", "string", "The status of the namespace"),
            AGE,
        ],
        lambda obj, now: [_name(obj), (obj.get("status") or {}).get("phase", ""), _age(obj, now)],
    ),
    SERVICE_ACCOUNTS.plural: (
        [
            NAME,
            _column(
                "Secrets",
                "string",
                "Secrets is a list of the secrets in the same namespace that pods running "
                "using this ServiceAccount are allowed to use.",
            ),
            AGE,
        ],
        lambda obj, now: [_name(obj), len(obj.get("secrets") or []), _age(obj, now)],
    ),
    ROLES.plural: ([NAME, CREATED_AT], _created_at_cells),
    CLUSTER_ROLES.plural: ([NAME, CREATED_AT], _created_at_cells),
    ROLE_BINDINGS.plural: (BINDING_COLUMNS, _binding_cells),
    CLUSTER_ROLE_BINDINGS.plural: (BINDING_COLUMNS, _binding_cells),
}


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(
    resource: ResourceType,
    items: Sequence[dict[str, Any]],
    list_meta: dict[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    columns, cells = TABLES[resource.plural]
    now = datetime.now(UTC)
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
