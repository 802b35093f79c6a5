"""Assemble the aiohttp application: middleware, then each part's routes."""

from __future__ import annotations

from aiohttp import web

from acp.server import metrics
from acp.server.context import CONTEXT, AppContext
from acp.server.middleware import IN_FLIGHT, InFlight, observe


async def healthz(request: web.Request) -> web.Response:
    # Ready means: the worker serves and its database answers.
    ctx = request.config_dict[CONTEXT]
    async with ctx.db.read() as conn:
        await conn.exec_driver_sql("SELECT 1")
    return web.Response(text="ok")


def build_app(ctx: AppContext) -> web.Application:
    from acp.platform import api as platform_api
    from acp.platform import kube
    from acp.registry import metadata_api
    from acp.registry import routes as registry_routes

    app = web.Application(middlewares=[observe], client_max_size=1024 * 1024)
    app[CONTEXT] = ctx
    app[IN_FLIGHT] = InFlight()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.metrics_handler)
    platform_api.setup(app)
    kube.setup(app)
    metadata_api.setup(app)
    registry_routes.setup(app)

    async def close(_app: web.Application) -> None:
        await ctx.db.dispose()
        ctx.generations.close()

    app.on_cleanup.append(close)
    return app
