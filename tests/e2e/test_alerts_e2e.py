"""An alert's whole life with the examples, everything real: a fault trips a rule, the alert is
notified once, shown on the Satellite, in Kubernetes Events and in the API, acknowledged by an
operator, and resolved (notified once more) when the spacecraft recovers.

The fault is a radio dropout with a duration: the simulated transceiver fails and comes back on its
own, so the rule fires and resolves from physics alone (an ageing battery never recovers). The
operator (under its RBAC, configured with the dev stack's moto topic and table) deploys the
mission's alerts runner; the local runner runs it with the simulators, the ingest and the command
API. The SNS messages are counted on an SQS FIFO queue this test subscribes to the topic.
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
SATELLITE = "firewatch-1"
RULE = {
    "name": "radio-down",
    "channel": "comms.radio_ok",
    "operator": "==",
    "threshold": 0,
    "forSeconds": 4,
    "severity": "critical",
}


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
            obj["spec"]["alerts"].append(RULE)
        if obj["kind"] == "Satellite":
            if obj["metadata"]["name"] != SATELLITE:
                continue
            obj["spec"]["telemetryIntervalSeconds"] = 2
            obj["spec"]["simulator"]["faults"] = [
                {"type": "radioDropout", "startOffsetSeconds": 30, "durationSeconds": 40}
            ]
        if obj["kind"] != "CommandPlan":
            custom.create(obj)
    custom.wait_phase("missions", MISSION, "Ready", timeout_s=90)

    def alerting(status: str) -> dict[str, Any] | None:
        found = custom.condition("satellites", SATELLITE, "Alerting") or {}
        firing = RULE["name"] in found.get("message", "")
        return found if found.get("status") == status and firing == (status == "True") else None

    # 1. The dropout trips the rule: one notification, the condition, an Event, the API's list.
    condition = eventually(lambda: alerting("True"), timeout_s=150, what="Alerting=True")
    assert "radio-down (critical)" in condition["message"]
    notified: list[dict[str, Any]] = []
    eventually(lambda: _received(stack, queue, notified), timeout_s=30, what="SNS message")
    assert [n["transition"] for n in notified] == ["firing"]
    assert notified[0]["satellite"] == SATELLITE
    assert notified[0]["value"] == 0
    assert notified[0]["threshold"] == 0
    eventually(
        lambda: _events(kube_client, namespace, "AlertFiring"), timeout_s=30, what="AlertFiring"
    )

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
    base = f"http://127.0.0.1:{port}/api/v1/alerts"
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    listed = httpx.get(
        base, params={"status": "firing", "satellite": SATELLITE}, headers=viewer, timeout=10
    ).json()
    [alert] = [a for a in listed["data"] if a["rule"] == RULE["name"]]
    assert alert["id"] == notified[0]["alert_id"]

    # 2. An operator acknowledges it (a viewer may not; twice is a conflict).
    url = f"{base}/{alert['id']}/acknowledge"
    assert httpx.post(url, headers=viewer, timeout=10).status_code == 403
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    acked = httpx.post(url, headers=operator, timeout=10)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledgedBy"] == "operator"
    assert httpx.post(url, headers=operator, timeout=10).status_code == 409

    # 3. The radio comes back: resolved, notified once more, the condition clears.
    eventually(lambda: alerting("False"), timeout_s=120, what="Alerting back to False")
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
