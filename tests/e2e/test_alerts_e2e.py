"""An alert's whole life with the examples, everything real: a fault trips a rule, the alert is
notified once, shown on the Satellite, in Kubernetes Events and in the API, acknowledged by an
operator, and resolved (notified once more) when the spacecraft recovers.

The satellite is the examples' firewatch-3 with its `batteryAgeing` fault, here begun long before
the simulation starts, so the battery is down to the model's floor (20 % of its 80 Wh). An
operator powers the payload (PAYLOAD_ON through the command API): through the next eclipse the
aged battery cannot carry bus and payload, the state of charge crosses the mission's
`battery-low` rule (< 25 %), on-board fault protection drops to SAFE (payload off), and in
sunlight the battery charges again: the alert resolves from physics alone. The test's copy of the
rule adds hysteresis (`clearThreshold: 80`) so the alert resolves once the battery has charged,
not when it creeps past 25 % between two eclipses. The operator (under its RBAC, configured with
the dev stack's moto topic and table) deploys the mission's alerts runner; the local runner runs
it with the simulators, the ingest and the command API. The SNS messages are counted on an SQS
FIFO queue this test subscribes to the topic.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import Custom, eventually, examples, temporary_namespace

from mpcs.core.names import child_name
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import AWS_REGION, AWS_TEST_KEY, DevStack, provision_alerts

pytestmark = pytest.mark.integration

MISSION = "wildfire"
SATELLITE = "firewatch-3"  # the examples' satellite with the batteryAgeing fault
#: The examples' battery rule, with hysteresis (see the module docstring).
RULE = {
    "name": "battery-low",
    "channel": "power.battery_soc_pct",
    "operator": "<",
    "threshold": 25,
    "clearThreshold": 80,
    "severity": "critical",
}
#: The example's fault begins a simulated day after start-up; here it began long before the
#: simulation starts, so the capacity is already at the model's floor.
AGED_SINCE = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def namespace(kube_client: ApiClient) -> Iterator[str]:
    with temporary_namespace(kube_client, f"alerts-{uuid.uuid4().hex[:8]}") as name:
        yield name


def _aws(stack: DevStack, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.moto.url,
        region_name=AWS_REGION,
        aws_access_key_id=AWS_TEST_KEY,
        aws_secret_access_key=AWS_TEST_KEY,
    )


def _subscribe_queue(stack: DevStack, namespace: str) -> str:
    """A FIFO queue receiving the mission's notifications (a FIFO topic delivers only to those)."""
    sqs, sns = _aws(stack, "sqs"), _aws(stack, "sns")
    url = sqs.create_queue(
        QueueName=f"e2e-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=provision_alerts(stack.moto.url).topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"mission": [f"{namespace}/{MISSION}"]}),
        },
    )
    return str(url)


