"""Built-in ClusterRoles and ClusterRoleBindings, written into every cluster at start-up.

They are ordinary RBAC objects labelled `kubernetes.io/bootstrapping=rbac-defaults`, so
`kubectl get clusterroles` shows them and an administrator can read what each one grants.
"""

from __future__ import annotations

from typing import Any

from acp.auth.identity import AUTHENTICATED, UNAUTHENTICATED
from acp.rbac.attributes import IMAGE_API_GROUP
from acp.rbac.evaluate import RBAC_GROUP

BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ADMIN_USER = "admin"

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"nonResourceURLs": urls, "verbs": verbs}


IMAGE_READ = [
    _rule([IMAGE_API_GROUP], ["imagestreams/layers"], ["get"]),
    _rule([IMAGE_API_GROUP], ["images", "imagestreams", "imagestreamtags"], READ),
]
IMAGE_WRITE = [
    _rule([IMAGE_API_GROUP], ["imagestreams/layers"], ["get", "update"]),
    _rule([IMAGE_API_GROUP], ["images", "imagestreams", "imagestreamtags"], [*READ, "delete"]),
]
CORE_VIEW = [
    _rule([""], ["serviceaccounts", "namespaces/status"], READ),
    _rule([""], ["namespaces"], ["get"]),
]
CORE_EDIT = [
    _rule([""], ["serviceaccounts"], [*READ, *WRITE, "impersonate"]),
    _rule([""], ["serviceaccounts/token"], ["create"]),
]
RBAC_ADMIN = [
    _rule([RBAC_GROUP], ["roles", "rolebindings"], [*READ, *WRITE]),
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
]

# Each namespace role includes the one below it, as in Kubernetes, so that an `admin` of a
# namespace holds every permission of `edit` and `view` and may bind them there.
VIEW = [*CORE_VIEW, *IMAGE_READ]
EDIT = [*VIEW, *CORE_EDIT, *IMAGE_WRITE]
ADMIN = [*EDIT, *RBAC_ADMIN]

CLUSTER_ROLES: dict[str, list[dict[str, list[str]]]] = {
    "cluster-admin": [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])],
    "admin": ADMIN,
    "edit": EDIT,
    "view": VIEW,
    "system:image-puller": [_rule([IMAGE_API_GROUP], ["imagestreams/layers"], ["get"])],
    "system:image-pusher": [_rule([IMAGE_API_GROUP], ["imagestreams/layers"], ["get", "update"])],
    "system:image-deleter": [
        _rule(
            [IMAGE_API_GROUP],
            ["images", "imagestreamtags", "imagestreams"],
            ["get", "list", "delete"],
        ),
    ],
    "system:image-pruner": [
        _rule(
            [IMAGE_API_GROUP],
            ["images", "imagestreams", "imagestreamtags"],
            ["get", "list", "delete"],
        ),
        _rule([IMAGE_API_GROUP], ["imagestreams/layers"], ["get"]),
        _rule([""], ["namespaces"], ["get", "list"]),
    ],
    "system:basic-user": [
        _rule(
            ["authorization.k8s.io"],
            ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ["create"],
        ),
        _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ],
    "system:discovery": [
        _urls(
            [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/openapi",
                "/openapi/*",
                "/version",
                "/version/",
                "/healthz",
                "/livez",
                "/readyz",
            ],
            ["get"],
        ),
    ],
    "system:public-info-viewer": [
        _urls(["/healthz", "/livez", "/readyz", "/version", "/version/"], ["get"]),
    ],
    "system:auth-delegator": [
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    ],
}


def _group(name: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[dict[str, str]]]] = {
    "cluster-admin": ("cluster-admin", [_group("system:masters")]),
    "acp:bootstrap-admin": (
        "cluster-admin",
        [{"kind": "User", "apiGroup": RBAC_GROUP, "name": ADMIN_USER}],
    ),
    "system:basic-user": ("system:basic-user", [_group(AUTHENTICATED)]),
    "system:discovery": ("system:discovery", [_group(AUTHENTICATED)]),
    "system:public-info-viewer": (
        "system:public-info-viewer",
        [_group(AUTHENTICATED), _group(UNAUTHENTICATED)],
    ),
}


def cluster_role_objects() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": name,
                "labels": dict(BOOTSTRAP_LABEL),
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            },
            "rules": rules,
        }
        for name, rules in CLUSTER_ROLES.items()
    ]


def cluster_role_binding_objects() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": name,
                "labels": dict(BOOTSTRAP_LABEL),
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            },
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        }
        for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items()
    ]
