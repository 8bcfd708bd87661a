"""Every PromQL query of the pipeline dashboard, run against the dev stack's real Prometheus.

There is no Grafana here (DESIGN §8), so the dashboard is proven the way Grafana would use it: each
query, as `panel_queries` lists it from the JSON model and after `substitute` did what Grafana does
to it, is sent to Prometheus, which must answer with data. The data comes from the real thing: the
operator (under its RBAC) provisions the example mission, the local runner runs its ingest, command
API and one simulator and announces them to Prometheus through file discovery, and the test adds
what a quiet mission lacks: API requests, and a Satellite of a Mission that does not exist, whose
reconcile fails (and is retried) like any reconcile error would, and records that are not
telemetry, which the ingest dead-letters.

The parameters come from the dashboard, so a panel added without a query Prometheus can answer
fails here.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import Custom, eventually, examples, temporary_namespace
from utils.operator import OperatorProcess

from mpcs.core.names import Topic, topic
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import DevStack
from mpcs.grafana import pipeline
from mpcs.grafana.context import MissionContext
from mpcs.grafana.queries import PanelQuery, panel_queries, substitute

pytestmark = pytest.mark.integration

NAMESPACE = "t-grafana-pipeline"
MISSION = "wildfire"
SATELLITE = "firewatch-1"
#: A Satellite whose Mission never comes: every reconcile of it fails with a retry.
ORPHAN = "orphan-1"
CONTEXT = MissionContext(NAMESPACE, MISSION)
QUERIES = panel_queries(pipeline.build(CONTEXT))
#: The window the queries are evaluated over: the traffic below happens inside it.
WINDOW = timedelta(minutes=3)
STEP_S = 2.0
#: Queries allowed to be zero throughout: a healthy pipeline keeps up (lag) and InfluxDB accepts
#: every write. Every other query must show the traffic this module makes.
ZERO_IN_A_HEALTHY_PIPELINE = {
    ("Consumer lag now", "A"),
    ("Consumer lag by partition", "A"),
    ("Dead letters and write errors", "B"),
}


@dataclass
class Pipeline:
    """The mission's processes as Prometheus sees them."""

    prometheus_url: str
    scrape_interval_s: float

    def query(self, expr: str, **params: str) -> list[dict[str, Any]]:
        """The `result` of an instant query, or of a range query when `start` is given."""
        path = "query_range" if "start" in params else "query"
        response = httpx.get(
            f"{self.prometheus_url}/api/v1/{path}",
            params={"query": expr, **params},
            timeout=10,
        )
        body = response.json()
        assert response.status_code == 200, (expr, body)
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def range_result(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """A dashboard query substituted for the last `WINDOW` at `STEP_S`, and its result."""
        stop = datetime.now(UTC)
        start = stop - WINDOW
        expr = substitute(
            text,
            {},
            start=start,
            stop=stop,
            interval_s=STEP_S,
            scrape_interval_s=self.scrape_interval_s,
        )
        result = self.query(
            expr, start=str(start.timestamp()), end=str(stop.timestamp()), step=str(STEP_S)
        )
        return expr, result


async def _send_not_telemetry(bootstrap: str, namespace: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for index in range(count):
            await producer.send_and_wait(
                topic(namespace, MISSION, Topic.TELEMETRY),
                key=SATELLITE.encode(),
                value=f"{{not telemetry {index}".encode(),
            )
    finally:
        await producer.stop()


def _tokens(kube_client: ApiClient, namespace: str) -> dict[str, str]:
    secret = k8s.CoreV1Api(kube_client).read_namespaced_secret(f"{MISSION}-api-tokens", namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


@pytest.fixture(scope="module")
def runner(
    stack: DevStack, kube_client: ApiClient, operator: OperatorProcess
) -> Iterator[LocalRunner]:
    """The kubelet stand-in, announcing what it runs to the stack's Prometheus."""
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / "grafana-pipeline",
        targets_dir=stack.prometheus.targets_dir,
    )
    with local.running():
        yield local


@pytest.fixture(scope="module")
def pipeline_traffic(
    stack: DevStack, kube_client: ApiClient, runner: LocalRunner, prometheus_url: str
) -> Iterator[Pipeline]:
    """The example mission with one satellite flying, scraped, with API and error traffic."""
    with temporary_namespace(kube_client, NAMESPACE) as namespace:
        custom = Custom(kube_client, namespace)
        for obj in examples():
            if obj["kind"] in ("GroundStation", "Mission") or (
                obj["kind"] == "Satellite" and obj["metadata"]["name"] == SATELLITE
            ):
                obj = copy.deepcopy(obj)
                if obj["kind"] == "Satellite":
                    obj["spec"]["telemetryIntervalSeconds"] = 1
                    orphan = copy.deepcopy(obj)
                    orphan["metadata"] = {"name": ORPHAN}
                    orphan["spec"]["missionRef"] = {"name": "no-such-mission"}
                    custom.create(orphan)
                custom.create(obj)
        custom.wait_phase("missions", MISSION, "Ready", timeout_s=120)
        seen = Pipeline(prometheus_url, float(stack.prometheus.scrape_interval_s))

        def scraped(component: str, **labels: str) -> bool:
            selector = ",".join(f'{k}="{v}"' for k, v in {"component": component, **labels}.items())
            return any(s["value"][1] == "1" for s in seen.query(f"up{{{selector}}}"))

        mission_labels = {"namespace": namespace, "mission": MISSION}
        for component in ("ingest", "command-api", "simulator"):
            eventually(
                functools.partial(scraped, component, **mission_labels),
                timeout_s=120,
                what=f"Prometheus scraping the {component} of {namespace}/{MISSION}",
            )
        eventually(
            lambda: scraped("operator"), timeout_s=30, what="Prometheus scraping the operator"
        )

        port = runner.endpoints()[f"{namespace}/{MISSION}-command-api/0"]["http"]
        viewer = {"Authorization": f"Bearer {_tokens(kube_client, namespace)['viewer']}"}
        # Requests over several scrape intervals, so the request rate and the latency quantiles
        # have windows in which two scrapes differ.
        asyncio.run(_send_not_telemetry(stack.kafka.bootstrap_servers, namespace, count=5))
        deadline = time.monotonic() + 8 * seen.scrape_interval_s
        while time.monotonic() < deadline:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/satellites", headers=viewer, timeout=10
            )
            assert response.status_code == 200, response.text
            time.sleep(0.2)
        eventually(
            lambda: seen.query(
                f'mpcs_ingest_dlq_total{{namespace="{namespace}",mission="{MISSION}"}} >= 5'
            ),
            timeout_s=60,
            what="the records that are not telemetry dead-lettered, as Prometheus scraped it",
        )
        eventually(
            lambda: seen.query(
                'mpcs_operator_reconcile_errors_total{component="operator",kind="Satellite"}'
            ),
            timeout_s=60,
            what="the orphan Satellite's failed reconcile counted",
        )
        eventually(
            lambda: seen.query(
                f'mpcs_ingest_channel_values_total{{namespace="{namespace}",'
                f'mission="{MISSION}"}} > 0'
            ),
            timeout_s=60,
            what="telemetry stored by the ingest, as Prometheus scraped it",
        )
        # Two more scrapes, so the counters just seen have a second sample (rate() needs two).
        time.sleep(2 * seen.scrape_interval_s + 1)
        yield seen


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.panel}/{q.ref_id}" for q in QUERIES])
def test_every_dashboard_query_answers_with_data(
    query: PanelQuery, pipeline_traffic: Pipeline
) -> None:
    assert query.datasource_type == "prometheus"
    expr, result = pipeline_traffic.range_result(query.text)
    assert result, f"{query.panel} ({query.ref_id}): no series for {expr}"
    values = [float(v) for series in result for _, v in series["values"]]
    finite = [v for v in values if math.isfinite(v)]
    assert finite, f"{query.panel} ({query.ref_id}): only NaN/Inf for {expr}"
    if (query.panel, query.ref_id) not in ZERO_IN_A_HEALTHY_PIPELINE:
        assert max(finite) > 0, f"{query.panel} ({query.ref_id}): never above 0 for {expr}"


@pytest.mark.parametrize(
    "query",
    [q for q in QUERIES if f'mission="{MISSION}"' in q.text],
    ids=[f"{q.panel}/{q.ref_id}" for q in QUERIES if f'mission="{MISSION}"' in q.text],
)
def test_another_missions_dashboard_finds_nothing_of_this_one(
    query: PanelQuery, pipeline_traffic: Pipeline
) -> None:
    """The label filter is what keeps one mission's dashboard off another's processes."""
    other = panel_queries(pipeline.build(MissionContext(NAMESPACE, "other-mission")))
    (twin,) = [q for q in other if (q.panel, q.ref_id) == (query.panel, query.ref_id)]
    expr, result = pipeline_traffic.range_result(twin.text)
    assert result == [], f"{twin.panel}: another mission's query found {result} with {expr}"
