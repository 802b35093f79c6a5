"""RBAC decisions, table-driven, against one world of roles and bindings (pure: no database).

Each row is a question the authorizer answers and the answer Kubernetes RBAC gives. A
hypothesis property checks that bindings only ever add permissions.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acp.auth.identity import ANONYMOUS, Identity, service_account_identity, user_identity
from acp.rbac import builtin, escalation
from acp.rbac.attributes import IMAGE_API_GROUP, Attributes, registry_pull, registry_push
from acp.rbac.authorizer import RbacSnapshot
from acp.rbac.evaluate import RBAC_GROUP

RBAC = RBAC_GROUP
IMG = IMAGE_API_GROUP


def rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None):
    out: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def cluster_role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def role(namespace: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": list(rules),
    }


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def sa(name: str, namespace: str = "") -> dict[str, str]:
    out = {"kind": "ServiceAccount", "name": name}
    if namespace:
        out["namespace"] = namespace
    return out


def binding(namespace: str, name: str, kind: str, role_name: str, *subjects: dict[str, str]):
    out: dict[str, Any] = {
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }
    return out


CUSTOM_ROLES = [
    cluster_role("image-reader-any", rule([IMG], ["*"], ["get"])),
    cluster_role("sa-everything", rule([""], ["serviceaccounts"], ["*"])),
    cluster_role("scale-any", rule(["apps"], ["*/scale"], ["get", "update"])),
    cluster_role("named-sa", rule([""], ["serviceaccounts"], ["get", "delete"], ["builder"])),
    cluster_role(
        "ops-urls",
        {"nonResourceURLs": ["/metrics", "/logs/*", "/debug/**"], "verbs": ["get"]},
    ),
    cluster_role("roles-any-group", rule(["*"], ["roles"], ["list"])),
    cluster_role("binder", rule([RBAC], ["clusterroles"], ["bind"], ["cluster-admin"])),
    cluster_role("escalator", rule([RBAC], ["roles"], ["escalate", "create"])),
    cluster_role("impersonator", rule([""], ["users"], ["impersonate"], ["alice"])),
    role("team-a", "sa-reader", rule([""], ["serviceaccounts"], ["get", "list"])),
]
CUSTOM_BINDINGS = [
    binding("", "ops-urls", "ClusterRole", "ops-urls", group("ops")),
    binding("", "scale-carol", "ClusterRole", "scale-any", user("carol")),
    binding("", "crb-sa-without-namespace", "ClusterRole", "cluster-admin", sa("root")),
    binding("", "impersonate-alice", "ClusterRole", "impersonator", user("kate")),
    binding("team-a", "alice-puller", "ClusterRole", "system:image-puller", user("alice")),
    binding("team-a", "bob-role", "Role", "sa-reader", user("bob")),
    binding("team-a", "devs-pusher", "ClusterRole", "system:image-pusher", group("devs")),
    binding("team-a", "ci-from-b", "ClusterRole", "system:image-pusher", sa("ci", "team-b")),
    binding("team-a", "local-deployer", "ClusterRole", "system:image-deleter", sa("deployer")),
    binding("team-a", "named", "ClusterRole", "named-sa", user("dave")),
    binding("team-a", "wild", "ClusterRole", "image-reader-any", user("erin")),
    binding("team-a", "star", "ClusterRole", "sa-everything", user("frank")),
    binding("team-a", "ghost", "Role", "missing-role", user("gina")),
    binding("team-a", "admin-hank", "ClusterRole", "admin", user("hank")),
    binding("team-a", "binder-jack", "ClusterRole", "binder", user("jack")),
    binding("team-a", "escalator-lena", "ClusterRole", "escalator", user("lena")),
    binding("team-a", "roles-mia", "ClusterRole", "roles-any-group", user("mia")),
    binding(
        "team-b",
        "team-a-sas-pull",
        "ClusterRole",
        "system:image-puller",
        group("system:serviceaccounts:team-a"),
    ),
    binding(
        "public",
        "anonymous-pull",
        "ClusterRole",
        "system:image-puller",
        group("system:unauthenticated"),
    ),
    binding("team-b", "everyone-view", "ClusterRole", "view", group("system:authenticated")),
]


def world(*, without: str = "", extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    items = (
        builtin.cluster_role_objects()
        + builtin.cluster_role_binding_objects()
        + CUSTOM_ROLES
        + CUSTOM_BINDINGS
        + (extra or [])
    )
    return [i for i in items if i["metadata"]["name"] != without]


SNAPSHOT = RbacSnapshot.build(0, world())

ALICE = user_identity("alice", "u-alice", [], "session")
BOB = user_identity("bob", "u-bob", [], "session")
CAROL = user_identity("carol", "u-carol", [], "session")
DAVE = user_identity("dave", "u-dave", [], "session")
ERIN = user_identity("erin", "u-erin", [], "session")
FRANK = user_identity("frank", "u-frank", [], "session")
GINA = user_identity("gina", "u-gina", [], "session")
HANK = user_identity("hank", "u-hank", [], "session")
IVAN = user_identity("ivan", "u-ivan", ["devs"], "session")
JACK = user_identity("jack", "u-jack", [], "session")
KATE = user_identity("kate", "u-kate", [], "session")
LENA = user_identity("lena", "u-lena", [], "session")
MIA = user_identity("mia", "u-mia", [], "session")
OPS = user_identity("oscar", "u-oscar", ["ops"], "session")
ADMIN = user_identity("admin", "u-admin", [], "session")
NOBODY = user_identity("nobody", "u-nobody", [], "session")
CI_B = service_account_identity("c", "team-b", "ci", "sa-ci")
DEPLOYER_A = service_account_identity("c", "team-a", "deployer", "sa-deployer")
DEPLOYER_B = service_account_identity("c", "team-b", "deployer", "sa-deployer-b")
OTHER_A = service_account_identity("c", "team-a", "other", "sa-other")
ROOT = service_account_identity("c", "", "root", "sa-root")
MASTER = Identity("master", ("system:masters", "system:authenticated"))


def res(verb: str, resource: str, ns: str = "", name: str = "", group: str = "", sub: str = ""):
    return Attributes(verb, resource, sub, group, ns, name)


def url(verb: str, path: str) -> Attributes:
    return Attributes(verb, path=path)


# (description, identity, attributes, expected)
DECISIONS: list[tuple[str, Identity, Attributes, bool]] = [
    # --- RoleBinding to a ClusterRole, user subject --------------------------------------------
    ("puller may pull in its namespace", ALICE, registry_pull("team-a", "app"), True),
    ("puller may not push", ALICE, registry_push("team-a", "app"), False),
    ("puller binding does not reach another namespace", ALICE, registry_pull("team-c"), False),
    ("puller binding is not cluster-wide", ALICE, registry_pull(""), False),
    (
        "pull is the layers subresource, not the imagestream",
        ALICE,
        res("get", "imagestreams", "team-a", group=IMG),
        False,
    ),
    (
        "kubectl's TYPE/NAME reading asks about an imagestream named 'layers.image.acp.io'",
        ALICE,
        res("get", "imagestreams", "team-a", "layers.image.acp.io", IMG),
        False,
    ),
    (
        "puller subresource in the wrong API group",
        ALICE,
        res("get", "imagestreams", "team-a", group="", sub="layers"),
        False,
    ),
    ("puller may not list images", ALICE, res("list", "images", "team-a", group=IMG), False),
    # --- Role via RoleBinding ------------------------------------------------------------------
    ("Role grants get in its namespace", BOB, res("get", "serviceaccounts", "team-a", "x"), True),
    ("Role grants list in its namespace", BOB, res("list", "serviceaccounts", "team-a"), True),
    ("Role does not grant delete", BOB, res("delete", "serviceaccounts", "team-a", "x"), False),
    ("Role does not reach another namespace", BOB, res("get", "serviceaccounts", "team-c"), False),
    ("Role grants nothing cluster-wide", BOB, res("list", "serviceaccounts"), False),
    (
        "Role grants no subresource",
        BOB,
        res("create", "serviceaccounts", "team-a", "x", sub="token"),
        False,
    ),
    (
        "binding to a missing Role grants nothing",
        GINA,
        res("get", "serviceaccounts", "team-a"),
        False,
    ),
    # --- ClusterRoleBinding --------------------------------------------------------------------
    (
        "ClusterRoleBinding grants in every namespace",
        CAROL,
        res("get", "deployments", "team-z", "web", "apps", "scale"),
        True,
    ),
    (
        "ClusterRoleBinding grants cluster-scoped requests",
        CAROL,
        res("update", "deployments", "", "web", "apps", "scale"),
        True,
    ),
    (
        "*/scale matches scale of any resource",
        CAROL,
        res("get", "statefulsets", "team-a", "db", "apps", "scale"),
        True,
    ),
    (
        "*/scale does not match the resource itself",
        CAROL,
        res("get", "deployments", "team-a", "web", "apps"),
        False,
    ),
    (
        "*/scale does not match another subresource",
        CAROL,
        res("get", "deployments", "team-a", "web", "apps", "status"),
        False,
    ),
    (
        "*/scale does not match another API group",
        CAROL,
        res("get", "deployments", "team-a", "web", "extensions", "scale"),
        False,
    ),
    ("bootstrap admin may do anything", ADMIN, res("delete", "namespaces", "x", "x"), True),
    ("bootstrap admin may use any URL", ADMIN, url("post", "/anything/at/all"), True),
    (
        "ClusterRoleBinding SA subject without namespace matches no one",
        ROOT,
        res("get", "serviceaccounts", "x"),
        False,
    ),
    # --- wildcards -----------------------------------------------------------------------------
    (
        "resources '*' covers any resource of the group",
        ERIN,
        res("get", "images", "team-a", "x", IMG),
        True,
    ),
    (
        "resources '*' covers subresources too",
        ERIN,
        res("get", "imagestreams", "team-a", "x", IMG, "layers"),
        True,
    ),
    ("resources '*' stays within its group", ERIN, res("get", "serviceaccounts", "team-a"), False),
    (
        "resources '*' does not widen verbs",
        ERIN,
        res("delete", "images", "team-a", "x", IMG),
        False,
    ),
    (
        "verbs '*' covers every verb",
        FRANK,
        res("deletecollection", "serviceaccounts", "team-a"),
        True,
    ),
    (
        "verbs '*' covers custom verbs",
        FRANK,
        res("impersonate", "serviceaccounts", "team-a", "x"),
        True,
    ),
    (
        "verbs '*' on a resource is not its subresources",
        FRANK,
        res("create", "serviceaccounts", "team-a", "x", sub="token"),
        False,
    ),
    ("apiGroups '*' covers any group", MIA, res("list", "roles", "team-a", group=RBAC), True),
    ("apiGroups '*' covers the core group", MIA, res("list", "roles", "team-a"), True),
    (
        "apiGroups '*' keeps the resource",
        MIA,
        res("list", "rolebindings", "team-a", group=RBAC),
        False,
    ),
    # --- resourceNames -------------------------------------------------------------------------
    (
        "resourceNames allow the named object",
        DAVE,
        res("get", "serviceaccounts", "team-a", "builder"),
        True,
    ),
    (
        "resourceNames refuse other names",
        DAVE,
        res("get", "serviceaccounts", "team-a", "other"),
        False,
    ),
    (
        "resourceNames never allow list (no name)",
        DAVE,
        res("list", "serviceaccounts", "team-a"),
        False,
    ),
    (
        "resourceNames allow delete of the name",
        DAVE,
        res("delete", "serviceaccounts", "team-a", "builder"),
        True,
    ),
    (
        "resourceNames do not allow other verbs",
        DAVE,
        res("update", "serviceaccounts", "team-a", "builder"),
        False,
    ),
    # --- groups and system groups --------------------------------------------------------------
    ("group subject grants its members", IVAN, registry_push("team-a", "app"), True),
    ("group subject does not grant non-members", NOBODY, registry_push("team-a", "app"), False),
    (
        "system:unauthenticated binding lets anonymous pull",
        ANONYMOUS,
        registry_pull("public"),
        True,
    ),
    ("anonymous may not push there", ANONYMOUS, registry_push("public"), False),
    ("anonymous gets nothing elsewhere", ANONYMOUS, registry_pull("team-a"), False),
    ("a logged-in user is not system:unauthenticated", NOBODY, registry_pull("public"), False),
    ("system:authenticated binding grants every user", NOBODY, registry_pull("team-b"), True),
    (
        "system:authenticated binding grants ServiceAccounts",
        DEPLOYER_B,
        res("get", "serviceaccounts", "team-b", "x"),
        True,
    ),
    ("anonymous is not system:authenticated", ANONYMOUS, registry_pull("team-b"), False),
    ("anonymous may read /version", ANONYMOUS, url("get", "/version"), True),
    ("anonymous may not read discovery", ANONYMOUS, url("get", "/api"), False),
    ("users may read discovery", NOBODY, url("get", "/apis/rbac.authorization.k8s.io/v1"), True),
    (
        "users may ask what they may do",
        NOBODY,
        res("create", "selfsubjectaccessreviews", group="authorization.k8s.io"),
        True,
    ),
    (
        "users may not ask about others",
        NOBODY,
        res("create", "subjectaccessreviews", group="authorization.k8s.io"),
        False,
    ),
    (
        "system:serviceaccounts:<ns> group grants that namespace's SAs",
        OTHER_A,
        registry_pull("team-b"),
        True,
    ),
    # --- ServiceAccounts -----------------------------------------------------------------------
    ("SA bound in another namespace may push there", CI_B, registry_push("team-a", "app"), True),
    ("SA bound elsewhere gets nothing in its own namespace", CI_B, registry_push("team-b"), False),
    (
        "SA subject without namespace means the binding's namespace",
        DEPLOYER_A,
        res("delete", "images", "team-a", "app", IMG),
        True,
    ),
    (
        "…and not an SA of the same name elsewhere",
        DEPLOYER_B,
        res("delete", "images", "team-a", "app", IMG),
        False,
    ),
    (
        "an SA is not its namespace's other SAs",
        OTHER_A,
        res("delete", "images", "team-a", "app", IMG),
        False,
    ),
    # --- namespace admin -----------------------------------------------------------------------
    (
        "admin may manage RoleBindings in its namespace",
        HANK,
        res("create", "rolebindings", "team-a", group=RBAC),
        True,
    ),
    ("admin may push", HANK, registry_push("team-a", "app"), True),
    ("admin may delete tags", HANK, res("delete", "imagestreamtags", "team-a", "x", IMG), True),
    (
        "admin may read its namespace object",
        HANK,
        res("get", "namespaces", "team-a", "team-a"),
        True,
    ),
    (
        "admin may not delete its namespace",
        HANK,
        res("delete", "namespaces", "team-a", "team-a"),
        False,
    ),
    ("admin may not create namespaces", HANK, res("create", "namespaces"), False),
    (
        "admin has no rights in other namespaces",
        HANK,
        res("create", "rolebindings", "team-c", group=RBAC),
        False,
    ),
    ("admin may not touch ClusterRoles", HANK, res("create", "clusterroles", group=RBAC), False),
    # --- non-resource URLs ---------------------------------------------------------------------
    ("exact URL", OPS, url("get", "/metrics"), True),
    ("URL prefix with '*'", OPS, url("get", "/logs/today/app.log"), True),
    ("URL '*' needs the prefix", OPS, url("get", "/logsx"), False),
    ("trailing '**' counts as one '*'", OPS, url("get", "/debug/pprof"), True),
    ("URL rules do not cover other verbs", OPS, url("post", "/metrics"), False),
    ("URL rules never match resources", OPS, res("get", "metrics"), False),
    # --- impersonate, bind, escalate verbs -----------------------------------------------------
    ("impersonate is granted per user name", KATE, res("impersonate", "users", name="alice"), True),
    (
        "impersonate of another user is refused",
        KATE,
        res("impersonate", "users", name="bob"),
        False,
    ),
    (
        "bind on a named ClusterRole, in the binding's namespace",
        JACK,
        res("bind", "clusterroles", "team-a", "cluster-admin", RBAC),
        True,
    ),
    (
        "bind is not granted for other roles",
        JACK,
        res("bind", "clusterroles", "team-a", "admin", RBAC),
        False,
    ),
]


@pytest.mark.parametrize(
    ("identity", "attrs", "expected"),
    [pytest.param(who, attrs, expected, id=text) for text, who, attrs, expected in DECISIONS],
)
def test_decision(identity: Identity, attrs: Attributes, expected: bool) -> None:
    assert SNAPSHOT.allowed(identity, attrs) is expected
    # The memo answers the same the second time.
    assert SNAPSHOT.allowed(identity, attrs) is expected


# --- deleted bindings --------------------------------------------------------------------------

DELETIONS = [
    ("alice-puller", ALICE, registry_pull("team-a")),
    ("devs-pusher", IVAN, registry_push("team-a")),
    ("ci-from-b", CI_B, registry_push("team-a")),
    ("scale-carol", CAROL, res("get", "deployments", "x", "web", "apps", "scale")),
    ("anonymous-pull", ANONYMOUS, registry_pull("public")),
    ("ops-urls", OPS, url("get", "/metrics")),
    ("acp:bootstrap-admin", ADMIN, res("delete", "namespaces", "x", "x")),
]


@pytest.mark.parametrize(("binding_name", "identity", "attrs"), DELETIONS)
def test_deleted_binding_no_longer_grants(
    binding_name: str, identity: Identity, attrs: Attributes
) -> None:
    assert SNAPSHOT.allowed(identity, attrs)
    assert not RbacSnapshot.build(1, world(without=binding_name)).allowed(identity, attrs)


def test_deleted_role_no_longer_grants() -> None:
    assert SNAPSHOT.allowed(BOB, res("get", "serviceaccounts", "team-a", "x"))
    without_role = RbacSnapshot.build(1, world(without="sa-reader"))
    assert not without_role.allowed(BOB, res("get", "serviceaccounts", "team-a", "x"))


# --- escalation prevention ---------------------------------------------------------------------


def _escalates(identity: Identity, obj: dict[str, Any]) -> bool | str:
    """True if the write would be refused, False if allowed, "missing" if the role is unknown."""
    try:
        if obj["kind"] in ("Role", "ClusterRole"):
            return bool(escalation.role_escalation(SNAPSHOT, identity, obj))
        return bool(escalation.binding_escalation(SNAPSHOT, identity, obj))
    except escalation.RoleNotFound:
        return "missing"


ESCALATIONS: list[tuple[str, Identity, dict[str, Any], bool | str]] = [
    (
        "namespace admin cannot grant cluster-admin",
        HANK,
        binding("team-a", "x", "ClusterRole", "cluster-admin", user("alice")),
        True,
    ),
    (
        "namespace admin may grant admin there",
        HANK,
        binding("team-a", "x", "ClusterRole", "admin", user("alice")),
        False,
    ),
    (
        "namespace admin may grant edit there",
        HANK,
        binding("team-a", "x", "ClusterRole", "edit", user("alice")),
        False,
    ),
    (
        "namespace admin may grant view there",
        HANK,
        binding("team-a", "x", "ClusterRole", "view", user("alice")),
        False,
    ),
    (
        "namespace admin may grant pull",
        HANK,
        binding("team-a", "x", "ClusterRole", "system:image-puller", user("alice")),
        False,
    ),
    (
        "namespace admin may grant push",
        HANK,
        binding("team-a", "x", "ClusterRole", "system:image-pusher", sa("ci", "team-b")),
        False,
    ),
    (
        "namespace admin may grant delete",
        HANK,
        binding("team-a", "x", "ClusterRole", "system:image-deleter", user("alice")),
        False,
    ),
    (
        "namespace admin may grant a Role of the namespace",
        HANK,
        binding("team-a", "x", "Role", "sa-reader", user("alice")),
        False,
    ),
    (
        "namespace admin cannot grant in another namespace",
        HANK,
        binding("team-c", "x", "ClusterRole", "view", user("alice")),
        True,
    ),
    (
        "namespace admin cannot grant cluster-wide",
        HANK,
        binding("", "x", "ClusterRole", "system:image-puller", user("alice")),
        True,
    ),
    (
        "puller cannot grant push",
        ALICE,
        binding("team-a", "x", "ClusterRole", "system:image-pusher", user("bob")),
        True,
    ),
    (
        "puller may pass on exactly what it holds",
        ALICE,
        binding("team-a", "x", "ClusterRole", "system:image-puller", user("bob")),
        False,
    ),
    (
        "without bind, a role one lacks cannot be bound",
        NOBODY,
        binding("team-a", "x", "ClusterRole", "system:image-puller", user("bob")),
        True,
    ),
    (
        "with bind on the role, it can be bound",
        JACK,
        binding("team-a", "x", "ClusterRole", "cluster-admin", user("bob")),
        False,
    ),
    (
        "bind is limited to the namespace it was granted in",
        JACK,
        binding("team-b", "x", "ClusterRole", "cluster-admin", user("bob")),
        True,
    ),
    (
        "bind is limited to the named role",
        JACK,
        binding("team-a", "x", "ClusterRole", "admin", user("bob")),
        True,
    ),
    (
        "a missing role cannot be bound without bind",
        HANK,
        binding("team-a", "x", "ClusterRole", "no-such-role", user("bob")),
        "missing",
    ),
    (
        "cluster-admin may bind a role that does not exist yet",
        ADMIN,
        binding("team-a", "x", "ClusterRole", "no-such-role", user("bob")),
        False,
    ),
    (
        "system:masters are exempt",
        MASTER,
        binding("", "x", "ClusterRole", "cluster-admin", user("bob")),
        False,
    ),
    (
        "admin may create a Role within its rights",
        HANK,
        role("team-a", "r", rule([""], ["serviceaccounts"], ["get"])),
        False,
    ),
    (
        "admin cannot create a Role beyond its rights",
        HANK,
        role("team-a", "r", rule([""], ["secrets"], ["get"])),
        True,
    ),
    (
        "admin cannot create a wildcard Role",
        HANK,
        role("team-a", "r", rule(["*"], ["*"], ["*"])),
        True,
    ),
    (
        "admin cannot create a ClusterRole even of its own rules",
        HANK,
        cluster_role("r", rule([""], ["serviceaccounts"], ["get"])),
        True,
    ),
    (
        "escalate on roles allows any Role",
        LENA,
        role("team-a", "r", rule(["*"], ["*"], ["*"])),
        False,
    ),
    (
        "escalate is limited to its namespace",
        LENA,
        role("team-b", "r", rule([""], ["secrets"], ["get"])),
        True,
    ),
    (
        "resourceNames narrower than held rights are fine",
        BOB,
        role("team-a", "r", rule([""], ["serviceaccounts"], ["get"], ["builder"])),
        False,
    ),
    (
        "named rights do not cover unnamed ones",
        DAVE,
        role("team-a", "r", rule([""], ["serviceaccounts"], ["get"])),
        True,
    ),
    (
        "*/scale held covers a scale rule",
        CAROL,
        role("team-a", "r", rule(["apps"], ["deployments/scale"], ["get"])),
        False,
    ),
]


@pytest.mark.parametrize(
    ("identity", "obj", "expected"),
    [pytest.param(who, obj, expected, id=text) for text, who, obj, expected in ESCALATIONS],
)
def test_escalation(identity: Identity, obj: dict[str, Any], expected: bool | str) -> None:
    assert _escalates(identity, obj) == expected


def test_escalation_reports_what_is_missing() -> None:
    missing = escalation.binding_escalation(
        SNAPSHOT, ALICE, binding("team-a", "x", "ClusterRole", "system:image-pusher", user("b"))
    )
    assert [(r.verbs, r.resources) for r in missing] == [(("update",), ("imagestreams/layers",))]


def test_enough_decisions() -> None:
    assert len(DECISIONS) + len(DELETIONS) + len(ESCALATIONS) >= 60


# --- property: bindings only add ---------------------------------------------------------------

VERBS = ["get", "list", "update", "*"]
GROUPS = ["", IMG, "*"]
RESOURCES = ["images", "imagestreams", "imagestreams/layers", "*/layers", "*"]
NAMES = ["", "a", "b"]
NAMESPACES = ["n1", "n2"]
USERS = ["u1", "u2"]
USER_GROUPS = ["g1", "g2", "system:authenticated"]

rules_st = st.lists(
    st.builds(
        lambda verbs, groups, resources, names: rule(groups, resources, verbs, names or None),
        st.lists(st.sampled_from(VERBS), min_size=1, max_size=2, unique=True),
        st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2, unique=True),
        st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2, unique=True),
        st.lists(st.sampled_from(NAMES[1:]), max_size=1),
    ),
    min_size=1,
    max_size=3,
)
subject_st = st.one_of(
    st.builds(user, st.sampled_from(USERS)),
    st.builds(group, st.sampled_from(USER_GROUPS)),
    st.builds(sa, st.sampled_from(["s1"]), st.sampled_from(["", *NAMESPACES])),
)
binding_st = st.builds(
    lambda ns, index, role_index, subjects: binding(
        ns, f"b{index}", "ClusterRole", f"r{role_index}", *subjects
    ),
    st.sampled_from(["", *NAMESPACES]),
    st.integers(0, 1000),
    st.integers(0, 2),
    st.lists(subject_st, min_size=1, max_size=2),
)
identity_st = st.one_of(
    st.builds(
        lambda name, groups: user_identity(name, "", groups, "session"),
        st.sampled_from(USERS),
        st.lists(st.sampled_from(USER_GROUPS[:2]), max_size=2, unique=True),
    ),
    st.builds(lambda ns: service_account_identity("c", ns, "s1", ""), st.sampled_from(NAMESPACES)),
)
attrs_st = st.builds(
    lambda verb, group_, resource, name, ns: Attributes(
        verb,
        resource.split("/")[0],
        resource.split("/")[1] if "/" in resource else "",
        group_,
        ns,
        name,
    ),
    st.sampled_from(["get", "list", "update", "delete"]),
    st.sampled_from(["", IMG]),
    st.sampled_from(["images", "imagestreams", "imagestreams/layers", "imagestreams/other"]),
    st.sampled_from(NAMES),
    st.sampled_from(["", *NAMESPACES]),
)


@settings(max_examples=300, deadline=None)
@given(
    roles=st.lists(rules_st, min_size=3, max_size=3),
    bindings=st.lists(binding_st, max_size=4, unique_by=lambda b: b["metadata"]["name"]),
    new=binding_st,
    identity=identity_st,
    attrs=attrs_st,
)
def test_adding_a_binding_never_removes_and_removing_never_adds(
    roles: list[list[dict[str, Any]]],
    bindings: list[dict[str, Any]],
    new: dict[str, Any],
    identity: Identity,
    attrs: Attributes,
) -> None:
    new["metadata"]["name"] = "the-new-one"
    role_objects = [cluster_role(f"r{i}", *r) for i, r in enumerate(roles)]
    before = RbacSnapshot.build(0, role_objects + bindings).allowed(identity, attrs)
    after = RbacSnapshot.build(1, [*role_objects, *bindings, new]).allowed(identity, attrs)
    assert after or not before  # adding never removes
    for removed in bindings:
        rest = [b for b in bindings if b is not removed]
        fewer = RbacSnapshot.build(2, role_objects + rest).allowed(identity, attrs)
        assert before or not fewer  # removing never adds
