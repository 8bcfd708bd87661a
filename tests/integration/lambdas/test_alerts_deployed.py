"""The alerts path as the operator deploys it: the test operator (configured with the dev stack's
moto topic and table) and the local runner standing in for a kubelet run the mission's ingest,
command API and alerts runner from their Deployments — env, Secrets and AWS credentials exactly as
the operator wrote them. Telemetry crossing a rule then shows as `Alerting` on the Satellite and
in the deployed API, where an operator acknowledges it."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from alert_samples import message
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import Custom, eventually, examples

from mpcs.core.names import Topic, child_name, topic
from mpcs.core.telemetry import encode
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import DevStack
from mpcs.orbit.timeutil import format_time_ns

pytestmark = pytest.mark.integration

S = 1_000_000_000
RULE = {
    "name": "battery-low",
    "channel": "power.battery_soc_pct",
    "operator": "<",
    "threshold": 25,
    "clearThreshold": 30,
    "severity": "critical",
}


@pytest.fixture
def runner(stack: DevStack, kube_client: ApiClient, operator: object) -> Iterator[LocalRunner]:
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / "workloads",
    )
    with local.running():
        yield local


def _tokens(kube_client: ApiClient, namespace: str) -> dict[str, str]:
    secret = k8s.CoreV1Api(kube_client).read_namespaced_secret(
        child_name("wildfire", "api-tokens"), namespace
    )
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _port(runner: LocalRunner, key: str, port: str) -> int | None:
    return runner.endpoints().get(key, {}).get(port)


def test_the_deployed_runner_and_api_serve_alerts(
    kube_client: ApiClient, namespace: str, runner: LocalRunner, stack: DevStack
) -> None:
    custom = Custom(kube_client, namespace)
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": "wildfire"},
            "spec": {"groundStations": [], "alerts": [RULE]},
        }
    )
    satellite = next(o for o in examples() if o["kind"] == "Satellite")
    spec: dict[str, Any] = {
        **satellite["spec"],
        "missionRef": {"name": "wildfire"},
        "simulator": {"enabled": False},
    }
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Satellite",
            "metadata": {"name": "sat-a"},
            "spec": spec,
        }
    )
    alerts_key = f"{namespace}/{child_name('wildfire', 'alerts')}/0"
    api_key = f"{namespace}/{child_name('wildfire', 'command-api')}/0"

    def ready(key: str) -> bool:
        port = _port(runner, key, "metrics")
        if port is None:
            return False
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(lambda: ready(alerts_key), timeout_s=120, what="the alerts runner ready")
    eventually(lambda: ready(api_key), timeout_s=120, what="the command API ready")

    t0 = (int(time.time()) - 300) * S

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
        await producer.start()
        try:
            for i, soc in enumerate((60.0, 15.0)):
                msg = message("sat-a", 0, power__battery_soc_pct=soc)
                msg["time"] = format_time_ns(t0 + i * S)
                await producer.send_and_wait(
                    topic(namespace, "wildfire", Topic.TELEMETRY), key=b"sat-a", value=encode(msg)
                )
        finally:
            await producer.stop()

    asyncio.run(produce())

    def alerting() -> dict[str, Any] | None:
        found = custom.condition("satellites", "sat-a", "Alerting")
        return found if found and found["status"] == "True" else None

    condition = eventually(alerting, timeout_s=60, what="Alerting=True on sat-a")
    assert "battery-low (critical)" in condition["message"]

    tokens = _tokens(kube_client, namespace)
    api_port = _port(runner, api_key, "http")
    assert api_port is not None
    base = f"http://127.0.0.1:{api_port}/api/v1/alerts"
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    listed = httpx.get(f"{base}?status=firing", headers=viewer, timeout=10).json()
    assert listed["count"] == 1
    (alert,) = listed["data"]
    assert (alert["satellite"], alert["rule"], alert["value"]) == ("sat-a", "battery-low", 15.0)
    acked = httpx.post(
        f"{base}/{alert['id']}/acknowledge",
        headers={"Authorization": f"Bearer {tokens['operator']}"},
        timeout=10,
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledgedBy"] == "operator"
