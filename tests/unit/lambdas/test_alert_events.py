"""Lambda's Kafka event both ways (mpcs.lambdas.alerts.events) and the handler's settings."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    KafkaMskEventModel,
    KafkaSelfManagedEventModel,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mpcs.kit.settings import SettingsError
from mpcs.lambdas.alerts.events import (
    KafkaEventError,
    KafkaRecord,
    build_kafka_event,
    is_kafka_event,
    mission_of_topic,
    parse_kafka_event,
    parse_kafka_event_powertools,
)
from mpcs.lambdas.alerts.handler import Result
from mpcs.lambdas.settings import load

TOPIC = "mpcs.ops.wildfire.telemetry"
ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/ops/0b2e6c1a-1111-2222-3333-444455556666-1"


def records() -> list[KafkaRecord]:
    return [
        KafkaRecord(
            topic=TOPIC,
            partition=p,
            offset=o,
            value=f'{{"n": {o}}}'.encode(),
            key=b"sat-a" if o % 2 else None,
            timestamp_ms=1_740_830_400_123 + o,
            timestamp_type="CREATE_TIME",
            headers=(("traceparent", b"00-ab"), ("empty", b"")),
        )
        for p in (0, 2)
        for o in (7, 8, 9)
    ]


def _documented_msk_event() -> dict[str, Any]:
    """An event written by hand in the shape AWS documents for MSK (not produced by our builder)."""
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": ARN,
        "bootstrapServers": "b-1.ops.kafka.us-east-1.amazonaws.com:9092,"
        "b-2.ops.kafka.us-east-1.amazonaws.com:9092",
        "records": {
            f"{TOPIC}-1": [
                {
                    "topic": TOPIC,
                    "partition": 1,
                    "offset": 15,
                    "timestamp": 1545084650987,
                    "timestampType": "CREATE_TIME",
                    "key": base64.b64encode(b"sat-b").decode(),
                    "value": base64.b64encode(b'{"hello": "kafka"}').decode(),
                    "headers": [{"headerKey": [104, 101, 97, 100, 101, 114]}],
                }
            ]
        },
    }


@pytest.mark.parametrize("source", ["aws:kafka", "SelfManagedKafka"])
def test_built_event_parses_with_powertools_and_round_trips(source: str) -> None:
    arn = ARN if source == "aws:kafka" else None
    event = build_kafka_event(
        records(), source=source, bootstrap_servers=["k1:9092", "k2:9092"], event_source_arn=arn
    )  # type: ignore[arg-type]
    model = KafkaMskEventModel if source == "aws:kafka" else KafkaSelfManagedEventModel
    parsed = model.model_validate(copy.deepcopy(event))
    assert parsed.bootstrapServers == ["k1:9092", "k2:9092"]
    assert set(parsed.records) == {f"{TOPIC}-0", f"{TOPIC}-2"}
    first = parsed.records[f"{TOPIC}-0"][0]
    assert first.value == '{"n": 7}'
    assert first.headers == [{"traceparent": b"00-ab"}, {"empty": b""}]
    assert event["records"][f"{TOPIC}-0"][0]["headers"][0] == {"traceparent": [48, 48, 45, 97, 98]}
    assert "key" not in event["records"][f"{TOPIC}-0"][1]  # a null key is left out
    assert parse_kafka_event(event) == records()


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=40)
_records = st.lists(
    st.builds(
        KafkaRecord,
        topic=_names,
        partition=st.integers(min_value=0, max_value=1000),
        offset=st.integers(min_value=0, max_value=2**62),
        # Telemetry is UTF-8 JSON; powertools decodes values to text (see the non-UTF-8 test).
        value=st.text(max_size=300).map(str.encode),
        key=st.none() | st.binary(max_size=40),
        # pydantic reads integers below 2e10 as seconds, above as milliseconds: Lambda sends
        # milliseconds of this century, where both readings agree.
        timestamp_ms=st.integers(min_value=20_000_000_001, max_value=4_102_444_800_000),
        timestamp_type=st.sampled_from(["CREATE_TIME", "LOG_APPEND_TIME"]),
        headers=st.lists(st.tuples(_names, st.binary(max_size=20)), max_size=3).map(tuple),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(records=_records, msk=st.booleans())
def test_our_parser_reads_every_event_as_powertools_does(
    records: list[KafkaRecord], msk: bool
) -> None:
    event = build_kafka_event(
        records,
        source="aws:kafka" if msk else "SelfManagedKafka",
        bootstrap_servers="k:9092",
        event_source_arn=ARN if msk else None,
    )
    ours = parse_kafka_event(event)
    assert ours == parse_kafka_event_powertools(event)

    # Records come back grouped by "<topic>-<partition>", in order within a group.
    def order(r: KafkaRecord) -> tuple[str, int, int]:
        return (r.topic, r.partition, r.offset)

    assert sorted(ours, key=order) == sorted(records, key=order)


def _broken(change: dict[str, Any], record_change: dict[str, Any] | None = None) -> dict[str, Any]:
    event = {**_documented_msk_event(), **change}
    if record_change is not None:
        (group,) = event["records"].values()
        group[0] = {**group[0], **record_change}
        group[0] = {k: v for k, v in group[0].items() if v is not None}
    return {k: v for k, v in event.items() if v is not None}


_BROKEN = {
    "source-sqs": _broken({"eventSource": "aws:sqs"}),
    "msk-without-arn": _broken({"eventSourceArn": None}),
    "no-bootstrap-servers": _broken({"bootstrapServers": None}),
    "records-a-list": _broken({"records": [1, 2]}),
    "offset-text": _broken({}, {"offset": "fifteen"}),
    "no-partition": _broken({}, {"partition": None}),
    "no-topic": _broken({}, {"topic": None}),
    "no-value": _broken({}, {"value": None}),
    "no-headers": _broken({}, {"headers": None}),
    "header-not-bytes": _broken({}, {"headers": [{"h": "not bytes"}]}),
    "no-timestamp-type": _broken({}, {"timestampType": None}),
}


@pytest.mark.parametrize("name", sorted(_BROKEN))
def test_both_parsers_refuse_what_is_not_a_kafka_event(name: str) -> None:
    # powertools' header validator lets a TypeError through instead of a ValidationError.
    with pytest.raises((ValidationError, TypeError)):
        parse_kafka_event_powertools(copy.deepcopy(_BROKEN[name]))
    with pytest.raises(KafkaEventError):
        parse_kafka_event(_BROKEN[name])


def test_signed_header_bytes_read_as_powertools_reads_them() -> None:
    event = _documented_msk_event()
    (group,) = event["records"].values()
    group[0]["headers"] = [{"signed": [-1, 0, 127, -128]}, {"plain": [255, 1]}]
    (ours,) = parse_kafka_event(event)
    assert ours.headers == (("signed", b"\xff\x00\x7f\x80"), ("plain", b"\xff\x01"))
    assert [ours] == parse_kafka_event_powertools(event)
    group[0]["headers"] = [{"too-big": [256]}]
    with pytest.raises(KafkaEventError, match="too-big"):
        parse_kafka_event(event)


def test_a_value_that_is_not_utf8_is_a_record_not_a_broken_event() -> None:
    event = build_kafka_event(
        [KafkaRecord(topic=TOPIC, partition=0, offset=1, value=b"\xff\xfe")],
        bootstrap_servers="k:9092",
    )
    with pytest.raises(ValidationError):
        parse_kafka_event_powertools(event)
    assert [r.value for r in parse_kafka_event(event)] == [b"\xff\xfe"]


def test_msk_event_needs_the_cluster_arn() -> None:
    with pytest.raises(ValueError, match="event_source_arn"):
        build_kafka_event(records(), source="aws:kafka", bootstrap_servers="k:9092")


def test_parses_a_documented_msk_event() -> None:
    (record,) = parse_kafka_event(_documented_msk_event())
    assert record == KafkaRecord(
        topic=TOPIC,
        partition=1,
        offset=15,
        value=b'{"hello": "kafka"}',
        key=b"sat-b",
        timestamp_ms=1545084650987,
        timestamp_type="CREATE_TIME",
        headers=(("headerKey", b"header"),),
    )


def test_accepts_the_aws_prefixed_self_managed_spelling() -> None:
    event = _documented_msk_event()
    del event["eventSourceArn"]
    event["eventSource"] = "aws:SelfManagedKafka"
    assert is_kafka_event(event)
    assert [r.offset for r in parse_kafka_event(event)] == [15]


def test_not_a_kafka_event() -> None:
    assert not is_kafka_event({"source": "aws.events", "detail-type": "Scheduled Event"})
    with pytest.raises(ValueError, match="eventSource"):
        parse_kafka_event({"eventSource": "aws:sqs", "records": {}})


@pytest.mark.parametrize(
    ("topic", "mission"),
    [
        ("mpcs.ops.wildfire.telemetry", "ops/wildfire"),
        ("mpcs.default.eo.v2.telemetry", "default/eo.v2"),
        ("mpcs.ops.wildfire.acks", None),
        ("other.ops.wildfire.telemetry", None),
        ("mpcs.ops.telemetry", None),
    ],
)
def test_mission_of_topic(topic: str, mission: str | None) -> None:
    assert mission_of_topic(topic) == mission


def test_batch_item_failures_name_partition_and_offset() -> None:
    failed = records()[3:5]
    assert Result(failed=failed).response() == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-2", "offset": 7}},
            {"itemIdentifier": {"partition": f"{TOPIC}-2", "offset": 8}},
        ]
    }
    assert Result().response() == {"batchItemFailures": []}


def test_settings_parse_the_missions_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPCS_ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:alerts")
    monkeypatch.setenv(
        "MPCS_ALERTS_MISSIONS",
        '{"ops/wildfire": {"apiUrl": "http://api", "rules": [{"name": "silent", "kind": "stale",'
        ' "staleSeconds": 30}]}}',
    )
    settings = load()
    assert settings.alerts_table == "mpcs-alerts"
    (rule,) = settings.alerts_missions["ops/wildfire"].rules
    assert rule.stale_seconds == 30
    assert settings.alerts_missions["ops/wildfire"].api_url == "http://api"


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPCS_ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:alerts")
    monkeypatch.setenv("MPCS_ALERTS_MISSIONS", '{"ops/wildfire": {"rules": [{"name": "x"}]}}')
    with pytest.raises(SettingsError, match="MPCS_ALERTS_MISSIONS") as exc:
        load()
    assert "channel" in str(exc.value)
    monkeypatch.delenv("MPCS_ALERTS_TOPIC_ARN")
    monkeypatch.delenv("MPCS_ALERTS_MISSIONS")
    with pytest.raises(SettingsError, match="MPCS_ALERTS_TOPIC_ARN"):
        load()
