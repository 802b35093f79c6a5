"""What differs between the stored kinds: defaults, validation and the checks and side effects
around a write. `store` runs the same steps for every kind and calls these hooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from acp.platform.kube import schema
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Cause
from acp.platform.kube.resources import ResourceType

# Metadata the client may set; the rest (uid, resourceVersion, timestamps …) is the server's.
CLIENT_METADATA = (
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
)


class Kind:
    resource: ResourceType
    message: schema.Message

    def normalise(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        """The object as it will be stored: apiVersion, kind, client metadata, then the
        kind's own fields with defaults filled in."""
        meta = {k: obj["metadata"][k] for k in CLIENT_METADATA if obj.get("metadata", {}).get(k)}
        if self.resource.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        out: dict[str, Any] = {
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "metadata": meta,
        }
        for key, value in obj.items():
            if key not in ("apiVersion", "kind", "metadata"):
                out[key] = value
        self.defaults(out)
        return out

    def defaults(self, obj: dict[str, Any]) -> None:
        pass

    def causes(self, obj: dict[str, Any]) -> list[Cause]:
        return []

    def update_causes(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return []

    def carry_over(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Keep what an update may not change (a namespace's status)."""

    async def authorize_write(
        self, call: Call, conn: AsyncConnection, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Checks beyond the request's own RBAC decision (escalation prevention); raise
        KubeError to refuse."""

    async def after_create(self, call: Call, conn: AsyncConnection, obj: dict[str, Any]) -> None:
        pass

    async def after_delete(
        self, call: Call, conn: AsyncConnection, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """Runs in the deleting transaction, after the object's row is gone; returns what the
        audit record should add."""
        return {}

    def deleted_view(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """What DELETE answers: the object (namespaces) or None for a `Status` of success."""
        return None

    def audit_details(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {}
