"""The alerts handler against moto's server over HTTP: DynamoDB items, and an SQS queue subscribed
to the SNS topic receiving exactly one message per transition — also when a batch is redelivered,
arrives out of order, or a run dies between publishing and clearing its pending marker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from alert_samples import T0_NS, record

from mpcs.lambdas.alerts import handler as handler_module
from mpcs.lambdas.alerts.events import KafkaRecord, build_kafka_event
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.alerts.model import RuleState
from mpcs.lambdas.alerts.store import AlertStore, Cleared, Conflict, RuleItem, SatelliteItem
from mpcs.lambdas.settings import AlertsSettings

pytestmark = pytest.mark.integration

MISSION = "ops/wildfire"
TOPIC = "mpcs.ops.wildfire.telemetry"
SOC = "power__battery_soc_pct"
RULES: list[dict[str, Any]] = [
    {
        "name": "battery-low",
        "channel": "power.battery_soc_pct",
        "operator": "<",
        "threshold": 25,
        "clearThreshold": 30,
        "severity": "critical",
    },
    {"name": "silent", "kind": "stale", "staleSeconds": 60},
]


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Aws:
    """A table, a topic and a queue subscribed to it, named for one test."""

    def __init__(self, endpoint: str, unique: str) -> None:
        self.endpoint = endpoint
        self.ddb = _client("dynamodb", endpoint)
        self.sns = _client("sns", endpoint)
        self.sqs = _client("sqs", endpoint)
        self.table = f"alerts-{unique}"
        AlertStore(self.ddb, self.table).ensure_table()
        self.topic_arn = self.sns.create_topic(Name=f"alerts-{unique}")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=f"alerts-{unique}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def settings(self, rules: list[dict[str, Any]] = RULES) -> AlertsSettings:
        return AlertsSettings.model_validate(
            {
                "alerts_table": self.table,
                "alerts_topic_arn": self.topic_arn,
                "alerts_missions": {MISSION: {"rules": rules, "apiUrl": "http://api.test"}},
                "aws_region": "us-east-1",
                "aws_endpoint_url": self.endpoint,
            }
        )

    def processor(self, **clients: Any) -> AlertsProcessor:
        return AlertsProcessor(
            self.settings(),
            dynamodb=clients.get("dynamodb", self.ddb),
            sns=clients.get("sns", self.sns),
        )

    def messages(self, expected: int, *, timeout_s: float = 10) -> list[dict[str, Any]]:
        """Every message the queue holds: at least `expected` (waiting for them), and then
        whatever else arrives within a further second."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while True:
            wait = 1 if len(out) >= expected else 2
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            ).get("Messages", [])
            for m in got:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                out.append(orjson.loads(m["Body"]))
            if (not got and len(out) >= expected) or time.monotonic() > deadline:
                return out

    def item(self, key: str) -> dict[str, Any]:
        raw = self.ddb.get_item(
            TableName=self.table,
            Key={"mission": {"S": MISSION}, "key": {"S": key}},
            ConsistentRead=True,
        ).get("Item", {})
        return {k: next(iter(v.values())) for k, v in raw.items()}


@pytest.fixture
def aws(moto_endpoint: str, unique: str) -> Aws:
    return Aws(moto_endpoint, unique)


def _battery_episode(first_offset: int = 0) -> list[KafkaRecord]:
    """sat-a: 50 %, then below 25 (fires at t=2), 26 (still firing: clear level 30), 31
    (resolves at t=5), 40."""
    values = [50.0, 24.0, 20.0, 26.0, 31.0, 40.0]
    return [
        record(TOPIC, first_offset + i, "sat-a", i + 1, **{SOC: v}) for i, v in enumerate(values)
    ]


def _bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(m["Message"]) for m in messages]


DAY_S = 86_400


