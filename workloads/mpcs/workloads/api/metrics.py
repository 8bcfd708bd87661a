"""Prometheus metrics of the command API (one registry per app, so tests can build many apps),
and a pure-ASGI middleware that times every HTTP request by route template."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mpcs_api_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mpcs_api_request_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.commands = Counter(
            "mpcs_api_commands_total",
            "Commands handled by the API, by outcome (sent, refused, send_failed, replayed).",
            ["outcome"],
            registry=r,
        )
        self.acks = Counter(
            "mpcs_api_acks_total", "Acks seen on the acks topic, by state.", ["state"], registry=r
        )
        self.telemetry_messages = Counter(
            "mpcs_api_telemetry_messages_total",
            "Telemetry messages fed into the latest-value cache.",
            registry=r,
        )
        self.telemetry_invalid = Counter(
            "mpcs_api_telemetry_invalid_total",
            "Telemetry messages the cache ignored as invalid (the ingest dead-letters them).",
            registry=r,
        )
        self.latest_source = Counter(
            "mpcs_api_latest_source_total",
            "Latest-telemetry answers by source (stream cache or InfluxDB).",
            ["source"],
            registry=r,
        )
        self.ws_clients = Gauge(
            "mpcs_api_websocket_clients", "Open telemetry WebSocket streams.", registry=r
        )
        self.ws_dropped = Counter(
            "mpcs_api_websocket_dropped_total",
            "Telemetry messages dropped for a WebSocket client that reads too slowly.",
            registry=r,
        )
        self.audit_pending = Gauge(
            "mpcs_api_audit_pending", "Audit points waiting for InfluxDB.", registry=r
        )
        self.audit_dropped = Counter(
            "mpcs_api_audit_dropped_total",
            "Audit points dropped because the buffer was full during an InfluxDB outage.",
            registry=r,
        )
        self.ready = Gauge("mpcs_api_ready", "1 when Kafka and InfluxDB answer.", registry=r)
        self.refusals = Counter(
            "mpcs_api_refusals_total",
            "Requests refused, by reason (unauthenticated, forbidden, too_large, rate_limited, "
            "invalid, unsupported_media_type, bad_request, cors_origin).",
            ["reason"],
            registry=r,
        )
        self.telemetry_posted = Counter(
            "mpcs_api_telemetry_posted_total",
            "Telemetry messages posted over HTTP and produced to the telemetry topic.",
            registry=r,
        )
        self.token_reloads = Counter(
            "mpcs_api_token_reloads_total",
            "Times a changed tokens folder (the mounted Secret) was applied.",
            registry=r,
        )


class MetricsMiddleware:
    """Counts and times requests; the route template keeps label cardinality bounded."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, scope["method"], str(status[0])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
