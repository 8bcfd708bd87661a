"""The dev stack's Prometheus scrapes what a file in its targets directory announces, with the
file's labels, and forgets a target whose file is withdrawn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server
from utils.kube import eventually

from mpcs.dev.process import free_port
from mpcs.dev.servers import ScrapeTargets
from mpcs.dev.stack import DevStack

pytestmark = pytest.mark.integration


def _query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


@pytest.fixture
def exporter() -> Iterator[tuple[int, Counter]]:
    """A /metrics endpoint on loopback with one counter, as every MPCS process serves."""
    registry = CollectorRegistry()
    counter = Counter("mpcs_probe_ticks", "Ticks of the probe.", registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield port, counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_published_target_is_scraped_with_its_labels_and_dropped_when_withdrawn(
    stack: DevStack, prometheus_url: str, exporter: tuple[int, Counter], unique: str
) -> None:
    port, counter = exporter
    counter.inc(3)
    targets = ScrapeTargets(stack.prometheus.targets_dir)
    labels = {"namespace": f"ns-{unique}", "mission": "probe", "component": "probe"}
    key = f"ns-{unique}/probe/0"
    targets.publish(key, port=port, labels=labels)
    selector = f'{{namespace="ns-{unique}",mission="probe",component="probe"}}'

    (series,) = eventually(
        lambda: _query(prometheus_url, f"mpcs_probe_ticks_total{selector}"),
        timeout_s=30,
        what="the probe scraped",
    )
    assert series["metric"]["instance"] == f"127.0.0.1:{port}"
    assert series["value"][1] == "3"

    targets.withdraw(key)

    def gone() -> bool:
        response = httpx.get(f"{prometheus_url}/api/v1/targets", timeout=10)
        active = response.json()["data"]["activeTargets"]
        return all(t["labels"].get("namespace") != f"ns-{unique}" for t in active)

    eventually(gone, timeout_s=30, what="the withdrawn target no longer scraped")
