"""The question the authorizer answers, in Kubernetes terms."""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_API_GROUP = "image.acp.io"


@dataclass(frozen=True)
class Attributes:
    """May the caller do `verb` on `resource[/subresource]` `name` in `namespace`?

    Resource requests have `resource` set; non-resource requests (`/healthz`, `/version`)
    set `path` instead. `namespace` is "" for cluster-scoped resources.
    """

    verb: str
    resource: str = ""
    subresource: str = ""
    api_group: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource_request(self) -> bool:
        return not self.path


# What the registry asks for each OCI action (SPEC §3.4).
def registry_pull(namespace: str, repository: str = "") -> Attributes:
    return Attributes("get", "imagestreams", "layers", IMAGE_API_GROUP, namespace, repository)


def registry_push(namespace: str, repository: str = "") -> Attributes:
    return Attributes("update", "imagestreams", "layers", IMAGE_API_GROUP, namespace, repository)


def registry_delete_manifest(namespace: str, repository: str = "") -> Attributes:
    return Attributes("delete", "images", "", IMAGE_API_GROUP, namespace, repository)


def registry_delete_tag(namespace: str, repository: str = "") -> Attributes:
    return Attributes("delete", "imagestreamtags", "", IMAGE_API_GROUP, namespace, repository)


def registry_list(namespace: str) -> Attributes:
    return Attributes("list", "images", "", IMAGE_API_GROUP, namespace)
