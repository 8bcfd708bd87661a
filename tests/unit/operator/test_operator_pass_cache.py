"""The operator's shared pass predictions: computed once per (orbit, station) per refresh period."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import mpcs.operator.pass_cache as pass_cache
from mpcs.operator.pass_cache import PassCache
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
START = dt.datetime(2008, 9, 21, 12, tzinfo=dt.UTC)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """Every real prediction the cache makes (the real function still runs)."""
    made: list[dt.datetime] = []
    real = pass_cache.predict_passes

    def counting(tle: Any, station: Station, start: dt.datetime, duration_s: float) -> Any:
        made.append(start)
        return real(tle, station, start, duration_s)

    monkeypatch.setattr(pass_cache, "predict_passes", counting)
    return made


def test_reuses_a_prediction_within_the_refresh_period(calls: list[dt.datetime]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    first = cache.upcoming(ISS, STATION, START)
    again = cache.upcoming(ISS, STATION, START + dt.timedelta(seconds=299))
    assert first
    assert again == [p for p in first if p.los > START + dt.timedelta(seconds=299)]
    assert calls == [START]


def test_recomputes_after_the_refresh_period_and_per_station(calls: list[dt.datetime]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    cache.upcoming(ISS, STATION, START)
    later = START + dt.timedelta(seconds=301)
    cache.upcoming(ISS, STATION, later)
    other = Station(latitude_deg=78.2, longitude_deg=15.4, min_elevation_deg=5.0, name="svalbard")
    cache.upcoming(ISS, other, later)
    assert calls == [START, later, later]


def test_passes_already_over_are_dropped(calls: list[dt.datetime]) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=86_400)
    passes = cache.upcoming(ISS, STATION, START)
    after_first = passes[0].los + dt.timedelta(seconds=1)
    assert cache.upcoming(ISS, STATION, after_first) == passes[1:]
    assert len(calls) == 1


def test_entries_nobody_refreshed_are_evicted(calls: list[dt.datetime]) -> None:
    cache = PassCache(horizon_s=3_600, refresh_s=60)
    cache.upcoming(ISS, STATION, START)
    other = Station(latitude_deg=78.2, longitude_deg=15.4, min_elevation_deg=5.0, name="svalbard")
    cache.upcoming(ISS, other, START + dt.timedelta(seconds=121))
    assert len(cache) == 1
