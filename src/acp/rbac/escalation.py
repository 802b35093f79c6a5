"""Escalation prevention, as in Kubernetes: nobody grants permissions they do not hold.

- Creating or updating a Role/ClusterRole needs the `escalate` verb on it, or holding every
  permission its rules grant, where the role applies (its namespace, or cluster-wide).
- Creating or updating a RoleBinding/ClusterRoleBinding needs the `bind` verb on the role it
  refers to (checked in the binding's namespace), or holding every permission of that role
  in the binding's namespace (cluster-wide for a ClusterRoleBinding).
- Members of `system:masters` are exempt.

Pure functions over an RBAC snapshot; the Kubernetes API turns a non-empty answer into 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acp.auth.identity import Identity
from acp.rbac.attributes import Attributes
from acp.rbac.authorizer import RbacSnapshot
from acp.rbac.evaluate import RBAC_GROUP, PolicyRule, rules_from_api, uncovered_rules

PRIVILEGED_GROUP = "system:masters"


class RoleNotFound(LookupError):
    """The role a binding refers to does not exist (and the caller may not bind it blindly)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} not found")
        self.kind, self.name = kind, name


def _namespace(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace", "") or ""


def role_escalation(
    snapshot: RbacSnapshot, identity: Identity, role: Mapping[str, Any]
) -> list[PolicyRule]:
    """The permissions of `role` that `identity` may not grant (empty: the write is allowed)."""
    if PRIVILEGED_GROUP in identity.groups:
        return []
    namespace = _namespace(role)
    resource = "roles" if role.get("kind") == "Role" else "clusterroles"
    name = (role.get("metadata") or {}).get("name", "")
    escalate = Attributes(
        "escalate", resource, api_group=RBAC_GROUP, namespace=namespace, name=name
    )
    if snapshot.allowed(identity, escalate):
        return []
    return uncovered_rules(
        snapshot.rules_for(identity, namespace), rules_from_api(role.get("rules"))
    )


def binding_escalation(
    snapshot: RbacSnapshot, identity: Identity, binding: Mapping[str, Any]
) -> list[PolicyRule]:
    """The permissions `binding` would grant that `identity` may not grant (empty: allowed).

    Raises RoleNotFound when the role is missing and the caller has no `bind` on it.
    """
    if PRIVILEGED_GROUP in identity.groups:
        return []
    namespace = _namespace(binding)
    ref = binding.get("roleRef") or {}
    kind, name = ref.get("kind", ""), ref.get("name", "")
    resource = "roles" if kind == "Role" else "clusterroles"
    bind = Attributes(
        "bind", resource, api_group=ref.get("apiGroup", ""), namespace=namespace, name=name
    )
    if snapshot.allowed(identity, bind):
        return []
    if kind == "Role":
        rules = snapshot.roles.get((namespace, name))
    else:
        rules = snapshot.cluster_roles.get(name)
    if rules is None:
        raise RoleNotFound(kind, name)
    return uncovered_rules(snapshot.rules_for(identity, namespace), rules)
