"""Prometheus metrics of the operator, plus the /healthz and /readyz it serves beside /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

RECONCILES = Counter(
    "mpcs_operator_reconciles_total", "Reconciles by kind and result", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "mpcs_operator_reconcile_duration_seconds",
    "Reconcile duration by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_ERRORS = Counter(
    "mpcs_operator_reconcile_errors_total",
    "Failed reconciles by kind and reason",
    ["kind", "reason"],
)


@contextmanager
def observe(kind: str) -> Iterator[None]:
    """Count and time one reconcile; an exception counts as an error and propagates."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        RECONCILES.labels(kind, "error").inc()
        RECONCILE_ERRORS.labels(kind, type(exc).__name__).inc()
        raise
    else:
        RECONCILES.labels(kind, "ok").inc()
    finally:
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)


class Health:
    """Readiness as last observed by the handlers (Kafka and InfluxDB reachable)."""

    def __init__(self) -> None:
        self.dependencies: dict[str, bool] = {"kafka": False, "influxdb": False}

    def mark(self, dependency: str, ok: bool) -> None:
        self.dependencies[dependency] = ok


async def serve(health: Health, port: int) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready = all(health.dependencies.values())
        return web.json_response(
            {"ready": ready, "dependencies": health.dependencies}, status=200 if ready else 503
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
