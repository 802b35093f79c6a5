"""The shape of every kind this API reads: JSON field names, value types and protobuf field
numbers (from the Kubernetes API's `generated.proto`).

One description serves two purposes: checking request bodies (types, unknown fields for
`fieldValidation`) and decoding the protobuf bodies kubectl's typed clients send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

# Scalar and special value types.
STRING = "string"
INT = "int"
BOOL = "bool"
TIME = "time"  # RFC 3339 string in JSON; meta.v1.Time message in protobuf
STRING_MAP = "string-map"  # map<string, string>
EXTRA_MAP = "extra-map"  # map<string, ExtraValue{repeated string items}>
ANY = "any"  # accepted as is in JSON; skipped in protobuf

FieldType = Union[str, "Message"]


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    type: FieldType
    repeated: bool = False
    # A pointer field in Go: its zero value is meaningful and kept.
    pointer: bool = False


@dataclass(frozen=True)
class Message:
    name: str
    fields: tuple[Field, ...]

    def by_name(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def by_number(self, number: int) -> Field | None:
        return next((f for f in self.fields if f.number == number), None)


def _m(name: str, *fields: Field) -> Message:
    return Message(name, fields)


F = Field

OWNER_REFERENCE = _m(
    "OwnerReference",
    F("apiVersion", 5, STRING),
    F("kind", 1, STRING),
    F("name", 3, STRING),
    F("uid", 4, STRING),
    F("controller", 6, BOOL, pointer=True),
    F("blockOwnerDeletion", 7, BOOL, pointer=True),
)
OBJECT_META = _m(
    "ObjectMeta",
    F("name", 1, STRING),
    F("generateName", 2, STRING),
    F("namespace", 3, STRING),
    F("selfLink", 4, STRING),
    F("uid", 5, STRING),
    F("resourceVersion", 6, STRING),
    F("generation", 7, INT),
    F("creationTimestamp", 8, TIME),
    F("deletionTimestamp", 9, TIME),
    F("deletionGracePeriodSeconds", 10, INT, pointer=True),
    F("labels", 11, STRING_MAP),
    F("annotations", 12, STRING_MAP),
    F("ownerReferences", 13, OWNER_REFERENCE, repeated=True),
    F("finalizers", 14, STRING, repeated=True),
    F("managedFields", 17, ANY, repeated=True),
)

# --- core/v1 ---------------------------------------------------------------------------------

NAMESPACE = _m(
    "Namespace",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("spec", 2, _m("NamespaceSpec", F("finalizers", 1, STRING, repeated=True))),
    F("status", 3, _m("NamespaceStatus", F("phase", 1, STRING), F("conditions", 2, ANY, True))),
)
OBJECT_REFERENCE = _m(
    "ObjectReference",
    F("kind", 1, STRING),
    F("namespace", 2, STRING),
    F("name", 3, STRING),
    F("uid", 4, STRING),
    F("apiVersion", 5, STRING),
    F("resourceVersion", 6, STRING),
    F("fieldPath", 7, STRING),
)
SERVICE_ACCOUNT = _m(
    "ServiceAccount",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("secrets", 2, OBJECT_REFERENCE, repeated=True),
    F("imagePullSecrets", 3, _m("LocalObjectReference", F("name", 1, STRING)), repeated=True),
    F("automountServiceAccountToken", 4, BOOL, pointer=True),
)

# --- rbac.authorization.k8s.io/v1 -------------------------------------------------------------

POLICY_RULE = _m(
    "PolicyRule",
    F("verbs", 1, STRING, repeated=True),
    F("apiGroups", 2, STRING, repeated=True),
    F("resources", 3, STRING, repeated=True),
    F("resourceNames", 4, STRING, repeated=True),
    F("nonResourceURLs", 5, STRING, repeated=True),
)
SUBJECT = _m(
    "Subject",
    F("kind", 1, STRING),
    F("apiGroup", 2, STRING),
    F("name", 3, STRING),
    F("namespace", 4, STRING),
)
ROLE_REF = _m("RoleRef", F("apiGroup", 1, STRING), F("kind", 2, STRING), F("name", 3, STRING))
ROLE = _m(
    "Role",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("rules", 2, POLICY_RULE, repeated=True),
)
CLUSTER_ROLE = _m(
    "ClusterRole",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("rules", 2, POLICY_RULE, repeated=True),
    F("aggregationRule", 3, _m("AggregationRule", F("clusterRoleSelectors", 1, ANY, True))),
)
ROLE_BINDING = _m(
    "RoleBinding",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("subjects", 2, SUBJECT, repeated=True),
    F("roleRef", 3, ROLE_REF),
)
CLUSTER_ROLE_BINDING = Message("ClusterRoleBinding", ROLE_BINDING.fields)

# --- authorization.k8s.io/v1 -----------------------------------------------------------------

RESOURCE_ATTRIBUTES = _m(
    "ResourceAttributes",
    F("namespace", 1, STRING),
    F("verb", 2, STRING),
    F("group", 3, STRING),
    F("version", 4, STRING),
    F("resource", 5, STRING),
    F("subresource", 6, STRING),
    F("name", 7, STRING),
    F("fieldSelector", 8, ANY),
    F("labelSelector", 9, ANY),
)
NON_RESOURCE_ATTRIBUTES = _m("NonResourceAttributes", F("path", 1, STRING), F("verb", 2, STRING))
ACCESS_REVIEW_STATUS = _m(
    "SubjectAccessReviewStatus",
    F("allowed", 1, BOOL),
    F("denied", 4, BOOL),
    F("reason", 2, STRING),
    F("evaluationError", 3, STRING),
)
SUBJECT_ACCESS_REVIEW_SPEC = _m(
    "SubjectAccessReviewSpec",
    F("resourceAttributes", 1, RESOURCE_ATTRIBUTES),
    F("nonResourceAttributes", 2, NON_RESOURCE_ATTRIBUTES),
    F("user", 3, STRING),
    F("groups", 4, STRING, repeated=True),
    F("extra", 5, EXTRA_MAP),
    F("uid", 6, STRING),
)


def _review(name: str, spec: Message, status: Message | str = ANY) -> Message:
    return _m(
        name,
        F("apiVersion", 0, STRING),
        F("kind", 0, STRING),
        F("metadata", 1, OBJECT_META),
        F("spec", 2, spec),
        F("status", 3, status),
    )


SUBJECT_ACCESS_REVIEW = _review(
    "SubjectAccessReview", SUBJECT_ACCESS_REVIEW_SPEC, ACCESS_REVIEW_STATUS
)
LOCAL_SUBJECT_ACCESS_REVIEW = _review(
    "LocalSubjectAccessReview", SUBJECT_ACCESS_REVIEW_SPEC, ACCESS_REVIEW_STATUS
)
SELF_SUBJECT_ACCESS_REVIEW = _review(
    "SelfSubjectAccessReview",
    _m(
        "SelfSubjectAccessReviewSpec",
        F("resourceAttributes", 1, RESOURCE_ATTRIBUTES),
        F("nonResourceAttributes", 2, NON_RESOURCE_ATTRIBUTES),
    ),
    ACCESS_REVIEW_STATUS,
)
SELF_SUBJECT_RULES_REVIEW = _review(
    "SelfSubjectRulesReview", _m("SelfSubjectRulesReviewSpec", F("namespace", 1, STRING))
)

# --- authentication.k8s.io/v1 ----------------------------------------------------------------

TOKEN_REQUEST = _review(
    "TokenRequest",
    _m(
        "TokenRequestSpec",
        F("audiences", 1, STRING, repeated=True),
        F("expirationSeconds", 4, INT, pointer=True),
        F(
            "boundObjectRef",
            3,
            _m(
                "BoundObjectReference",
                F("kind", 1, STRING),
                F("apiVersion", 2, STRING),
                F("name", 3, STRING),
                F("uid", 4, STRING),
            ),
        ),
    ),
)
TOKEN_REVIEW = _review(
    "TokenReview",
    _m("TokenReviewSpec", F("token", 1, STRING), F("audiences", 2, STRING, repeated=True)),
)
SELF_SUBJECT_REVIEW = _m(
    "SelfSubjectReview",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("metadata", 1, OBJECT_META),
    F("status", 2, ANY),
)

# --- meta/v1 ---------------------------------------------------------------------------------

DELETE_OPTIONS = _m(
    "DeleteOptions",
    F("apiVersion", 0, STRING),
    F("kind", 0, STRING),
    F("gracePeriodSeconds", 1, INT, pointer=True),
    F(
        "preconditions",
        2,
        _m("Preconditions", F("uid", 1, STRING), F("resourceVersion", 2, STRING)),
    ),
    F("orphanDependents", 3, BOOL, pointer=True),
    F("propagationPolicy", 4, STRING),
    F("dryRun", 5, STRING, repeated=True),
)

BY_KIND: dict[str, Message] = {
    m.name: m
    for m in (
        NAMESPACE,
        SERVICE_ACCOUNT,
        ROLE,
        CLUSTER_ROLE,
        ROLE_BINDING,
        CLUSTER_ROLE_BINDING,
        SUBJECT_ACCESS_REVIEW,
        LOCAL_SUBJECT_ACCESS_REVIEW,
        SELF_SUBJECT_ACCESS_REVIEW,
        SELF_SUBJECT_RULES_REVIEW,
        TOKEN_REQUEST,
        TOKEN_REVIEW,
        SELF_SUBJECT_REVIEW,
        DELETE_OPTIONS,
    )
}


# --- checking JSON against a message -----------------------------------------------------------


class WrongType(ValueError):
    """A value of the wrong JSON type (Kubernetes answers 400 BadRequest)."""


def _go_type(field_type: FieldType, repeated: bool) -> str:
    base = {STRING: "string", INT: "int64", BOOL: "bool", TIME: "Time"}.get(
        field_type if isinstance(field_type, str) else "", ""
    )
    if isinstance(field_type, Message):
        base = field_type.name
    elif field_type in (STRING_MAP, EXTRA_MAP):
        base = "map[string]string" if field_type == STRING_MAP else "map[string]ExtraValue"
    return f"[]{base}" if repeated else base


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _mismatch(value: Any, field: Field, path: str, owner: str) -> WrongType:
    return WrongType(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field {owner}.{path} "
        f"of type {_go_type(field.type, field.repeated)}"
    )


def clean(value: Any, message: Message, unknown: list[str], path: str = "") -> dict[str, Any]:
    """`value` checked against `message`: wrong types raise WrongType, unknown fields are
    dropped (and their paths appended to `unknown`), nulls are dropped."""
    if not isinstance(value, dict):
        raise WrongType(
            f"json: cannot unmarshal {_json_kind(value)} into Go value of type {message.name}"
        )
    out: dict[str, Any] = {}
    for key, item in value.items():
        field_path = f"{path}.{key}" if path else key
        field = message.by_name(key)
        if field is None:
            unknown.append(field_path)
            continue
        if item is None:
            continue
        if field.repeated:
            if not isinstance(item, list):
                raise _mismatch(item, field, field_path, message.name)
            out[key] = [
                _clean_value(v, field, f"{field_path}[{i}]", message.name, unknown)
                for i, v in enumerate(item)
            ]
        else:
            out[key] = _clean_value(item, field, field_path, message.name, unknown)
    return out


def _clean_value(value: Any, field: Field, path: str, owner: str, unknown: list[str]) -> Any:
    kind = field.type
    if isinstance(kind, Message):
        return clean(value, kind, unknown, path)
    if kind == ANY:
        return value
    if kind in (STRING, TIME):
        if not isinstance(value, str):
            raise _mismatch(value, field, path, owner)
        return value
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise _mismatch(value, field, path, owner)
        return int(value)
    if kind == BOOL:
        if not isinstance(value, bool):
            raise _mismatch(value, field, path, owner)
        return value
    if kind == STRING_MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _mismatch(value, field, path, owner)
        return dict(value)
    if kind == EXTRA_MAP:
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value.values()
        ):
            raise _mismatch(value, field, path, owner)
        return {k: list(v) for k, v in value.items()}
    raise AssertionError(kind)
