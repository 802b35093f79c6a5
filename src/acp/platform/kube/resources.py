"""The resource types the Kubernetes-compatible API serves (and announces in discovery)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHORIZATION_GROUP = "authorization.k8s.io"
AUTHENTICATION_GROUP = "authentication.k8s.io"
IMAGE_GROUP = "image.acp.io"

CRUD = ("create", "delete", "deletecollection", "get", "list", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources answer for this type at `<plural>/<subresource>`.
    subresource: str = ""
    # A subresource's request and response kind may live in another group (TokenRequest).
    sub_group: str = ""
    sub_version: str = ""
    # Stored objects (kube_objects) rather than computed answers (reviews).
    stored: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        return f"{self.plural}/{self.subresource}" if self.subresource else self.plural

    def discovery(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "singularName": "" if self.subresource else self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.sub_group or self.sub_version:
            entry["group"] = self.sub_group
            entry["version"] = self.sub_version
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        return entry


NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    False,
    ("create", "delete", "get", "list", "patch", "update"),
    ("ns",),
)
SERVICE_ACCOUNTS = ResourceType(
    "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, CRUD, ("sa",)
)
SERVICE_ACCOUNT_TOKEN = ResourceType(
    "",
    "v1",
    "serviceaccounts",
    "",
    "TokenRequest",
    True,
    ("create",),
    subresource="token",
    sub_group=AUTHENTICATION_GROUP,
    sub_version="v1",
    stored=False,
)
ROLES = ResourceType(RBAC_GROUP, "v1", "roles", "role", "Role", True, CRUD)
ROLE_BINDINGS = ResourceType(
    RBAC_GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding", True, CRUD
)
CLUSTER_ROLES = ResourceType(
    RBAC_GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", False, CRUD
)
CLUSTER_ROLE_BINDINGS = ResourceType(
    RBAC_GROUP,
    "v1",
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    False,
    CRUD,
)


def _review(group: str, plural: str, kind: str, namespaced: bool = False) -> ResourceType:
    return ResourceType(
        group, "v1", plural, plural[:-1], kind, namespaced, ("create",), stored=False
    )


LOCAL_SUBJECT_ACCESS_REVIEWS = _review(
    AUTHORIZATION_GROUP, "localsubjectaccessreviews", "LocalSubjectAccessReview", True
)
SELF_SUBJECT_ACCESS_REVIEWS = _review(
    AUTHORIZATION_GROUP, "selfsubjectaccessreviews", "SelfSubjectAccessReview"
)
SELF_SUBJECT_RULES_REVIEWS = _review(
    AUTHORIZATION_GROUP, "selfsubjectrulesreviews", "SelfSubjectRulesReview"
)
SUBJECT_ACCESS_REVIEWS = _review(AUTHORIZATION_GROUP, "subjectaccessreviews", "SubjectAccessReview")
SELF_SUBJECT_REVIEWS = _review(AUTHENTICATION_GROUP, "selfsubjectreviews", "SelfSubjectReview")
TOKEN_REVIEWS = _review(AUTHENTICATION_GROUP, "tokenreviews", "TokenReview")

# The registry's resources: announced so that RBAC tools (`kubectl auth can-i`, `kubectl create
# role --resource=…`) resolve them, but served by the OCI registry, not by this API (no verbs).
IMAGE_STREAMS = ResourceType(
    IMAGE_GROUP, "v1", "imagestreams", "imagestream", "ImageStream", True, (), stored=False
)
IMAGE_STREAM_LAYERS = ResourceType(
    IMAGE_GROUP,
    "v1",
    "imagestreams",
    "",
    "ImageStreamLayers",
    True,
    (),
    subresource="layers",
    stored=False,
)
IMAGES = ResourceType(IMAGE_GROUP, "v1", "images", "image", "Image", True, (), stored=False)
IMAGE_STREAM_TAGS = ResourceType(
    IMAGE_GROUP,
    "v1",
    "imagestreamtags",
    "imagestreamtag",
    "ImageStreamTag",
    True,
    (),
    stored=False,
)

ALL: tuple[ResourceType, ...] = (
    NAMESPACES,
    SERVICE_ACCOUNTS,
    SERVICE_ACCOUNT_TOKEN,
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    ROLES,
    LOCAL_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    TOKEN_REVIEWS,
    IMAGE_STREAMS,
    IMAGE_STREAM_LAYERS,
    IMAGES,
    IMAGE_STREAM_TAGS,
)

# Group → versions served, in preference order; the core group is served under /api.
GROUPS: dict[str, tuple[str, ...]] = {
    RBAC_GROUP: ("v1",),
    AUTHORIZATION_GROUP: ("v1",),
    AUTHENTICATION_GROUP: ("v1",),
    IMAGE_GROUP: ("v1",),
}

_BY_PATH = {(r.group, r.version, r.plural, r.subresource): r for r in ALL}
BY_KIND = {r.kind: r for r in ALL if r.stored}


def lookup(group: str, version: str, plural: str, subresource: str = "") -> ResourceType | None:
    return _BY_PATH.get((group, version, plural, subresource))


def in_group_version(group: str, version: str) -> list[ResourceType]:
    return [r for r in ALL if r.group == group and r.version == version]


def served_group_version(group: str, version: str) -> bool:
    if not group:
        return version == "v1"
    return version in GROUPS.get(group, ())
