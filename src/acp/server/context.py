"""The services one worker process shares among its request handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from acp.auth.keys import load_key_ring
from acp.auth.resolver import IdentityResolver
from acp.auth.throttle import LoginThrottle
from acp.db.audit import AuditLog
from acp.db.bootstrap import cluster_ids
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.rbac.authorizer import Authorizer
from acp.server.settings import ClusterConfig, Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    generations: Generations
    # cluster name -> database id
    cluster_ids: dict[str, int]
    identities: IdentityResolver
    authorizer: Authorizer
    audit: AuditLog

    def cluster_config(self, name: str) -> ClusterConfig:
        config = self.settings.cluster(name)
        if config is None:
            raise KeyError(name)
        return config

    def registry_host(self, cluster: str) -> str:
        """host:port that OCI clients put in front of image names for this cluster."""
        if cluster == "global" and self.settings.public_url:
            return self.settings.base_url.split("://", 1)[1].rstrip("/")
        config = self.cluster_config(cluster)
        host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
        return f"{host}:{config.port}"

    def registry_url(self, cluster: str) -> str:
        """Base URL of the cluster's registry endpoint (OCI /v2/ and the metadata API)."""
        config = self.cluster_config(cluster)
        if config.on_main_listener:
            return self.settings.base_url
        return f"{self.settings.scheme}://{self.registry_host(cluster)}"

    def kubernetes_url(self, cluster: str) -> str:
        return f"{self.settings.base_url}/kubernetes/{cluster}"


CONTEXT = web.AppKey("acp_context", AppContext)


async def create_context(settings: Settings) -> AppContext:
    generations = Generations(settings.run_dir / "generations")
    db = Database(settings.effective_database_url, generations)
    async with db.read() as conn:
        ids = await cluster_ids(conn)
        keys = await load_key_ring(conn)
    throttle = LoginThrottle(db)
    identities = IdentityResolver(
        db,
        generations,
        keys,
        throttle,
        ids,
        settings.base_url,
        timedelta(seconds=settings.session_ttl_seconds),
    )
    return AppContext(
        settings=settings,
        db=db,
        generations=generations,
        cluster_ids=ids,
        identities=identities,
        authorizer=Authorizer(db, generations, ids),
        audit=AuditLog(db),
    )


def context(request: web.Request) -> AppContext:
    return request.config_dict[CONTEXT]
