"""Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, with Kubernetes' escalation
prevention: nobody grants, through a role or a binding, permissions they do not hold, unless
they have the `escalate` verb on the role or the `bind` verb on the role a binding refers to."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.platform.kube import errors, schema, validation
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Cause, Qualified
from acp.platform.kube.kinds import Kind
from acp.platform.kube.resources import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    RBAC_GROUP,
    ROLE_BINDINGS,
    ROLES,
)
from acp.rbac import escalation
from acp.rbac.evaluate import PolicyRule


def _go_list(values: tuple[str, ...] | list[str]) -> str:
    """Go's `%q` of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def _compact(missing: list[PolicyRule]) -> list[str]:
    """One line per group/resource/name (or URL), verbs merged, as Kubernetes reports them."""
    merged: dict[tuple[Any, ...], list[str]] = {}
    for rule in missing:
        key = (rule.api_groups, rule.resources, rule.resource_names, rule.non_resource_urls)
        verbs = merged.setdefault(key, [])
        verbs.extend(v for v in rule.verbs if v not in verbs)
    lines = []
    for (groups, resources, names, urls), verbs in merged.items():
        parts = []
        if groups:
            parts.append(f"APIGroups:{_go_list(groups)}")
        if resources:
            parts.append(f"Resources:{_go_list(resources)}")
        if urls:
            parts.append(f"NonResourceURLs:{_go_list(urls)}")
        if names:
            parts.append(f"ResourceNames:{_go_list(names)}")
        parts.append(f"Verbs:{_go_list(verbs)}")
        lines.append("{" + ", ".join(parts) + "}")
    return sorted(lines)


def _refuse(call: Call, what: Qualified, missing: list[PolicyRule]) -> errors.KubeError:
    return errors.forbidden(
        what,
        f'user "{call.identity.username}" (groups={_go_list(call.identity.groups)}) is '
        "attempting to grant RBAC permissions not currently held:\n" + "\n".join(_compact(missing)),
    )


class RoleKind(Kind):
    def __init__(self, namespaced: bool) -> None:
        self.resource = ROLES if namespaced else CLUSTER_ROLES
        self.message = schema.ROLE if namespaced else schema.CLUSTER_ROLE

    def causes(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.role_causes(obj, self.resource.namespaced)

    async def authorize_write(
        self, call: Call, conn: AsyncConnection, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        snapshot = await call.ctx.authorizer.snapshot(call.cluster)
        if missing := escalation.role_escalation(snapshot, call.identity, obj):
            raise _refuse(call, Qualified.of(self.resource, obj["metadata"]["name"]), missing)

    def audit_details(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"rules": obj.get("rules") or []}


class BindingKind(Kind):
    def __init__(self, namespaced: bool) -> None:
        self.resource = ROLE_BINDINGS if namespaced else CLUSTER_ROLE_BINDINGS
        self.message = schema.ROLE_BINDING if namespaced else schema.CLUSTER_ROLE_BINDING

    def defaults(self, obj: dict[str, Any]) -> None:
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = RBAC_GROUP
        for subject in obj.get("subjects") or []:
            if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP

    def causes(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.binding_causes(obj, self.resource.namespaced)

    def update_causes(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        if new.get("roleRef") != old.get("roleRef"):
            return [validation.invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]
        return []

    async def authorize_write(
        self, call: Call, conn: AsyncConnection, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        snapshot = await call.ctx.authorizer.snapshot(call.cluster)
        try:
            missing = escalation.binding_escalation(snapshot, call.identity, obj)
        except escalation.RoleNotFound as exc:
            role_resource = ROLES if exc.kind == "Role" else CLUSTER_ROLES
            raise errors.not_found(Qualified.of(role_resource, exc.name)) from exc
        if missing:
            raise _refuse(call, Qualified.of(self.resource, obj["metadata"]["name"]), missing)

    def audit_details(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"roleRef": obj.get("roleRef"), "subjects": obj.get("subjects") or []}
