"""The one place that answers "may this identity do this, here?".

Each worker keeps a snapshot of a cluster's RBAC objects and a memo of decisions made on it.
Any change to an RBAC object bumps the `rbac:<cluster>` generation after its commit, which
makes every worker reload the snapshot on its next decision: a removed binding stops
granting on the very next request, whichever worker serves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acp.auth.identity import Identity
from acp.db import objects
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.rbac.attributes import Attributes
from acp.rbac.evaluate import (
    PolicyRule,
    binding_applies,
    describe_grant,
    rules_allow,
    rules_from_api,
    subject_matches,
)

MAX_MEMO = 50_000


@dataclass
class RbacSnapshot:
    generation: int
    cluster_roles: dict[str, tuple[PolicyRule, ...]]
    roles: dict[tuple[str, str], tuple[PolicyRule, ...]]
    cluster_bindings: list[Mapping[str, Any]]
    bindings_by_namespace: dict[str, list[Mapping[str, Any]]]
    memo: dict[tuple[Any, ...], bool] = field(default_factory=dict)

    @classmethod
    def build(cls, generation: int, items: Iterable[Mapping[str, Any]]) -> RbacSnapshot:
        snap = cls(generation, {}, {}, [], {})
        for item in items:
            meta = item["metadata"]
            kind = item["kind"]
            if kind == "ClusterRole":
                snap.cluster_roles[meta["name"]] = rules_from_api(item.get("rules"))
            elif kind == "Role":
                snap.roles[(meta["namespace"], meta["name"])] = rules_from_api(item.get("rules"))
            elif kind == "ClusterRoleBinding":
                snap.cluster_bindings.append(item)
            elif kind == "RoleBinding":
                snap.bindings_by_namespace.setdefault(meta["namespace"], []).append(item)
        return snap

    def _role_rules(self, binding: Mapping[str, Any]) -> tuple[PolicyRule, ...]:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            return self.cluster_roles.get(ref.get("name", ""), ())
        if ref.get("kind") == "Role":
            namespace = binding["metadata"].get("namespace", "")
            return self.roles.get((namespace, ref.get("name", "")), ())
        return ()

    def cluster_rules(self, identity: Identity) -> list[PolicyRule]:
        return [
            rule
            for binding in self.cluster_bindings
            if binding_applies(binding, identity)
            for rule in self._role_rules(binding)
        ]

    def namespace_rules(self, identity: Identity, namespace: str) -> list[PolicyRule]:
        return [
            rule
            for binding in self.bindings_by_namespace.get(namespace, ())
            if binding_applies(binding, identity)
            for rule in self._role_rules(binding)
        ]

    def rules_for(self, identity: Identity, namespace: str) -> list[PolicyRule]:
        rules = self.cluster_rules(identity)
        if namespace:
            rules += self.namespace_rules(identity, namespace)
        return rules

    def explain(self, identity: Identity, attrs: Attributes) -> str:
        """Which binding allows the request, in Kubernetes' words ("" if none does)."""
        bindings = list(self.cluster_bindings)
        if attrs.namespace:
            bindings += self.bindings_by_namespace.get(attrs.namespace, [])
        for binding in bindings:
            namespace = binding["metadata"].get("namespace", "")
            subject = next(
                (
                    s
                    for s in binding.get("subjects") or ()
                    if subject_matches(s, identity, namespace)
                ),
                None,
            )
            if subject is not None and rules_allow(self._role_rules(binding), attrs):
                return describe_grant(binding, subject)
        return ""

    def allowed(self, identity: Identity, attrs: Attributes) -> bool:
        key = (identity.username, identity.groups, attrs)
        decision = self.memo.get(key)
        if decision is None:
            decision = rules_allow(self.rules_for(identity, attrs.namespace), attrs)
            if len(self.memo) >= MAX_MEMO:
                self.memo.clear()
            self.memo[key] = decision
        return decision


class Authorizer:
    def __init__(self, db: Database, generations: Generations, clusters: Mapping[str, int]):
        self._db = db
        self._generations = generations
        self._clusters = clusters
        self._snapshots: dict[str, RbacSnapshot] = {}

    async def snapshot(self, cluster: str) -> RbacSnapshot:
        generation = self._generations.current(f"rbac:{cluster}")
        snap = self._snapshots.get(cluster)
        if snap is not None and snap.generation == generation:
            return snap
        async with self._db.read() as conn:
            items = await objects.list_objects(conn, self._clusters[cluster], objects.RBAC_KINDS)
        snap = RbacSnapshot.build(generation, items)
        self._snapshots[cluster] = snap
        return snap

    @staticmethod
    def _foreign(identity: Identity, cluster: str) -> bool:
        # A ServiceAccount exists in one cluster only; elsewhere it holds nothing.
        return identity.is_service_account and identity.cluster != cluster

    async def allowed(self, identity: Identity, attrs: Attributes, cluster: str) -> bool:
        if self._foreign(identity, cluster):
            return False
        return (await self.snapshot(cluster)).allowed(identity, attrs)

    async def explain(self, identity: Identity, attrs: Attributes, cluster: str) -> str:
        if self._foreign(identity, cluster):
            return ""
        return (await self.snapshot(cluster)).explain(identity, attrs)

    async def rules_for(self, identity: Identity, cluster: str, namespace: str) -> list[PolicyRule]:
        if self._foreign(identity, cluster):
            return []
        return (await self.snapshot(cluster)).rules_for(identity, namespace)

    async def namespaces_allowing(
        self, identity: Identity, attrs: Attributes, cluster: str
    ) -> set[str] | None:
        """Namespaces where `attrs` (namespace ignored) is allowed; None means every one."""
        if self._foreign(identity, cluster):
            return set()
        snap = await self.snapshot(cluster)
        if rules_allow(snap.cluster_rules(identity), attrs):
            return None
        return {
            namespace
            for namespace in snap.bindings_by_namespace
            if rules_allow(snap.namespace_rules(identity, namespace), attrs)
        }
