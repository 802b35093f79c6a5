"""The SQL schema. Migrations in `acp/db/migrations` create exactly these tables.

Every row that belongs to a cluster carries `cluster_id`, so clusters never see each other's
namespaces, RBAC objects, ServiceAccounts or repositories. Blob *content* is shared on disk
across repositories (and clusters); access always goes through `repository_blobs`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

# --- platform -------------------------------------------------------------------------------

clusters = sa.Table(
    "clusters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    # Kubernetes resourceVersion counter for every object of this cluster.
    sa.Column("resource_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(36), nullable=False, unique=True),
    sa.Column("username", sa.String(253), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # sha256 of the opaque token; the token itself is never stored.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("client", sa.String(255), nullable=False, server_default=""),
)
sa.Index("ix_sessions_user_id", sessions.c.user_id)

login_failures = sa.Table(
    "login_failures",
    metadata,
    # "user:<name>" or "addr:<ip>"
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_start", Timestamp, nullable=False),
    sa.Column("blocked_until", Timestamp, nullable=True),
)

# One row naming this installation. The server also writes it into the blob directory at
# every start, so that a tool given a database and a blob directory (`acp-admin gc`) can
# check that they belong together before it removes what the database does not know.
installation = sa.Table(
    "installation",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_key_pem", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("cluster", sa.String(63), nullable=False, server_default=""),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False, server_default=""),
    sa.Column("resource", sa.String(128), nullable=False, server_default=""),
    sa.Column("name", sa.String(512), nullable=False, server_default=""),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
)
sa.Index("ix_audit_events_at", audit_events.c.at)

# --- Kubernetes-compatible objects ----------------------------------------------------------

# Namespaces, ServiceAccounts, Roles, RoleBindings, ClusterRoles and ClusterRoleBindings are
# stored as whole Kubernetes objects (JSON), one row each. Cluster-scoped kinds use
# namespace = "".
kube_objects = sa.Table(
    "kube_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "cluster_id", sa.Integer, sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("uid", sa.String(36), nullable=False, unique=True),
    sa.Column("resource_version", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.UniqueConstraint("cluster_id", "kind", "namespace", "name"),
)

# --- registry -------------------------------------------------------------------------------

# Repository and tag names sort "ASCIIbetically" (the OCI spec's order for tags/list and
# _catalog pagination). SQLite compares bytes already; PostgreSQL needs the "C" collation,
# on the column itself so that its indexes serve the ordered range scans.
RepositoryName = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
TagName = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")
Digest = sa.String(200)

repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "cluster_id", sa.Integer, sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("namespace", sa.String(253), nullable=False),
    # The full repository name, namespace included: "my-ns/my-app".
    sa.Column("name", RepositoryName, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("cluster_id", "name"),
)
sa.Index("ix_repositories_cluster_namespace", repositories.c.cluster_id, repositories.c.namespace)

# Blobs whose content is stored (once, content-addressed) in the blob store.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", Digest, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# Which repository may read which blob: a blob is readable only through a repository it was
# pushed or mounted into.
repository_blobs = sa.Table(
    "repository_blobs",
    metadata,
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("digest", Digest, sa.ForeignKey("blobs.digest"), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
)
sa.Index("ix_repository_blobs_digest", repository_blobs.c.digest)

manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("digest", Digest, nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    # The manifest's artifactType, else (image manifests) its config media type: what the
    # referrers API reports and filters on.
    sa.Column("artifact_type", sa.String(255), nullable=True),
    sa.Column("subject_digest", Digest, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    # Sum of the config and layer sizes (for an index: of every child image).
    sa.Column("total_size", sa.BigInteger, nullable=False, server_default="0"),
    # ["linux/amd64", ...] for indexes and images whose config names a platform.
    sa.Column("platforms", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    # The exact bytes the client pushed.
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Set again each time the manifest is pushed, for garbage collection's grace period (an
    # index's children pushed again by digest are fresh). NULL: not pushed since created_at.
    sa.Column("pushed_at", Timestamp, nullable=True),
    sa.UniqueConstraint("repository_id", "digest"),
)
sa.Index("ix_manifests_subject", manifests.c.repository_id, manifests.c.subject_digest)

# What a manifest refers to: its config and layers (kind "blob") or, for an index, its
# child manifests (kind "manifest"). Used to refuse dangling references and for GC.
manifest_references = sa.Table(
    "manifest_references",
    metadata,
    sa.Column(
        "manifest_id",
        sa.Integer,
        sa.ForeignKey("manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("digest", Digest, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
)
sa.Index("ix_manifest_references_digest", manifest_references.c.digest)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", TagName, primary_key=True),
    sa.Column(
        "manifest_id", sa.Integer, sa.ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("updated_at", Timestamp, nullable=False),
)
sa.Index("ix_tags_manifest_id", tags.c.manifest_id)

# Blob uploads in progress. The row is the shared state that lets any worker process (or
# replica) continue an upload another one began; the bytes live in the blob store. The
# repository is named rather than referenced: it is created only when a push completes.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "cluster_id", sa.Integer, sa.ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("repository", RepositoryName, nullable=False),
    # Digest algorithm the data is hashed with while it arrives ("sha256", "sha512").
    sa.Column("algorithm", sa.String(16), nullable=False),
    # Bytes received and durably written so far.
    sa.Column("offset", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)
sa.Index("ix_uploads_updated_at", uploads.c.updated_at)