def _received(stack: DevStack, url: str, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drain the queue into `into` (the transitions of RULE only); returns `into`."""
    sqs = _aws(stack, "sqs")
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = batch.get("Messages", [])
        if not messages:
            return into
        for m in messages:
            body = json.loads(m["Body"])
            if body.get("rule") == RULE["name"]:
                into.append(body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _events(kube_client: ApiClient, namespace: str, reason: str) -> list[Any]:
    found = k8s.CoreV1Api(kube_client).list_namespaced_event(namespace).items
    return [
        e
        for e in found
        if e.reason == reason
        and e.involved_object.name == SATELLITE
        and RULE["name"] in (e.message or "")
    ]


def test_an_alert_fires_is_acknowledged_and_resolves(
    kube_client: ApiClient, namespace: str, stack: DevStack, runner: LocalRunner
) -> None:
    queue = _subscribe_queue(stack, namespace)
    custom = Custom(kube_client, namespace)
    for obj in examples():
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Mission":
            rules = obj["spec"]["alerts"]
            assert any(r["name"] == RULE["name"] for r in rules), "the examples' battery rule"
            obj["spec"]["alerts"] = [r for r in rules if r["name"] != RULE["name"]] + [RULE]
        if obj["kind"] == "Satellite":
            if obj["metadata"]["name"] != SATELLITE:
                continue
            [fault] = obj["spec"]["simulator"]["faults"]
            assert fault["type"] == "batteryAgeing"
            fault.pop("startOffsetSeconds", None)
            fault["start"] = AGED_SINCE
            # 30 simulated seconds per real second: an orbit (and its eclipse) in ~3 minutes.
            obj["spec"]["telemetryIntervalSeconds"] = 1
            obj["spec"]["simulator"]["timeScale"] = 30
        if obj["kind"] != "CommandPlan":
            custom.create(obj)
    custom.wait_phase("missions", MISSION, "Ready", timeout_s=90)

    def battery_alerting(listed: bool) -> dict[str, Any] | None:
        """The Alerting condition once it does (or no longer does) name the battery rule (other
        rules may fire too: fault protection latches when the battery runs low)."""
        found = custom.condition("satellites", SATELLITE, "Alerting") or {}
        if not found:
            return None
        named = f"{RULE['name']} (critical)" in found.get("message", "")
        if listed:
            return found if named and found["status"] == "True" else None
        return None if named else found

    secret = k8s.CoreV1Api(kube_client).read_namespaced_secret(
        child_name(MISSION, "api-tokens"), namespace
    )
    tokens = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    port = eventually(
        lambda: (
            runner.endpoints()
            .get(f"{namespace}/{child_name(MISSION, 'command-api')}/0", {})
            .get("http")
        ),
        timeout_s=60,
        what="command API running",
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    operator = {"Authorization": f"Bearer {tokens['operator']}"}

    def payload_on() -> httpx.Response | None:
        """PAYLOAD_ON, once the command API answers (its process may still be starting; a
        refused connection or a 503 sent nothing)."""
        try:
            response = httpx.post(
                f"{api}/satellites/{SATELLITE}/commands",
                json={"name": "PAYLOAD_ON"},
                headers=operator,
                timeout=10,
            )
        except httpx.TransportError:
            return None
        return None if response.status_code == 503 else response  # 503: not ready yet

    # 1. The payload's load empties the aged battery in eclipse: the battery rule fires — one
    # notification, the condition, an Event, the API's list.
    sent = eventually(payload_on, timeout_s=120, what="command API answering")
    assert sent.status_code == 202, sent.text
    condition = eventually(lambda: battery_alerting(True), timeout_s=300, what="Alerting=True")
    assert condition["status"] == "True"
    notified: list[dict[str, Any]] = []
    eventually(lambda: _received(stack, queue, notified), timeout_s=30, what="SNS message")
    assert [n["transition"] for n in notified] == ["firing"]
    assert notified[0]["satellite"] == SATELLITE
    assert notified[0]["value"] < 25
    assert notified[0]["threshold"] == 25
    eventually(
        lambda: _events(kube_client, namespace, "AlertFiring"), timeout_s=30, what="AlertFiring"
    )

    base = f"{api}/alerts"
    listed = httpx.get(
        base, params={"status": "firing", "satellite": SATELLITE}, headers=viewer, timeout=10
    ).json()
    [alert] = [a for a in listed["data"] if a["rule"] == RULE["name"]]
    assert alert["id"] == notified[0]["alert_id"]

    # 2. An operator acknowledges it (a viewer may not; twice is a conflict).
    url = f"{base}/{alert['id']}/acknowledge"
    assert httpx.post(url, headers=viewer, timeout=10).status_code == 403
    acked = httpx.post(url, headers=operator, timeout=10)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledgedBy"] == "operator"
    assert httpx.post(url, headers=operator, timeout=10).status_code == 409

    # 3. Safe mode sheds the payload and the battery charges in sunlight: resolved, notified
    # once more, the condition no longer names the rule.
    eventually(lambda: battery_alerting(False), timeout_s=300, what="battery-low resolved")
    eventually(lambda: len(_received(stack, queue, notified)) >= 2, timeout_s=30, what="resolution")
    assert [n["transition"] for n in notified] == ["firing", "resolved"]
    eventually(
        lambda: _events(kube_client, namespace, "AlertResolved"),
        timeout_s=30,
        what="AlertResolved",
    )
    resolved = httpx.get(
        base, params={"status": "resolved", "satellite": SATELLITE}, headers=viewer, timeout=10
    ).json()
    [done] = [a for a in resolved["data"] if a["id"] == alert["id"]]
    assert done["acknowledgedBy"] == "operator"
    # Nothing more arrives for this episode (no duplicate of either transition).
    assert [n["transition"] for n in _received(stack, queue, notified)] == ["firing", "resolved"]
