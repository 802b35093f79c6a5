"""Namespaces: creating one makes its creator `admin` there; deleting one removes everything in
it, registry repositories included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.auth.identity import Identity
from acp.db import objects
from acp.platform.kube import schema, validation
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Cause
from acp.platform.kube.kinds import Kind
from acp.platform.kube.resources import NAMESPACES, RBAC_GROUP, ROLE_BINDINGS
from acp.registry.repositories import purge_namespace

NAME_LABEL = "kubernetes.io/metadata.name"
CREATOR_BINDING = "admin"
CREATOR_ROLE = "admin"


def creator_subject(identity: Identity) -> dict[str, str] | None:
    if identity.is_anonymous:
        return None  # binding system:anonymous would make the namespace everyone's
    if sa := identity.service_account():
        return {"kind": "ServiceAccount", "name": sa[1], "namespace": sa[0]}
    return {"kind": "User", "apiGroup": RBAC_GROUP, "name": identity.username}


class NamespaceKind(Kind):
    resource = NAMESPACES
    message = schema.NAMESPACE

    def defaults(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
        name = obj["metadata"].get("name")
        if name:
            # Kubernetes keeps this label on every namespace, for selectors.
            obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), NAME_LABEL: name}

    def causes(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.namespace_causes(obj)

    def carry_over(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        # spec.finalizers change only through the finalize subresource; status is the server's.
        new["spec"] = old.get("spec", {})
        new["status"] = old.get("status", {})

    async def after_create(self, call: Call, conn: AsyncConnection, obj: dict[str, Any]) -> None:
        subject = creator_subject(call.identity)
        if subject is None:
            return
        namespace = obj["metadata"]["name"]
        binding = {
            "apiVersion": ROLE_BINDINGS.api_version,
            "kind": "RoleBinding",
            "metadata": {
                "name": CREATOR_BINDING,
                "namespace": namespace,
                "annotations": {"acp.io/granted-to": "namespace creator"},
            },
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": CREATOR_ROLE},
            "subjects": [subject],
        }
        await objects.create(conn, call.cluster, call.cluster_id, binding)
        await call.audit(
            "rolebinding.create",
            conn=conn,
            namespace=namespace,
            resource=ROLE_BINDINGS.plural,
            name=CREATOR_BINDING,
            details={"roleRef": binding["roleRef"], "subjects": [subject], "reason": "creator"},
        )

    async def after_delete(
        self, call: Call, conn: AsyncConnection, obj: dict[str, Any]
    ) -> dict[str, Any]:
        namespace = obj["metadata"]["name"]
        removed = await objects.delete_namespaced(conn, call.cluster, call.cluster_id, namespace)
        repositories = await purge_namespace(conn, call.cluster, call.cluster_id, namespace)
        return {"removedObjects": len(removed), "removedRepositories": len(repositories)}

    def deleted_view(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        # Deletion is immediate here; the answer still looks like Kubernetes' "Terminating".
        view = dict(obj)
        view["metadata"] = {
            **obj["metadata"],
            "deletionTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        view["status"] = {"phase": "Terminating"}
        return view
