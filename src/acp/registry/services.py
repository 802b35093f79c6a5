"""The registry's services, built once per worker process.

Other parts of the server (the registry metadata API behind `ac get/delete images`) use them
through `acp.registry.routes.registry(request)`:

- `inventory.list_images(cluster, namespaces, limit=, after=)`: one page of tagged images;
- `tags.delete(repo, tag, actor, dry_run=)`: delete one tag (only that tag);
- `manifests.delete(repo, digest, actor, dry_run=)`: delete a manifest, returning the tags
  that went with it;
- `repositories.repo(cluster, parse_repository("ns/app"))` makes the `Repo` they take.
"""

from __future__ import annotations

from dataclasses import dataclass

from acp.db.audit import AuditLog
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.registry.blobs import Blobs
from acp.registry.catalog import Catalog
from acp.registry.inventory import Inventory
from acp.registry.manifests import Manifests
from acp.registry.referrers import Referrers
from acp.registry.repositories import Repositories
from acp.registry.tags import Tags
from acp.registry.uploads import Uploads
from acp.storage.base import BlobStore


@dataclass
class Registry:
    store: BlobStore
    repositories: Repositories
    uploads: Uploads
    blobs: Blobs
    manifests: Manifests
    tags: Tags
    referrers: Referrers
    catalog: Catalog
    inventory: Inventory


def build_registry(
    *,
    db: Database,
    generations: Generations,
    cluster_ids: dict[str, int],
    audit: AuditLog,
    store: BlobStore,
    manifest_max_bytes: int,
    upload_expiry_seconds: int,
) -> Registry:
    repositories = Repositories(db, generations, cluster_ids)
    return Registry(
        store=store,
        repositories=repositories,
        uploads=Uploads(db, store, repositories, upload_expiry_seconds),
        blobs=Blobs(db, store, repositories, audit),
        manifests=Manifests(db, store, repositories, audit, generations, manifest_max_bytes),
        tags=Tags(db, repositories, audit, generations),
        referrers=Referrers(db),
        catalog=Catalog(db, cluster_ids),
        inventory=Inventory(db, cluster_ids),
    )
