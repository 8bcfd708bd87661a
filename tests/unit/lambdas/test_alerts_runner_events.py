"""The runner's pure pieces: the event it builds from a poll, what it commits after the handler
answered, the scheduled event — checked against what the handler and powertools accept."""

from __future__ import annotations

import datetime as dt

from aiokafka.structs import ConsumerRecord, TopicPartition
from utils.doctests import run_doctests

from mpcs.lambdas import runner
from mpcs.lambdas.alerts import handler as handler_module
from mpcs.lambdas.alerts.events import KafkaRecord, parse_kafka_event
from mpcs.lambdas.runner import commit_plan, poll_event, poll_records, scheduled_event

TOPIC = "mpcs.ops.wildfire.telemetry"


def _consumer_record(
    partition: int,
    offset: int,
    value: bytes,
    *,
    key: bytes | None = b"sat-a",
    timestamp_type: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        timestamp=1_700_000_000_000 + offset,
        timestamp_type=timestamp_type,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=headers,
    )


def test_doctests() -> None:
    run_doctests(runner)


def test_a_poll_becomes_the_self_managed_kafka_event_and_parses_back_unchanged() -> None:
    polled = {
        TopicPartition(TOPIC, 1): [
            _consumer_record(1, 40, b'{"a":1}', headers=(("trace", b"\x00\x01"),)),
            _consumer_record(1, 41, b'{"a":2}', key=None, timestamp_type=1),
        ],
        TopicPartition(TOPIC, 0): [_consumer_record(0, 7, b'{"b":"\xc3\xa9"}')],
    }
    event = poll_event(polled, bootstrap="k1:9092,k2:9092")
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == "k1:9092,k2:9092"
    assert sorted(event["records"]) == [f"{TOPIC}-0", f"{TOPIC}-1"]
    second = event["records"][f"{TOPIC}-1"][1]
    assert "key" not in second  # Lambda omits the key of a keyless record
    assert second["timestampType"] == "LOG_APPEND_TIME"
    assert event["records"][f"{TOPIC}-1"][0]["headers"] == [{"trace": [0, 1]}]
    # What powertools' model reads back is what was polled, record for record.
    parsed = parse_kafka_event(event)
    assert [(r.partition, r.offset) for r in parsed] == [(0, 7), (1, 40), (1, 41)]
    assert parsed == poll_records(polled)
    assert parsed[1].headers == (("trace", b"\x00\x01"),)
    assert parsed[2].key is None
    assert parsed[0].value == '{"b":"é"}'.encode()
    assert parsed[1].timestamp_ms == 1_700_000_000_040


def _records() -> list[KafkaRecord]:
    return [
        KafkaRecord(TOPIC, 0, 10, b""),
        KafkaRecord(TOPIC, 0, 11, b""),
        KafkaRecord(TOPIC, 0, 12, b""),
        KafkaRecord(TOPIC, 2, 5, b""),
    ]


def test_success_commits_past_the_last_record_of_each_partition() -> None:
    plan = commit_plan(_records(), {"batchItemFailures": []})
    assert plan.commit == {(TOPIC, 0): 13, (TOPIC, 2): 6}
    assert plan.seek == {}
    assert plan.failed == 0


def test_a_failed_record_is_not_committed_and_its_partition_is_sought_back() -> None:
    failures = [
        {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 12}},
        {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 11}},
    ]
    plan = commit_plan(_records(), {"batchItemFailures": failures})
    assert plan.commit == {(TOPIC, 0): 11, (TOPIC, 2): 6}
    assert plan.seek == {(TOPIC, 0): 11}
    assert plan.failed == 2


def test_a_handler_that_raised_or_an_unknown_failure_retries_the_whole_poll() -> None:
    for response in (
        None,
        {"batchItemFailures": [{"itemIdentifier": {"partition": "other-3", "offset": 1}}]},
    ):
        plan = commit_plan(_records(), response)
        assert plan.commit == {}
        assert plan.seek == {(TOPIC, 0): 10, (TOPIC, 2): 5}
        assert plan.failed == 4


def test_the_handler_failures_are_what_commit_plan_reads() -> None:
    """The handler's own response shape (not a hand-written one) drives the plan."""
    result = handler_module.Result(failed=[_records()[1], _records()[2]])
    plan = commit_plan(_records(), result.response())
    assert plan.seek == {(TOPIC, 0): 11}


def test_the_scheduled_event_is_what_the_handler_sweeps_on() -> None:
    event = scheduled_event(
        now=dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC), region="eu-west-1", rule="mpcs-alerts"
    )
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-12-02T14:00:00Z"
    assert event["resources"] == ["arn:aws:events:eu-west-1:000000000000:rule/mpcs-alerts"]
    assert handler_module._is_scheduled(event)
