"""Kubernetes RBAC semantics as pure functions over plain RBAC objects (dicts, as in the API).

Nothing here touches the database or the network, so every rule of the model is testable
on its own: rule matching, subject matching, binding scope, and the escalation check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acp.auth.identity import SA_PREFIX, Identity
from acp.rbac.attributes import Attributes

RBAC_GROUP = "rbac.authorization.k8s.io"

Rule = Mapping[str, Any]


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, rule: Rule) -> PolicyRule:
        return cls(
            verbs=tuple(rule.get("verbs") or ()),
            api_groups=tuple(rule.get("apiGroups") or ()),
            resources=tuple(rule.get("resources") or ()),
            resource_names=tuple(rule.get("resourceNames") or ()),
            non_resource_urls=tuple(rule.get("nonResourceURLs") or ()),
        )

    def to_api(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"verbs": list(self.verbs)}
        if self.api_groups or self.resources:
            out["apiGroups"] = list(self.api_groups)
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out


def rules_from_api(rules: Iterable[Rule] | None) -> tuple[PolicyRule, ...]:
    return tuple(PolicyRule.from_api(r) for r in rules or ())


# --- rule matching ---------------------------------------------------------------------------


def _verb_matches(rule: PolicyRule, verb: str) -> bool:
    return "*" in rule.verbs or verb in rule.verbs


def _group_matches(rule: PolicyRule, group: str) -> bool:
    return "*" in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: PolicyRule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.resources:
        if candidate in ("*", combined):
            return True
        # "*/scale" grants the scale subresource of every resource.
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def _url_matches(rule: PolicyRule, path: str) -> bool:
    for candidate in rule.non_resource_urls:
        if candidate in ("*", path):
            return True
        if candidate.endswith("*") and path.startswith(candidate.rstrip("*")):
            return True
    return False


def rule_allows(rule: PolicyRule, attrs: Attributes) -> bool:
    if not _verb_matches(rule, attrs.verb):
        return False
    if attrs.is_resource_request:
        return (
            _group_matches(rule, attrs.api_group)
            and _resource_matches(rule, attrs.resource, attrs.subresource)
            and _name_matches(rule, attrs.name)
        )
    return _url_matches(rule, attrs.path)


def rules_allow(rules: Iterable[PolicyRule], attrs: Attributes) -> bool:
    return any(rule_allows(rule, attrs) for rule in rules)


# --- subjects and bindings -------------------------------------------------------------------


def subject_matches(subject: Mapping[str, Any], identity: Identity, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return name == identity.username
    if kind == "Group":
        return name in identity.groups
    if kind == "ServiceAccount":
        # A RoleBinding may name a ServiceAccount of its own namespace without a namespace;
        # a ClusterRoleBinding must give one.
        namespace = subject.get("namespace") or binding_namespace
        if not namespace or not name:
            return False
        return identity.username == f"{SA_PREFIX}{namespace}:{name}"
    return False


def describe_grant(binding: Mapping[str, Any], subject: Mapping[str, Any]) -> str:
    """`RBAC: allowed by RoleBinding "pull/my-ns" of ClusterRole "view" to User "alice"`."""
    meta = binding.get("metadata", {})
    namespace = meta.get("namespace", "")
    ref = binding.get("roleRef") or {}
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject.get('namespace') or namespace}"
    if namespace:
        source = f'RoleBinding "{meta.get("name", "")}/{namespace}"'
    else:
        source = f'ClusterRoleBinding "{meta.get("name", "")}"'
    return (
        f'RBAC: allowed by {source} of {ref.get("kind", "")} "{ref.get("name", "")}" to '
        f'{subject.get("kind", "")} "{who}"'
    )


def binding_applies(binding: Mapping[str, Any], identity: Identity) -> bool:
    namespace = binding.get("metadata", {}).get("namespace", "")
    return any(subject_matches(s, identity, namespace) for s in binding.get("subjects") or ())


# --- escalation prevention -------------------------------------------------------------------


def _expand(rule: PolicyRule) -> Iterator[PolicyRule]:
    """Split a rule into rules of one verb, group, resource and name (or URL) each."""
    for verb in rule.verbs:
        for url in rule.non_resource_urls:
            yield PolicyRule(verbs=(verb,), non_resource_urls=(url,))
        for group in rule.api_groups:
            for resource in rule.resources:
                names: Sequence[str] = rule.resource_names or ("",)
                for name in names:
                    yield PolicyRule(
                        verbs=(verb,),
                        api_groups=(group,),
                        resources=(resource,),
                        resource_names=(name,) if name else (),
                    )


def _rule_covers(owner: PolicyRule, atom: PolicyRule) -> bool:
    """Does `owner` grant everything the single-atom rule `atom` grants?"""
    verb = atom.verbs[0]
    if "*" not in owner.verbs and verb not in owner.verbs:
        return False
    if atom.non_resource_urls:
        url = atom.non_resource_urls[0]
        for candidate in owner.non_resource_urls:
            if candidate in ("*", url):
                return True
            if candidate.endswith("*") and url.startswith(candidate.rstrip("*")):
                return True
        return False
    group, resource = atom.api_groups[0], atom.resources[0]
    if "*" not in owner.api_groups and group not in owner.api_groups:
        return False
    if not any(_resource_covers(candidate, resource) for candidate in owner.resources):
        return False
    if not owner.resource_names:
        return True
    return bool(atom.resource_names) and atom.resource_names[0] in owner.resource_names


def _resource_covers(owner: str, wanted: str) -> bool:
    if owner in ("*", wanted):
        return True
    # "*/status" covers "pods/status" and "*/status", but not "pods".
    if owner.startswith("*/") and "/" in wanted:
        return wanted.split("/", 1)[1] == owner[2:]
    return False


def uncovered_rules(
    owner_rules: Iterable[PolicyRule], wanted_rules: Iterable[PolicyRule]
) -> list[PolicyRule]:
    """The parts of `wanted_rules` that `owner_rules` do not grant (empty: fully covered)."""
    owner = list(owner_rules)
    return [
        atom
        for rule in wanted_rules
        for atom in _expand(rule)
        if not any(_rule_covers(o, atom) for o in owner)
    ]
