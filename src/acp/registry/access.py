"""What each registry action needs, asked of the platform's authorizer (the only place that
decides), and of the registry token's access list when the caller presents one.

Token actions and RBAC (SPEC §3.4):

| action   | RBAC, in the repository's namespace, name = image stream           |
| -------- | ------------------------------------------------------------------ |
| `pull`   | `get imagestreams/layers`                                          |
| `push`   | `update imagestreams/layers`                                       |
| `delete` | `delete images` (manifests, blobs) or `delete imagestreamtags` (tags) |
"""

from __future__ import annotations

from dataclasses import dataclass

from acp.auth.identity import ANONYMOUS, Identity
from acp.rbac.attributes import (
    Attributes,
    registry_delete_manifest,
    registry_delete_tag,
    registry_pull,
    registry_push,
)
from acp.rbac.authorizer import Authorizer
from acp.registry.names import RepositoryName

PULL, PUSH, DELETE = "pull", "push", "delete"
ACTIONS = (PULL, PUSH, DELETE)


@dataclass(frozen=True)
class Need:
    """A permission one request needs on one repository."""

    repository: RepositoryName
    # The registry-token action that covers it.
    action: str
    attributes: Attributes


def pull(repository: RepositoryName) -> Need:
    return Need(repository, PULL, registry_pull(repository.namespace, repository.name))


def push(repository: RepositoryName) -> Need:
    return Need(repository, PUSH, registry_push(repository.namespace, repository.name))


def delete_manifest(repository: RepositoryName) -> Need:
    attributes = registry_delete_manifest(repository.namespace, repository.name)
    return Need(repository, DELETE, attributes)


def delete_tag(repository: RepositoryName) -> Need:
    return Need(repository, DELETE, registry_delete_tag(repository.namespace, repository.name))


async def allowed(authorizer: Authorizer, identity: Identity, cluster: str, need: Need) -> bool:
    if not identity.token_allows(need.repository.path, need.action):
        return False
    if await authorizer.allowed(identity, need.attributes, cluster):
        return True
    # What anyone may pull without logging in, a logged-in caller may pull too: a public
    # namespace stays public for clients that always send their credentials.
    return need.action == PULL and await authorizer.allowed(ANONYMOUS, need.attributes, cluster)


async def pullable_namespaces(
    authorizer: Authorizer, identity: Identity, cluster: str
) -> set[str] | None:
    """Namespaces whose repositories the caller may pull (None: every one)."""
    attributes = registry_pull("")
    own = await authorizer.namespaces_allowing(identity, attributes, cluster)
    if own is None or identity.is_anonymous:
        return own
    public = await authorizer.namespaces_allowing(ANONYMOUS, attributes, cluster)
    return None if public is None else own | public


async def grantable(
    authorizer: Authorizer,
    identity: Identity,
    cluster: str,
    repository: RepositoryName,
    wanted: set[str],
) -> list[str]:
    """The actions of `wanted` that RBAC allows `identity` on `repository` (`*` asks for
    all of them); what a registry token for that scope may carry."""
    if "*" in wanted:
        wanted = set(ACTIONS)
    granted = []
    if PULL in wanted and await allowed(authorizer, identity, cluster, pull(repository)):
        granted.append(PULL)
    if PUSH in wanted and await allowed(authorizer, identity, cluster, push(repository)):
        granted.append(PUSH)
    if DELETE in wanted and (
        await allowed(authorizer, identity, cluster, delete_manifest(repository))
        or await allowed(authorizer, identity, cluster, delete_tag(repository))
    ):
        granted.append(DELETE)
    return granted


def may_list_catalog(identity: Identity) -> bool:
    """A registry token must carry `registry:catalog:*`; other credentials may list (the
    listing is filtered by pull permission either way)."""
    if identity.token_access is None:
        return True
    return any(a.type == "registry" and a.name == "catalog" for a in identity.token_access)
