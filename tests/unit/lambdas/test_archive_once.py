"""Exactly once per hour, as logic: an in-memory store with S3's conditional-PUT rule (the real
S3 API is exercised against moto in tests/integration/lambdas/test_archive_s3.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest

from mpcs.kit.influx import InfluxUnavailable
from mpcs.lambdas.archive.handler import (
    ArchiveFailed,
    Archiver,
    EventError,
    scheduled_event,
    scheduled_time_ns,
)
from mpcs.lambdas.archive.layout import HOUR_NS, high_water_key, manifest_key, telemetry_key
from mpcs.lambdas.archive.schema import conform
from mpcs.orbit.timeutil import parse_time_ns

H13 = parse_time_ns("2025-03-01T13:00:00Z")


class MemoryStore:
    """put_once stores only where no object is, like S3 with If-None-Match: *."""

    def __init__(self, fail_on_put: int | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []  # every key a write reached S3 for (conditional or not)
        self.fail_on_put = fail_on_put

    def put_once(self, key: str, body: bytes, *, content_type: str) -> bool:
        if self.fail_on_put is not None and len(self.puts) == self.fail_on_put:
            self.fail_on_put = None
            raise RuntimeError("killed mid-hour")
        if key in self.objects:
            return False
        self.puts.append(key)
        self.objects[key] = body
        return True

    def exists(self, key: str) -> bool:
        return key in self.objects

    def read_json(self, key: str) -> Any:
        return orjson.loads(self.objects[key]) if key in self.objects else None

    def write_json(self, key: str, value: Any) -> None:
        self.puts.append(key)
        self.objects[key] = orjson.dumps(value)


class HourSource:
    """Samples of satellites a and b in every hour of bucket ops.wildfire; records each query."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts = {"a": 3, "b": 2} if counts is None else counts
        self.queried: list[int] = []

    def hour_table(self, bucket: str, start_ns: int, stop_ns: int) -> pa.Table:
        if bucket != "ops.wildfire":
            raise InfluxUnavailable(f"bucket {bucket} not found", kind="auth")
        assert stop_ns - start_ns == HOUR_NS
        self.queried.append(start_ns)
        rows = [(sat, k) for sat, n in self.counts.items() for k in range(n)]
        return conform(
            pa.table(
                {
                    "satellite": pa.array([sat for sat, _ in rows], pa.string()),
                    "time": pa.array([start_ns + k * 1_000_000_000 for _, k in rows], pa.int64()),
                    "seq": pa.array([k for _, k in rows], pa.int64()),
                }
            )
        )


MISSION = [("ops", "wildfire")]


def archiver(store: MemoryStore, source: HourSource, window: int) -> Archiver:
    """A fresh archiver: nothing carried over but what the store holds (a restarted process)."""
    return Archiver(
        store=store,  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        close_delay_s=300,
        max_catchup_hours=window,
        clock=lambda: H13,
    )


def hour(text: str) -> int:
    return parse_time_ns(f"2025-03-01T{text}:00:00Z")


def now(text: str) -> int:
    return parse_time_ns(f"2025-03-01T{text}:00Z")


def parquet_puts(store: MemoryStore) -> list[str]:
    return [k for k in store.puts if k.endswith(".parquet")]


def test_a_second_run_writes_no_object_and_queries_nothing() -> None:
    store, source = MemoryStore(), HourSource()
    first = archiver(store, source, window=2).run(MISSION, now("15:06"))
    assert [r.hour for r in first] == [
        "2025-03-01T13:00:00.000000000Z",
        "2025-03-01T14:00:00.000000000Z",
    ]
    assert [r.written for r in first] == [{"a": 3, "b": 2}, {"a": 3, "b": 2}]
    assert len(parquet_puts(store)) == 4
    objects = {k: v for k, v in store.objects.items() if "_archived" not in k}
    assert archiver(store, source, window=2).run(MISSION, now("15:06")) == []
    assert archiver(store, source, window=2).run(MISSION, now("15:59")) == []  # 15:00 still open
    assert len(parquet_puts(store)) == 4
    assert source.queried == [hour("13"), hour("14")]
    assert {k: v for k, v in store.objects.items() if "_archived" not in k} == objects


def test_without_the_mark_finished_hours_are_recognised_by_their_manifest() -> None:
    store, source = MemoryStore(), HourSource()
    archiver(store, source, window=2).run(MISSION, now("15:06"))
    del store.objects[high_water_key("ops", "wildfire")]  # lost, or deleted by hand
    results = archiver(store, source, window=3).run(MISSION, now("15:06"))
    assert [(r.hour[11:13], r.already_done) for r in results] == [
        ("12", False),
        ("13", True),
        ("14", True),
    ]
    assert source.queried == [hour("13"), hour("14"), hour("12")]
    assert len(parquet_puts(store)) == 6 == len(set(parquet_puts(store)))


