"""A deleted Mission's AWS leftovers, removed against moto's server over HTTP: the alerts runner's
queue and its subscription (set up by the runner's own `FlowBack.ensure_queue`), the mission's
alert items (written by the handler), and with deletionPolicy Delete its S3 archive — and nothing
of another mission. The operator's `aws_cleanup` does it; a second run finds nothing to do."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from alert_samples import record

from mpcs.kit.alerts_table import AlertTable, queue_name
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.flowback import FlowBack
from mpcs.lambdas.settings import AlertsSettings
from mpcs.operator.aws_cleanup import Removed, remove_sync
from mpcs.operator.settings import OperatorSettings

pytestmark = pytest.mark.integration

SOC = "power__battery_soc_pct"
RULES = [
    {"name": "battery-low", "channel": "power.battery_soc_pct", "operator": "<", "threshold": 25}
]


class _Unused:
    """FlowBack's Kubernetes and Kafka/InfluxDB sides: ensure_queue does not touch them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} called")


def test_mission_deletion_removes_queue_subscription_items_and_archive(
    moto_endpoint: str, unique: str
) -> None:
    kw = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }

    def clients(service: str) -> Any:
        return boto3.client(service, **kw)  # type: ignore[call-overload]

    sns, sqs, ddb, s3 = clients("sns"), clients("sqs"), clients("dynamodb"), clients("s3")
    table, bucket = f"alerts-{unique}", f"archive-{unique}"
    topic = sns.create_topic(Name=f"alerts-{unique}.fifo", Attributes={"FifoTopic": "true"})[
        "TopicArn"
    ]
    AlertTable(ddb, table).ensure_table()
    s3.create_bucket(Bucket=bucket)
    missions = ("gone", "stays")
    for mission in missions:
        FlowBack(
            namespace="ops",
            mission=mission,
            topic_arn=topic,
            sqs=sqs,
            sns=sns,
            table=AlertTable(ddb, table),
            satellites=_Unused(),  # type: ignore[arg-type]
            events=_Unused(),  # type: ignore[arg-type]
            lines=_Unused(),  # type: ignore[arg-type]
        ).ensure_queue()
        settings = AlertsSettings.model_validate(
            {
                "alerts_table": table,
                "alerts_topic_arn": topic,
                "alerts_missions": {f"ops/{mission}": {"rules": RULES}},
            }
        )
        topic_name = f"mpcs.ops.{mission}.telemetry"
        AlertsProcessor(settings, dynamodb=ddb, sns=sns).process(
            [record(topic_name, 0, "sat-a", 1, **{SOC: 10.0})], now=time.time()
        )
        for key in (
            f"telemetry/ops/{mission}/date=2025-03-01/hour=13/sat-a.parquet",
            f"telemetry/ops/{mission}/_archived_through.json",
            f"products/ops/{mission}/sat-a/20250301T120000.250000000Z-000012.png",
        ):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert len(AlertTable(ddb, table).query("ops/gone")) == 2  # the rule item and the watermark

    operator = OperatorSettings.model_validate(
        {"alerts_topic_arn": topic, "alerts_table": table, "archive_bucket": bucket}
    )
    removed = remove_sync(clients, operator, namespace="ops", mission="gone", archive=True)
    assert len(removed.subscriptions_and_queues) == 2  # the subscription, then the queue
    assert removed.alert_items == 2
    assert removed.archive_objects == 3

    queues = sqs.list_queues(QueueNamePrefix="mpcs-alerts-ops-").get("QueueUrls", [])
    assert [u.rsplit("/", 1)[1] for u in queues] == [queue_name("ops", "stays", fifo=True)]
    endpoints = [
        s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ]
    assert [e.rsplit(":", 1)[1] for e in endpoints] == [queue_name("ops", "stays", fifo=True)]
    assert AlertTable(ddb, table).query("ops/gone") == []
    assert len(AlertTable(ddb, table).query("ops/stays")) == 2
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 3
    assert all("/ops/stays/" in k for k in keys)

    # Idempotent: a retry (or a second operator replica) finds nothing left.
    again = remove_sync(clients, operator, namespace="ops", mission="gone", archive=True)
    assert again == Removed()


def test_retained_archive_stays_and_a_subscription_outliving_its_queue_goes(
    moto_endpoint: str, unique: str
) -> None:
    kw = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }

    def clients(service: str) -> Any:
        return boto3.client(service, **kw)  # type: ignore[call-overload]

    sns, sqs, s3 = clients("sns"), clients("sqs"), clients("s3")
    bucket = f"archive-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="telemetry/ops/kept/_archived_through.json", Body=b"x")
    topic = sns.create_topic(Name=f"alerts-{unique}")["TopicArn"]
    url = sqs.create_queue(QueueName=queue_name("ops", "kept", fifo=False))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sqs.delete_queue(QueueUrl=url)  # someone deleted the queue by hand: the subscription stays
    operator = OperatorSettings.model_validate(
        {"alerts_topic_arn": topic, "alerts_table": f"alerts-{unique}", "archive_bucket": bucket}
    )
    AlertTable(clients("dynamodb"), operator.alerts_table).ensure_table()
    removed = remove_sync(clients, operator, namespace="ops", mission="kept", archive=False)
    assert len(removed.subscriptions_and_queues) == 1
    assert removed.archive_objects == 0
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 1
