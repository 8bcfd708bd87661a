"""Validation → DLQ record shape, and the batching rules (size, linger, offsets to commit)."""

from __future__ import annotations

import base64
import re
from typing import Any, NamedTuple

import orjson
import pytest

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import encode
from mpcs.simulator import Spacecraft
from mpcs.workloads.ingest.batch import (
    CHANNEL_VALUES_PER_MESSAGE,
    POINTS_PER_MESSAGE,
    BatchBuilder,
    convert,
)
from mpcs.workloads.ingest.dlq import encode_record

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
TOPIC = "mpcs.ops.m.telemetry"


class Received(NamedTuple):
    """A Kafka record built by hand (aiokafka's `ConsumerRecord` has the same attributes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None


def _telemetry() -> dict[str, Any]:
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
    )
    return Spacecraft("sat-a", spec, start=1_700_000_000_000_000_000).telemetry()


def _record(value: bytes | None, offset: int = 5, partition: int = 1) -> Received:
    return Received(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=b"sat-a",
        value=value,
        timestamp=1_700_000_000_000,
    )


def test_a_valid_message_becomes_line_protocol() -> None:
    lines, dead = convert(_record(encode(_telemetry())))
    assert dead is None
    assert lines is not None
    assert lines.count(b"\n") == POINTS_PER_MESSAGE


def _bad(mutate: Any) -> bytes:
    message = _telemetry()
    mutate(message)
    return encode(message)


@pytest.mark.parametrize(
    ("payload", "field", "reason_part"),
    [
        (b"{not json", "$", "not JSON"),
        (b"[1, 2]", "$", "JSON object"),
        (None, "$", "empty message"),
        (_bad(lambda m: m.update(version=2)), "version", "2 is not 1"),
        (_bad(lambda m: m["orbit"].update(warp_factor=9.0)), "orbit.warp_factor", "unknown"),
        (_bad(lambda m: m["orbit"].update(lat_deg=91.0)), "orbit.lat_deg", "outside -90..90"),
        (_bad(lambda m: m["obc"].update(uptime_s=1.5)), "obc.uptime_s", "not of type int"),
        (_bad(lambda m: m.update(mode="HYPERDRIVE")), "mode", "HYPERDRIVE"),
        (_bad(lambda m: m.update(time="yesterday")), "time", "not a UTC time"),
        (_bad(lambda m: m.update(satellite="sat\\a")), "satellite", "backslash"),
    ],
)
def test_invalid_messages_become_dlq_records_with_the_reason(
    payload: bytes | None, field: str, reason_part: str
) -> None:
    lines, dead = convert(_record(payload, offset=42, partition=2))
    assert lines is None
    assert dead is not None
    assert dead["field"] == field
    assert dead["reason"].startswith(f"{field}: ")
    assert reason_part in dead["reason"]
    assert dead["source"] == "ingest"
    assert dead["topic"] == TOPIC
    assert dead["partition"] == 2
    assert dead["offset"] == 42
    assert dead["key"] == "sat-a"
    assert dead["timestamp_ms"] == 1_700_000_000_000
    assert dead["value"] == (None if payload is None else payload.decode())
    assert dead["time"].endswith("Z")
    assert orjson.loads(encode_record(dead)) == dead  # serialisable as is


@pytest.mark.parametrize(
    "payload",
    [
        # Unhashable: the validator raised TypeError (caught as "$"); it now names `mode`.
        _bad(lambda m: m.update(mode=["NOMINAL"])),
        # A 400-digit integer: orjson refuses it (it would be infinite as a double).
        re.sub(rb'"uptime_s":\d+', b'"uptime_s":' + b"9" * 400, encode(_telemetry())),
    ],
)
def test_values_the_validator_trips_over_are_dead_lettered_too(payload: bytes) -> None:
    lines, dead = convert(_record(payload))
    assert lines is None
    assert dead is not None
    assert dead["field"] in ("$", "mode", "obc.uptime_s")
    assert dead["value"] == payload.decode()


def test_a_payload_that_is_not_utf8_is_kept_as_base64() -> None:
    payload = b"\xff\xfe binary"
    _, dead = convert(_record(payload))
    assert dead is not None
    assert "value" not in dead
    assert base64.b64decode(dead["value_base64"]) == payload


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines() -> bytes:
    return b"m,satellite=a f=1.0 1\n" * POINTS_PER_MESSAGE


def test_batch_is_full_at_max_points() -> None:
    clock = Clock()
    builder = BatchBuilder(max_points=3 * POINTS_PER_MESSAGE, linger_s=10.0, clock=clock)
    assert builder.empty
    assert not builder.due
    assert builder.time_left() is None
    for offset in range(3):
        assert not builder.full
        builder.add(_record(b"x", offset=offset), _lines(), None)
    assert builder.full
    assert builder.due
    batch = builder.seal()
    assert batch.points == 3 * POINTS_PER_MESSAGE
    assert batch.channel_values == 3 * CHANNEL_VALUES_PER_MESSAGE
    assert batch.body() == _lines() * 3
    assert builder.empty


def test_batch_is_due_when_its_first_record_lingered() -> None:
    clock = Clock()
    builder = BatchBuilder(max_points=1_000, linger_s=0.2, clock=clock)
    builder.add(_record(b"x", offset=0), _lines(), None)
    clock.now += 0.15
    builder.add(_record(b"x", offset=1), _lines(), None)
    assert builder.time_left() == pytest.approx(0.05)
    assert not builder.due
    clock.now += 0.05
    assert builder.due
    batch = builder.seal()
    assert batch.first_at == 100.0
    assert batch.sealed_at == pytest.approx(100.2)


def test_dead_letters_count_towards_offsets_but_not_points() -> None:
    builder = BatchBuilder(max_points=1_000, linger_s=1.0, clock=Clock())
    builder.add(_record(b"x", offset=7, partition=0), _lines(), None)
    builder.add(_record(b"x", offset=3, partition=1), None, {"field": "$"})
    builder.add(_record(b"x", offset=9, partition=0), _lines(), None)
    builder.add(_record(b"x", offset=8, partition=0), None, {"field": "$"})
    batch = builder.seal()
    # Kafka's convention: commit the offset of the *next* record to read.
    assert batch.offsets == {(TOPIC, 0): 10, (TOPIC, 1): 4}
    assert batch.messages == 4
    assert batch.points == 2 * POINTS_PER_MESSAGE
    assert len(batch.dlq) == 2
    assert [s.offset for s in batch.sources] == [7, 9]


def test_a_record_is_either_stored_or_dead_lettered() -> None:
    builder = BatchBuilder(max_points=10, linger_s=1.0)
    with pytest.raises(ValueError, match="either"):
        builder.add(_record(b"x"), None, None)
    with pytest.raises(ValueError, match="nothing to seal"):
        builder.seal()


def test_a_fetch_is_converted_in_order_with_its_rejects_dead_lettered() -> None:
    valid = encode(_telemetry())
    spaced = orjson.dumps(_telemetry(), option=orjson.OPT_INDENT_2)  # valid, not canonical
    invalid = _bad(lambda m: m["orbit"].update(lat_deg=91.0))
    fetch = [
        Received(TOPIC, 3, 10 + i, b"sat-a", value, 1_700_000_000_000 + i)
        for i, value in enumerate([valid, invalid, spaced, None, valid])
    ]
    builder = BatchBuilder(max_points=1_000, linger_s=1.0, clock=Clock())
    builder.add_fetch(fetch)
    builder.add_fetch([])  # an empty fetch changes nothing
    batch = builder.seal()
    expected = convert(fetch[0])[0]
    assert batch.lines == [expected, convert(fetch[2])[0], expected]
    assert convert(fetch[2])[0] == expected  # the JSON path gives the same points
    assert [s.offset for s in batch.sources] == [10, 12, 14]
    assert [(d["offset"], d["field"]) for d in batch.dlq] == [(11, "orbit.lat_deg"), (13, "$")]
    assert batch.offsets == {(TOPIC, 3): 15}
    assert batch.oldest_ms == 1_700_000_000_000
    assert batch.messages == 5


def test_fetches_of_several_partitions_keep_their_own_offsets_and_the_oldest_stamp() -> None:
    valid = encode(_telemetry())
    builder = BatchBuilder(max_points=1_000, linger_s=1.0, clock=Clock())
    builder.add_fetch([Received(TOPIC, 0, 5, None, valid, 2_000)])
    builder.add_fetch([Received(TOPIC, 1, 7, None, valid, 1_000)])
    builder.add_fetch([Received(TOPIC, 0, 6, None, valid, 3_000)])
    batch = builder.seal()
    assert batch.offsets == {(TOPIC, 0): 7, (TOPIC, 1): 8}
    assert batch.oldest_ms == 1_000
    assert builder.empty  # and starts again from nothing