def test_a_run_killed_mid_hour_is_completed_without_rewriting_what_it_stored() -> None:
    store, source = MemoryStore(fail_on_put=1), HourSource()
    with pytest.raises(RuntimeError, match="killed"):
        archiver(store, source, window=1).run(MISSION, now("14:06"))
    key_a = telemetry_key("ops", "wildfire", hour("13"), "a")
    assert list(store.objects) == [key_a]  # no manifest, no mark
    stored_a = store.objects[key_a]
    [result] = archiver(store, source, window=1).run(MISSION, now("14:06"))
    assert result.present == ["a"]
    assert result.written == {"b": 2}
    assert store.objects[key_a] is stored_a
    assert parquet_puts(store).count(key_a) == 1
    assert manifest_key("ops", "wildfire", hour("13")) in store.objects


def test_a_restarted_archiver_catches_up_on_every_hour_it_missed() -> None:
    store, source = MemoryStore(), HourSource()
    archiver(store, source, window=4).run(MISSION, now("14:06"))
    assert source.queried == [hour("10"), hour("11"), hour("12"), hour("13")]
    # Down from 14:06 to 18:06: the restarted process starts from the mark, not from scratch.
    results = archiver(store, source, window=4).run(MISSION, now("18:06"))
    assert [r.hour[11:13] for r in results] == ["14", "15", "16", "17"]
    assert len(parquet_puts(store)) == 16 == len(set(parquet_puts(store)))
    mark = store.read_json(high_water_key("ops", "wildfire"))
    assert mark["archivedThrough"] == "2025-03-01T17:00:00.000000000Z"


def test_a_catch_up_longer_than_the_window_is_logged_as_a_gap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, source = MemoryStore(), HourSource()
    archiver(store, source, window=1).run(MISSION, now("14:06"))
    results = archiver(store, source, window=2).run(MISSION, now("20:06"))
    assert [r.hour[11:13] for r in results] == ["18", "19"]
    assert "older than the catch-up window of 2 h" in caplog.text


def test_an_hour_without_telemetry_gets_a_manifest_and_no_object() -> None:
    store, source = MemoryStore(), HourSource(counts={})
    [result] = archiver(store, source, window=1).run(MISSION, now("14:06"))
    assert result.written == {}
    assert parquet_puts(store) == []
    manifest = store.read_json(manifest_key("ops", "wildfire", hour("13")))
    assert manifest["objects"] == {}


def test_objects_another_archiver_stored_are_kept_and_listed_in_the_manifest() -> None:
    store, source = MemoryStore(), HourSource()
    for sat in ("a", "b"):
        store.objects[telemetry_key("ops", "wildfire", hour("13"), sat)] = b"theirs"
    [result] = archiver(store, source, window=1).run(MISSION, now("14:06"))
    assert result.present == ["a", "b"]
    assert result.written == {}
    assert store.objects[telemetry_key("ops", "wildfire", hour("13"), "a")] == b"theirs"
    manifest = store.read_json(manifest_key("ops", "wildfire", hour("13")))
    assert sorted(manifest["objects"]) == ["a", "b"]


def test_a_failing_mission_does_not_stop_the_others_and_keeps_its_mark() -> None:
    store, source = MemoryStore(), HourSource()
    with pytest.raises(ArchiveFailed) as failed:
        archiver(store, source, window=1).run([("ops", "broken"), *MISSION], now("14:06"))
    assert list(failed.value.failures) == ["ops/broken"]
    assert "not found" in failed.value.failures["ops/broken"]
    assert manifest_key("ops", "wildfire", hour("13")) in store.objects
    assert store.read_json(high_water_key("ops", "broken")) is None


def test_the_scheduled_event_round_trips_and_anything_else_is_named() -> None:
    event = scheduled_event(now("14:06") + 123)
    assert event["time"] == "2025-03-01T14:06:00Z"
    assert scheduled_time_ns(event) == now("14:06")
    with pytest.raises(EventError, match=r"^source: "):
        scheduled_time_ns({**event, "source": "aws.s3"})
    with pytest.raises(EventError, match=r"^detail-type: "):
        scheduled_time_ns({**event, "detail-type": "Object Created"})
    with pytest.raises(EventError, match=r"^time: "):
        scheduled_time_ns({**event, "time": "yesterday"})
    with pytest.raises(EventError, match=r"^event: "):
        scheduled_time_ns([event])


def test_an_answer_the_catalogue_cannot_read_fails_the_mission_not_the_run() -> None:
    class Unreadable(HourSource):
        def hour_table(self, bucket: str, start_ns: int, stop_ns: int) -> pa.Table:
            raise pa.ArrowInvalid("In CSV column #5: CSV conversion error to double")

    store = MemoryStore()
    with pytest.raises(ArchiveFailed) as failed:
        archiver(store, Unreadable(), window=1).run(MISSION, now("14:06"))
    assert "conversion error" in failed.value.failures["ops/wildfire"]
    assert store.objects == {}  # no object, no manifest, no mark: the next run tries again
