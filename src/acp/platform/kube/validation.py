"""Validation as the Kubernetes API server does it: names, metadata and the fields of each kind.

Problems are `Cause`s, worded like Kubernetes field errors (`metadata.name: Invalid value:
"My_NS": a lowercase RFC 1123 label must …`), and are answered with 422 Invalid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from acp.platform.kube.errors import Cause
from acp.platform.kube.resources import RBAC_GROUP

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
MAX_ANNOTATIONS_BYTES = 256 * 1024

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


# --- field errors ----------------------------------------------------------------------------


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, "FieldValueInvalid", f"Invalid value: {_show(value)}: {detail}")


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    choices = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        path,
        "FieldValueNotSupported",
        f"Unsupported value: {_show(value)}: supported values: {choices}",
    )


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, "FieldValueForbidden", f"Forbidden: {detail}")


# --- names -----------------------------------------------------------------------------------


def dns1123_label(name: str) -> list[str]:
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not DNS1123_LABEL.fullmatch(name):
        problems.append(LABEL_MESSAGE)
    return problems


def dns1123_subdomain(name: str) -> list[str]:
    problems = []
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    if not DNS1123_SUBDOMAIN.fullmatch(name):
        problems.append(SUBDOMAIN_MESSAGE)
    return problems


def path_segment(name: str) -> list[str]:
    """Names of RBAC objects: anything that is one URL path segment."""
    problems = []
    if name in (".", ".."):
        problems.append(f"may not be '{name}'")
    for char in ("/", "%"):
        if char in name:
            problems.append(f"may not contain '{char}'")
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    return problems


NameCheck = Callable[[str], list[str]]


def _qualified_name(key: str) -> list[str]:
    prefix, sep, name = key.rpartition("/")
    problems = []
    if sep:
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems += [f"prefix part {p}" for p in dns1123_subdomain(prefix)]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not QUALIFIED_NAME.fullmatch(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        )
    return problems


def metadata_causes(meta: dict[str, Any], check_name: NameCheck) -> list[Cause]:
    causes: list[Cause] = []
    name = meta.get("name", "")
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    else:
        causes += [invalid("metadata.name", name, p) for p in check_name(name)]
    for key, value in (meta.get("labels") or {}).items():
        causes += [invalid("metadata.labels", key, p) for p in _qualified_name(key)]
        if len(value) > 63:
            causes.append(invalid("metadata.labels", value, "must be no more than 63 characters"))
        elif not LABEL_VALUE.fullmatch(value):
            causes.append(
                invalid(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character",
                )
            )
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += [invalid("metadata.annotations", key, p) for p in _qualified_name(key.lower())]
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_BYTES:
        causes.append(
            Cause(
                "metadata.annotations",
                "FieldValueTooLong",
                "Too long: must have at most 262144 bytes",
            )
        )
    if meta.get("finalizers"):
        causes.append(
            forbidden("metadata.finalizers", "finalizers are not supported by this server")
        )
    return causes


# --- kinds -----------------------------------------------------------------------------------


def namespace_causes(obj: dict[str, Any]) -> list[Cause]:
    return metadata_causes(obj["metadata"], dns1123_label)


def service_account_causes(obj: dict[str, Any]) -> list[Cause]:
    return metadata_causes(obj["metadata"], dns1123_subdomain)


def policy_rule_causes(rule: dict[str, Any], path: str, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    if not rule.get("verbs"):
        causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            causes.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return causes
    if not rule.get("apiGroups"):
        causes.append(
            required(f"{path}.apiGroups", "resource rules must supply at least one api group")
        )
    if not rule.get("resources"):
        causes.append(
            required(f"{path}.resources", "resource rules must supply at least one resource")
        )
    return causes


def role_causes(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    causes = metadata_causes(obj["metadata"], path_segment)
    for index, rule in enumerate(obj.get("rules") or []):
        causes += policy_rule_causes(rule, f"rules[{index}]", namespaced)
    if obj.get("aggregationRule"):
        causes.append(
            forbidden("aggregationRule", "aggregated ClusterRoles are not supported by this server")
        )
    return causes


SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def subject_causes(subject: dict[str, Any], path: str, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    name, kind = subject.get("name", ""), subject.get("kind", "")
    if not name:
        causes.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if subject.get("apiGroup", ""):
            causes.append(not_supported(f"{path}.apiGroup", subject["apiGroup"], [""]))
        if name:
            causes += [invalid(f"{path}.name", name, p) for p in dns1123_subdomain(name)]
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if subject.get("apiGroup") != RBAC_GROUP:
            causes.append(
                not_supported(f"{path}.apiGroup", subject.get("apiGroup", ""), [RBAC_GROUP])
            )
    else:
        causes.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return causes


def binding_causes(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    causes = metadata_causes(obj["metadata"], path_segment)
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    else:
        causes += [invalid("roleRef.name", ref["name"], p) for p in path_segment(ref["name"])]
    for index, subject in enumerate(obj.get("subjects") or []):
        causes += subject_causes(subject, f"subjects[{index}]", namespaced)
    return causes
