"""Prometheus metrics, aggregated across worker processes (prometheus-client multiprocess mode).

`PROMETHEUS_MULTIPROC_DIR` must be set before this module is imported; the server entry point
does that.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "acp_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "acp_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BYTES_IN = Counter("acp_http_request_bytes_total", "Bytes received in request bodies", ["route"])
BYTES_OUT = Counter("acp_http_response_bytes_total", "Bytes sent in response bodies", ["route"])
AUTH_FAILURES = Counter(
    "acp_auth_failures_total",
    "Requests refused for their credentials or permissions, by surface and reason",
    ["surface", "reason"],
)
REQUESTS_IN_FLIGHT = Gauge(
    "acp_http_requests_in_flight",
    "Requests whose handler is running now",
    multiprocess_mode="livesum",
)
UPLOADS_IN_PROGRESS = Gauge(
    "acp_registry_uploads_in_progress",
    "Blob upload requests being received now",
    multiprocess_mode="livesum",
)


async def metrics_handler(_request: web.Request) -> web.Response:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
