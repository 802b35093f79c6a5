"""Kubernetes `Status` errors: every refusal of the Kubernetes-compatible API is one of these.

Reasons, codes and message shapes follow the Kubernetes API server, because kubectl and client
libraries branch on `reason` and show `message` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acp.platform.kube.resources import ResourceType
from acp.rbac.attributes import Attributes


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid (`details.causes[]`)."""

    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, …
    message: str

    def to_api(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class KubeError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class Qualified:
    """The `details` of an error about one object: its group, resource (as `kind`) and name."""

    group: str
    resource: str
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: ResourceType, name: str = "") -> Qualified:
        return cls(resource.group, resource.plural, name)

    @property
    def text(self) -> str:
        """`rolebindings.rbac.authorization.k8s.io`, or `namespaces` for the core group."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if self.group:
            out["group"] = self.group
        out["kind"] = self.resource
        return {**out, **self.extra}


def not_found(what: Qualified) -> KubeError:
    return KubeError(404, "NotFound", f'{what.text} "{what.name}" not found', what.details())


def already_exists(what: Qualified) -> KubeError:
    return KubeError(
        409, "AlreadyExists", f'{what.text} "{what.name}" already exists', what.details()
    )


def conflict(what: Qualified, reason: str) -> KubeError:
    return KubeError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what.text} "{what.name}": {reason}',
        what.details(),
    )


def forbidden(what: Qualified | None, reason: str) -> KubeError:
    if what is None or not what.resource:
        return KubeError(403, "Forbidden", f"forbidden: {reason}", {})
    if what.name:
        message = f'{what.text} "{what.name}" is forbidden: {reason}'
    else:
        message = f"{what.text} is forbidden: {reason}"
    return KubeError(403, "Forbidden", message, what.details())


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> KubeError:
    """422 Invalid, worded like Kubernetes: `Kind.group "name" is invalid: field: problem`."""
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [c.to_api() for c in causes]}
    if group:
        details["group"] = group
    return KubeError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> KubeError:
    return KubeError(
        401, "Unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="acp"'}
    )


def method_not_allowed(message: str) -> KubeError:
    return KubeError(405, "MethodNotAllowed", message, {})


def not_acceptable(message: str) -> KubeError:
    return KubeError(406, "NotAcceptable", message)


def unsupported_media_type(message: str) -> KubeError:
    return KubeError(415, "UnsupportedMediaType", message)


def too_large(limit: int) -> KubeError:
    return KubeError(413, "RequestEntityTooLarge", f"the request body is larger than {limit} bytes")


def too_many_requests(message: str, retry_after: int) -> KubeError:
    return KubeError(
        429,
        "TooManyRequests",
        message,
        {"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def path_not_found() -> KubeError:
    return KubeError(404, "NotFound", "the server could not find the requested resource", {})


def forbidden_reason(username: str, attrs: Attributes) -> str:
    """Kubernetes' words for a refused request: `User "alice" cannot list resource …`."""
    if not attrs.is_resource_request:
        return f'User "{username}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (
        f'User "{username}" cannot {attrs.verb} resource "{resource}" in API group '
        f'"{attrs.api_group}" {where}'
    )