def test_one_message_per_transition_and_none_on_redelivery(aws: Aws) -> None:
    processor = aws.processor()
    batch = _battery_episode()
    now = time.time()
    result = processor.process(batch, now=now)
    assert [t.transition for t in result.transitions] == ["firing", "resolved"]
    assert result.failed == []

    messages = aws.messages(2)
    bodies = _bodies(messages)
    assert [b["transition"] for b in bodies] == ["firing", "resolved"]
    firing, resolved = bodies
    assert firing["satellite"] == "sat-a"
    assert firing["rule"] == "battery-low"
    assert firing["channel"] == "power.battery_soc_pct"
    assert firing["value"] == 24.0
    assert firing["threshold"] == 25.0
    assert firing["unit"] == "%"
    assert firing["severity"] == "critical"
    assert firing["spacecraft_time"] == "2023-11-14T22:13:22.000000000Z"
    assert firing["link"] == "http://api.test/api/v1/satellites/sat-a"
    assert resolved["value"] == 31.0
    assert resolved["alert_id"] == firing["alert_id"]
    attributes = messages[0]["MessageAttributes"]
    assert attributes["severity"]["Value"] == "critical"
    assert attributes["mission"]["Value"] == MISSION
    assert attributes["transition"]["Value"] == "firing"

    item = aws.item("sat-a#battery-low")
    assert item["alert_id"] == firing["alert_id"]
    assert item["alert_status"] == "resolved"
    assert item["status"] == "ok"
    assert item["fired_at"] == "2023-11-14T22:13:22.000000000Z"
    assert item["resolved_at"] == "2023-11-14T22:13:25.000000000Z"
    assert "pending" not in item
    # Resolved and published: the item expires 90 days (the default retention) after the write,
    # and so does the satellite's watermark (DynamoDB TTL: epoch seconds, a number).
    assert int(item["expires_at"]) == int(now) + 90 * DAY_S
    assert int(aws.item("sat-a")["last_sample_time"]) == T0_NS + 6_000_000_000
    assert int(aws.item("sat-a")["expires_at"]) == int(now) + 90 * DAY_S

    # Lambda redelivers the same batch (e.g. the previous invocation timed out after storing).
    again = processor.process(batch, now=time.time())
    assert again.transitions == []
    assert again.writes == 0
    assert aws.messages(0) == []


def test_items_past_expires_at_still_guard_until_deleted_and_a_later_replay_fires_the_same_id(
    aws: Aws,
) -> None:
    """DynamoDB deletes an expired item some time after `expires_at` (typically within days):
    while it is there, it is read like any other, so a redelivery is still a no-op. Once both
    the pair's item and the satellite's watermark are gone (the satellite was silent for the
    whole retention), a replay of those samples in a handler that does not hold the watermark in
    memory (a new Lambda container, a restarted runner) is evaluated as new: it fires and
    resolves again, under the same alert id (uuid5 of the firing's spacecraft time)."""
    processor = aws.processor()
    batch = _battery_episode()
    first = processor.process(batch, now=time.time() - 100 * DAY_S)  # expired 10 days ago
    assert int(aws.item("sat-a#battery-low")["expires_at"]) < time.time()
    assert processor.process(batch, now=time.time()).transitions == []
    for key in ("sat-a#battery-low", "sat-a#silent", "sat-a"):  # what TTL does, eventually
        aws.ddb.delete_item(TableName=aws.table, Key={"mission": {"S": MISSION}, "key": {"S": key}})
    assert processor.process(batch, now=time.time()).transitions == []  # it still holds it
    replayed = aws.processor().process(batch, now=time.time())
    assert [t.id for t in replayed.transitions] == [t.id for t in first.transitions]
    aws.messages(4)


def test_a_firing_or_pending_item_carries_no_expiry_and_loses_it_when_it_fires_again(
    aws: Aws,
) -> None:
    rules = [*RULES, {**RULES[0], "name": "battery-held", "forSeconds": 30}]
    processor = AlertsProcessor(aws.settings(rules), dynamodb=aws.ddb, sns=aws.sns)
    processor.process(_battery_episode()[:3], now=time.time())
    assert aws.item("sat-a#battery-low")["status"] == "firing"
    assert "expires_at" not in aws.item("sat-a#battery-low")
    assert aws.item("sat-a#battery-held")["status"] == "pending"
    assert "expires_at" not in aws.item("sat-a#battery-held")
    processor.process(_battery_episode(first_offset=0)[3:], now=time.time())
    assert "expires_at" in aws.item("sat-a#battery-low")  # resolved
    assert "expires_at" in aws.item("sat-a#battery-held")  # pending → ok
    processor.process([record(TOPIC, 20, "sat-a", 10, **{SOC: 5.0})], now=time.time())
    assert aws.item("sat-a#battery-low")["status"] == "firing"
    assert "expires_at" not in aws.item("sat-a#battery-low")
    assert "expires_at" not in aws.item("sat-a#battery-held")
    aws.messages(3)


