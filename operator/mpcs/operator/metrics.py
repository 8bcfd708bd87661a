"""Prometheus metrics of the operator, and the readiness its /readyz reports beside /metrics.

The counters live in the default registry; `mpcs.kit.health.HealthServer` serves them with the
probes, as it does for every MPCS process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, Counter, Histogram

from mpcs.kit.health import HealthServer, Readiness

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
    """Readiness as last observed by the reconciles (Kafka and InfluxDB reachable).

    A dependency no reconcile has used yet is unknown, not down: a standby replica (Kopf peering)
    reconciles nothing until it takes over, and must still be ready, or a rolling update of two
    replicas would wait forever for the standby and a disruption budget would count it as broken.
    """

    def __init__(self) -> None:
        self.dependencies: dict[str, bool | None] = {"kafka": None, "influxdb": None}

    def mark(self, dependency: str, ok: bool) -> None:
        self.dependencies[dependency] = ok

    def readiness(self) -> Readiness:
        """`/readyz`: unready while a dependency failed at the last reconcile that used it."""
        down = sorted(name for name, ok in self.dependencies.items() if ok is False)
        return Readiness(
            ready=not down,
            reason=f"unreachable at the last reconcile: {', '.join(down)}" if down else "",
            detail={"dependencies": dict(self.dependencies)},
        )


def health_server(health: Health, port: int) -> HealthServer:
    """The probe and metrics server every MPCS process runs, over the operator's counters."""
    return HealthServer(readiness=health.readiness, registry=REGISTRY, port=port)
