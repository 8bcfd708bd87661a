"""The operator's shared caches: passes computed once per (orbit, station) per refresh period, and
one last-telemetry query per mission shared by every Satellite that asks at once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any, cast

import pytest

import mpcs.operator.caches as caches
from mpcs.operator.caches import LastTelemetry, PassCache
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.orbit.passes import Station
from mpcs.orbit.tle import parse_tle

#: ISS (ZARYA), the classic example element set (CelesTrak documentation, 2008-09-20).
ISS = parse_tle(
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\n"
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
)
STATION = Station(
    latitude_deg=47.0, longitude_deg=8.0, altitude_m=500.0, min_elevation_deg=5.0, name="ch"
)
SVALBARD = Station(
    latitude_deg=78.2, longitude_deg=15.4, altitude_m=0.0, min_elevation_deg=5.0, name="svalbard"
)
START = dt.datetime(2008, 9, 21, 12, tzinfo=dt.UTC)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dt.datetime, Station]]:
    """Every real prediction the cache makes (the real function still runs)."""
    made: list[tuple[dt.datetime, Station]] = []
    real = caches.predict_passes

    def counting(tle: Any, station: Station, start: dt.datetime, duration_s: float) -> Any:
        made.append((start, station))
        return real(tle, station, start, duration_s)

    monkeypatch.setattr(caches, "predict_passes", counting)
    return made


def test_reuses_a_prediction_within_the_refresh_period(calls: list[Any]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    first = cache.upcoming(ISS, STATION, START)
    again = cache.upcoming(ISS, STATION, START + dt.timedelta(seconds=299))
    assert first
    assert again == [p for p in first if p.los > START + dt.timedelta(seconds=299)]
    assert calls == [(START, STATION)]


def test_recomputes_after_the_refresh_period_and_per_station(calls: list[Any]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    cache.upcoming(ISS, STATION, START)
    later = START + dt.timedelta(seconds=301)
    cache.upcoming(ISS, STATION, later)
    cache.upcoming(ISS, SVALBARD, later)
    assert [start for start, _ in calls] == [START, later, later]


def test_a_changed_horizon_mask_is_a_new_prediction(calls: list[Any]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    masked = dataclasses.replace(STATION, horizon_mask=((0.0, 20.0), (180.0, 10.0)))
    cache.upcoming(ISS, STATION, START)
    cache.upcoming(ISS, masked, START)
    assert [station for _, station in calls] == [STATION, masked]


def test_passes_already_over_are_dropped(calls: list[Any]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=86_400)
    passes = cache.upcoming(ISS, STATION, START)
    after_first = passes[0].los + dt.timedelta(seconds=1)
    assert cache.upcoming(ISS, STATION, after_first) == passes[1:]
    assert len(calls) == 1


def test_entries_nobody_refreshed_are_evicted(calls: list[Any]) -> None:
    cache = PassCache(horizon_s=3_600, refresh_s=60)
    cache.upcoming(ISS, STATION, START)
    cache.upcoming(ISS, SVALBARD, START + dt.timedelta(seconds=121))
    assert len(cache) == 1


class _CountingBuckets:
    """Stands in for InfluxBuckets.last_telemetry: counts queries, answers after a pause."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def last_telemetry(self, bucket: str) -> dict[str, dt.datetime]:
        self.queries.append(bucket)
        await asyncio.sleep(0.01)
        return {"sat-1": START}


async def test_last_telemetry_is_one_query_per_mission_for_a_burst() -> None:
    influx = _CountingBuckets()
    cache = LastTelemetry(cast(InfluxBuckets, influx), ttl_s=60)
    answers = await asyncio.gather(
        *(cache.of("ns", "m", f"sat-{i}") for i in range(1, 50)),
        cache.of("ns", "other", "sat-1"),
    )
    assert answers[0] == START
    assert answers[1:49] == [None] * 48
    assert sorted(influx.queries) == ["ns.m", "ns.other"]