def test_out_of_order_and_overlapping_batches_notify_nobody_twice(aws: Aws) -> None:
    processor = aws.processor()
    episode = _battery_episode()
    # The first three samples arrive, shuffled: the firing at t=2 is found in spacecraft order.
    first = processor.process([episode[2], episode[0], episode[1]], now=time.time())
    assert [(t.transition, t.value) for t in first.transitions] == [("firing", 24.0)]
    # A later batch overlaps the first (t=2, t=3 again) and adds an old sample from before it
    # whose 90 % would resolve the alert were it evaluated.
    late = record(TOPIC, 99, "sat-a", 0.5, **{SOC: 90.0})
    second = processor.process([late, *episode[1:4]], now=time.time())
    assert second.transitions == []
    # t=4 (26 %) changed no rule state, so only the satellite's watermark recorded it; a sample
    # from t=3.5 that arrives after it must not resolve the alert either.
    between = record(TOPIC, 100, "sat-a", 3.5, **{SOC: 90.0})
    assert processor.process([between], now=time.time()).transitions == []
    third = processor.process(episode[4:], now=time.time())
    assert [t.transition for t in third.transitions] == ["resolved"]
    assert [b["transition"] for b in _bodies(aws.messages(2))] == ["firing", "resolved"]


def test_the_lambda_handler_end_to_end_with_a_self_managed_event(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = aws.settings()
    monkeypatch.setenv("MPCS_ALERTS_TABLE", settings.alerts_table)
    monkeypatch.setenv("MPCS_ALERTS_TOPIC_ARN", settings.alerts_topic_arn)
    monkeypatch.setenv("MPCS_ALERTS_MISSIONS", orjson.dumps({MISSION: {"rules": RULES}}).decode())
    monkeypatch.setenv("MPCS_AWS_REGION", "us-east-1")
    monkeypatch.setenv("MPCS_AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    handler_module.reset()
    try:
        invalid = KafkaRecord(topic=TOPIC, partition=0, offset=50, value=b'{"version": 2}')
        event = build_kafka_event(
            [*_battery_episode(), invalid], source="SelfManagedKafka", bootstrap_servers="k:9092"
        )
        assert handler_module.handler(event, None) == {"batchItemFailures": []}
        assert [b["transition"] for b in _bodies(aws.messages(2))] == ["firing", "resolved"]
        assert handler_module.handler(event, None) == {"batchItemFailures": []}
        assert aws.messages(0) == []
    finally:
        handler_module.reset()


class _FailingSns:
    """An SNS client whose publish fails, as if the process died before publishing."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def publish_batch(self, **kwargs: Any) -> Any:
        raise RuntimeError("publish lost")


def test_a_transition_stored_but_not_published_is_published_once_on_redelivery(aws: Aws) -> None:
    batch = _battery_episode()[:3]
    broken = aws.processor(sns=_FailingSns(aws.sns)).process(batch, now=time.time())
    assert broken.transitions == []
    assert sorted(r.offset for r in broken.failed) == [0, 1, 2]  # sat-a's records go back
    pending = orjson.loads(aws.item("sat-a#battery-low")["pending"])
    assert [t["transition"] for t in pending] == ["firing"]
    assert aws.item("sat-a") == {}  # the watermark did not move
    assert aws.messages(0) == []

    redelivered = aws.processor().process(batch, now=time.time())
    assert [t.id for t in redelivered.transitions] == [pending[0]["id"]]
    assert redelivered.failed == []
    assert [b["id"] for b in _bodies(aws.messages(1))] == [pending[0]["id"]]
    assert "pending" not in aws.item("sat-a#battery-low")
    assert aws.processor().process(batch, now=time.time()).transitions == []
    assert aws.messages(0) == []


class _ThrottledDynamo:
    """A DynamoDB client whose writes of one satellite's items fail (throttling)."""

    def __init__(self, real: Any, satellite: str) -> None:
        self.real = real
        self.satellite = satellite

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["Item"]["satellite"]["S"] == self.satellite:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "PutItem")
        return self.real.put_item(**kwargs)


def test_a_failed_write_reports_only_that_satellites_records(aws: Aws) -> None:
    batch = [
        *_battery_episode()[:3],
        *(
            record(TOPIC, 10 + i, "sat-b", i + 1, partition=1, **{SOC: v})
            for i, v in enumerate([50.0, 10.0])
        ),
    ]
    result = aws.processor(dynamodb=_ThrottledDynamo(aws.ddb, "sat-b")).process(
        batch, now=time.time()
    )
    assert sorted((r.partition, r.offset) for r in result.failed) == [(1, 10), (1, 11)]
    assert [(t.satellite, t.transition) for t in result.transitions] == [("sat-a", "firing")]
    assert aws.item("sat-b") == {}
    retried = aws.processor().process(result.failed, now=time.time())
    assert [(t.satellite, t.transition) for t in retried.transitions] == [("sat-b", "firing")]
    assert sorted(b["satellite"] for b in _bodies(aws.messages(2))) == ["sat-a", "sat-b"]


def test_invalid_telemetry_is_skipped_not_failed(aws: Aws) -> None:
    junk = [
        KafkaRecord(topic=TOPIC, partition=0, offset=1, value=b"not json"),
        KafkaRecord(topic=TOPIC, partition=0, offset=2, value=b'{"version": 1}'),
        KafkaRecord(topic="mpcs.ops.other.telemetry", partition=0, offset=3, value=b"{}"),
    ]
    result = aws.processor().process(junk, now=time.time())
    assert result.failed == []
    assert result.invalid == 2
    assert result.unrouted == 1


def test_stale_sweep_fires_once_and_a_new_sample_resolves(aws: Aws) -> None:
    processor = aws.processor()
    heard_ms = 1_000_000  # the sample was produced at Unix 1000 s
    processor.process([record(TOPIC, 0, "sat-c", 1, seen_ms=heard_ms, **{SOC: 80.0})], now=1001)
    assert processor.sweep(now=1059).transitions == []
    swept = processor.sweep(now=1061)
    assert [(t.rule, t.transition, t.value) for t in swept.transitions] == [
        ("silent", "firing", 61.0)
    ]
    assert processor.sweep(now=1100).transitions == []  # already firing
    back = processor.process(
        [record(TOPIC, 1, "sat-c", 200, seen_ms=1_200_000, **{SOC: 80.0})], now=1200
    )
    assert [(t.rule, t.transition) for t in back.transitions] == [("silent", "resolved")]
    bodies = _bodies(aws.messages(2))
    assert [(b["rule"], b["transition"]) for b in bodies] == [
        ("silent", "firing"),
        ("silent", "resolved"),
    ]
    assert bodies[0]["unit"] == "s"
    assert bodies[0]["threshold"] == 60.0


def test_conditional_write_refuses_a_stale_version(aws: Aws) -> None:
    store = AlertStore(aws.ddb, aws.table)
    fresh = RuleItem(satellite="sat-d", rule="battery-low")
    store.save_rule(MISSION, fresh, RuleState(last_sample_time=5), pending=[], attributes={})
    with pytest.raises(Conflict):  # a second writer that also read the item as absent
        store.save_rule(MISSION, fresh, RuleState(last_sample_time=6), pending=[], attributes={})
    _, items = store.load(MISSION, ["sat-d"], ["battery-low"])
    read = items["sat-d#battery-low"]
    assert read.version == 1
    assert read.state.last_sample_time == 5
    store.save_rule(MISSION, read, RuleState(last_sample_time=7), pending=[], attributes={})
    with pytest.raises(Conflict):
        store.save_rule(MISSION, read, RuleState(last_sample_time=8), pending=[], attributes={})


def test_list_and_acknowledge_alerts(aws: Aws) -> None:
    processor = aws.processor()
    processor.process(_battery_episode()[:3], now=time.time())
    store = AlertStore(aws.ddb, aws.table)
    (alert,) = store.list_alerts(MISSION, status="firing")
    assert alert["satellite"] == "sat-a"
    assert alert["acknowledged_by"] is None
    assert store.list_alerts(MISSION, status="resolved") == []
    acked = store.acknowledge(MISSION, alert["id"], "flight-director", "2026-12-02T14:00:00Z")
    assert acked["acknowledged_by"] == "flight-director"
    assert acked["acknowledged_at"] == "2026-12-02T14:00:00Z"
    with pytest.raises(KeyError):
        store.acknowledge(MISSION, "no-such-alert", "x", "2026-12-02T14:00:00Z")
    # The acknowledgement stays with its alert when it resolves…
    processor.process(_battery_episode(first_offset=0)[3:], now=time.time())
    (resolved,) = store.list_alerts(MISSION, status="resolved")
    assert resolved["id"] == alert["id"]
    assert resolved["acknowledged_by"] == "flight-director"
    # …and a new alert on the same pair starts unacknowledged.
    processor.process([record(TOPIC, 20, "sat-a", 10, **{SOC: 5.0})], now=time.time())
    (again,) = store.list_alerts(MISSION, status="firing")
    assert again["id"] != alert["id"]
    assert again["acknowledged_by"] is None


def test_ensure_table_is_idempotent(aws: Aws) -> None:
    AlertStore(aws.ddb, aws.table).ensure_table()
    described = aws.ddb.describe_table(TableName=aws.table)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {
        "mission": "HASH",
        "key": "RANGE",
    }
    ttl = aws.ddb.describe_time_to_live(TableName=aws.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


@pytest.fixture(autouse=True)
def _no_cached_processor() -> Iterator[None]:
    handler_module.reset()
    yield
    handler_module.reset()


def test_many_satellites_publish_in_batches_and_settle_each_item_once(aws: Aws) -> None:
    """150 satellites fire at once: their transitions go out in PublishBatch calls of ten (not a
    Publish each), their markers and watermarks as one conditional UpdateItem each (no
    transaction), and each is notified once."""
    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        op = event_name.split(".")[-1]
        calls[op] = calls.get(op, 0) + 1

    aws.ddb.meta.events.register("before-call.dynamodb", count)
    aws.sns.meta.events.register("before-call.sns", count)
    satellites = [f"sat-{i:03d}" for i in range(150)]
    batch = [
        record(TOPIC, i, sat, 10 + i % 3, partition=i % 3, **{SOC: 10.0})
        for i, sat in enumerate(satellites)
    ]
    result = aws.processor().process(batch, now=time.time())
    assert result.failed == []
    assert sorted(t.satellite for t in result.transitions) == satellites
    assert calls.get("PublishBatch") == 15
    assert calls.get("UpdateItem") == 300  # 150 markers + 150 watermarks
    assert "TransactWriteItems" not in calls
    assert "Publish" not in calls
    for i in (0, 1, 149):
        assert int(aws.item(satellites[i])["last_sample_time"]) == T0_NS + (10 + i % 3) * 10**9
        assert "pending" not in aws.item(f"{satellites[i]}#battery-low")
    bodies = _bodies(aws.messages(150, timeout_s=30))
    assert sorted(b["satellite"] for b in bodies) == satellites


def test_settle_drops_only_the_updates_no_longer_needed(aws: Aws) -> None:
    """An update whose condition fails (the watermark is already further, the item moved past the
    version whose marker it clears) is ignored and the others are written."""
    store = AlertStore(aws.ddb, aws.table)
    sat = SatelliteItem
    store.settle(MISSION, cleared=[], watermarks=[sat("sat-a", 10, 1.0), sat("sat-b", 10, 1.0)])
    item = RuleItem(satellite="sat-a", rule="battery-low")
    version = store.save_rule(
        MISSION, item, RuleState(last_sample_time=5), pending=[], attributes={}
    )
    store.settle(
        MISSION,
        cleared=[Cleared("sat-a#battery-low", version + 1)],  # moved on: not ours to clear
        watermarks=[sat("sat-a", 5, 2.0), sat("sat-b", 20, 2.0), sat("sat-c", 7, 3.0)],
    )
    sats, items = store.load(MISSION, ["sat-a", "sat-b", "sat-c"], ["battery-low"])
    assert [(s.last_sample_time, s.last_seen) for s in sats.values()] == [
        (10, 1.0),  # never backwards
        (20, 2.0),
        (7, 3.0),
    ]
    assert items["sat-a#battery-low"].version == version
