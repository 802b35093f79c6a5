"""The Kubernetes-compatible API of each cluster, at `/kubernetes/<cluster>/`."""

from __future__ import annotations

from aiohttp import web

from acp.platform.kube.handler import serve


def setup(app: web.Application) -> None:
    # One route for every cluster: the handler checks the cluster against the settings and
    # parses the rest of the path the way the Kubernetes API server does.
    app.router.add_route("*", "/kubernetes/{cluster}", serve)
    app.router.add_route("*", "/kubernetes/{cluster}/{path:.*}", serve)
