"""The runner's commit rule against the real Kafka: records a handler lists in `batchItemFailures`
are not committed, the partition is sought back to the first failed one and retried after a
backoff; a handler that raises leaves the whole poll uncommitted. The handler here is a stand-in
that records what it was given and fails on purpose (the real one is driven end to end in
test_alerts_runner.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from mpcs.core.names import Topic, consumer_group, topic
from mpcs.core.resources import KafkaSettings
from mpcs.dev.stack import ConnectionInfo
from mpcs.lambdas.alerts.events import parse_kafka_event
from mpcs.lambdas.runner import AlertsRunner, RunnerSettings
from mpcs.lambdas.settings import AlertsSettings
from mpcs.operator.builders import mission_topics
from mpcs.operator.kafka_topics import KafkaTopics

pytestmark = pytest.mark.integration

MISSION = "retry"


class FlakyHandler:
    """Fails records from offset `fail_from` on (first delivery only), or raises once."""

    def __init__(self, *, fail_from: int | None = None, raise_once: bool = False) -> None:
        self.fail_from = fail_from
        self.raise_once = raise_once
        self.calls: list[tuple[float, list[int]]] = []

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if event.get("source") == "aws.events":
            return {"transitions": 0}
        assert context.function_name == "mpcs-alerts"
        records = parse_kafka_event(event)
        self.calls.append((time.monotonic(), [r.offset for r in records]))
        if self.raise_once:
            self.raise_once = False
            raise RuntimeError("DynamoDB away")
        failed = [
            {"itemIdentifier": r.item_identifier}
            for r in records
            if self.fail_from is not None and r.offset >= self.fail_from
        ]
        if failed:
            self.fail_from = None
        return {"batchItemFailures": failed}


async def _committed(bootstrap: str, namespace: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            consumer_group(namespace, MISSION, "alerts")
        )
    except GroupCoordinatorNotAvailableError:
        return 0  # a fresh broker creates its offsets topic with the first group
    finally:
        await admin.close()
    return sum(m.offset for m in offsets.values())


async def _run(
    handler: FlakyHandler,
    *,
    conn: ConnectionInfo,
    moto_endpoint: str,
    namespace: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AlertsRunner:
    """Six records of one satellite through a runner with `handler`, until all are committed."""
    monkeypatch.setenv("KUBECONFIG", conn.kubeconfig)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(
            mission_topics(namespace, MISSION, KafkaSettings(partitions=1, replication_factor=1))
        )
    finally:
        await topics.close()
    producer = AIOKafkaProducer(bootstrap_servers=conn.kafka_bootstrap_servers)
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(
                topic(namespace, MISSION, Topic.TELEMETRY), key=b"sat-a", value=b'{"n":%d}' % i
            )
    finally:
        await producer.stop()
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = sns.create_topic(Name=f"retry-{unique}")["TopicArn"]
    runner = AlertsRunner(
        RunnerSettings(
            namespace=namespace,
            mission=MISSION,
            kafka_bootstrap=conn.kafka_bootstrap_servers,
            influx_url=conn.influx_url,
            influx_org=conn.influx_org,
            influx_token=conn.influx_token,
            metrics_port=0,
            alerts_retry_initial_ms=300,
            alerts_sweep_interval_s=3600,
        ),
        AlertsSettings(
            alerts_topic_arn=arn, aws_endpoint_url=moto_endpoint, aws_region="us-east-1"
        ),
        handler=handler,
    )
    task = asyncio.create_task(runner.run())
    try:
        deadline = time.monotonic() + 60
        while await _committed(conn.kafka_bootstrap_servers, namespace) < 6:
            assert time.monotonic() < deadline, f"not all committed; calls {handler.calls}"
            assert not task.done(), task
            await asyncio.sleep(0.2)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
    return runner


async def test_failed_records_are_sought_back_and_retried_after_a_backoff(
    conn: ConnectionInfo,
    moto_endpoint: str,
    namespace: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = FlakyHandler(fail_from=3)
    runner = await _run(
        handler,
        conn=conn,
        moto_endpoint=moto_endpoint,
        namespace=namespace,
        unique=unique,
        monkeypatch=monkeypatch,
    )
    delivered = [o for _, offsets in handler.calls for o in offsets]
    # Every record at least once, the failed ones (3, 4, 5) exactly once more, nothing else.
    assert sorted(delivered) == [0, 1, 2, 3, 3, 4, 4, 5, 5]
    failing = next(i for i, (_, offsets) in enumerate(handler.calls) if 3 in offsets)
    retry = next(i for i, (_, offsets) in enumerate(handler.calls) if i > failing and 3 in offsets)
    waited = handler.calls[retry][0] - handler.calls[failing][0]
    assert waited >= 0.3  # MPCS_ALERTS_RETRY_INITIAL_MS=300
    assert handler.calls[retry][1][0] == 3  # resumed at the first failed offset
    assert runner.registry.get_sample_value("mpcs_alerts_record_failures_total") == 3


async def test_a_handler_that_raises_leaves_the_poll_uncommitted(
    conn: ConnectionInfo,
    moto_endpoint: str,
    namespace: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = FlakyHandler(raise_once=True)
    await _run(
        handler,
        conn=conn,
        moto_endpoint=moto_endpoint,
        namespace=namespace,
        unique=unique,
        monkeypatch=monkeypatch,
    )
    first = handler.calls[0][1]
    again = [o for _, offsets in handler.calls[1:] for o in offsets]
    assert first[0] == 0
    assert sorted(again) == list(range(6))  # everything of the failed poll came back


async def test_no_record_is_handled_before_the_queue_is_subscribed(
    conn: ConnectionInfo,
    moto_endpoint: str,
    namespace: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A transition published before the mission's queue exists would never flow back."""
    monkeypatch.setenv("KUBECONFIG", conn.kubeconfig)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(
            mission_topics(namespace, MISSION, KafkaSettings(partitions=1, replication_factor=1))
        )
    finally:
        await topics.close()
    producer = AIOKafkaProducer(bootstrap_servers=conn.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic(namespace, MISSION, Topic.TELEMETRY), value=b"{}")
    finally:
        await producer.stop()
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"later-{unique}"
    arn = f"arn:aws:sns:us-east-1:123456789012:{name}"  # moto's account; not created yet
    handler = FlakyHandler()
    runner = AlertsRunner(
        RunnerSettings(
            namespace=namespace,
            mission=MISSION,
            kafka_bootstrap=conn.kafka_bootstrap_servers,
            influx_url=conn.influx_url,
            influx_org=conn.influx_org,
            influx_token=conn.influx_token,
            metrics_port=0,
            alerts_sweep_interval_s=3600,
        ),
        AlertsSettings(
            alerts_topic_arn=arn, aws_endpoint_url=moto_endpoint, aws_region="us-east-1"
        ),
        handler=handler,
    )
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(5)
        assert handler.calls == []
        state = runner.readiness()
        assert not state.ready
        assert "SQS queue not set up" in state.reason
        assert sns.create_topic(Name=name)["TopicArn"] == arn
        deadline = time.monotonic() + 60
        while not handler.calls:
            assert time.monotonic() < deadline, "the handler was never called"
            await asyncio.sleep(0.2)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
