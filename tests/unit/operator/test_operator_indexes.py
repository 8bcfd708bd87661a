"""The indexes hold every spec parsed into its core model; reconciles ask them, never the server.

Also: what the Satellite and GroundStation status say about passes, from those parsed objects.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, cast

import pytest
import yaml
from utils.kube import EXAMPLES

from mpcs.core.resources import MissionSpec
from mpcs.core.resources.simulation import NamedGroundStation
from mpcs.operator.caches import PassCache
from mpcs.operator.indexes import (
    Indexes,
    mission_entry,
    satellite_entry,
    station_entry,
)
from mpcs.operator.objects import InvalidSpec, Satellite, read_satellite
from mpcs.operator.reconcile.groundstation import upcoming_passes
from mpcs.operator.reconcile.satellite import soonest_pass
from mpcs.orbit.timeutil import parse_rfc3339

NS = "ops"
#: Within the example TLEs' validity (their epoch is 2025-06-01 12:00 UTC).
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def _examples(kind: str) -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    return docs


def _body(doc: dict[str, Any], **meta: Any) -> dict[str, Any]:
    body = copy.deepcopy(doc)
    body["metadata"].update(namespace=NS, uid=f"uid-{doc['metadata']['name']}", **meta)
    return body


def _index(entries: list[dict[Any, Any]]) -> Any:
    """What Kopf's index looks like to a reader: key → the values stored under it."""
    index: dict[Any, list[Any]] = {}
    for entry in entries:
        for key, value in entry.items():
            index.setdefault(key, []).append(value)
    return index


@pytest.fixture
def indexes() -> Indexes:
    missions = [mission_entry(NS, d["metadata"]["name"], d["spec"]) for d in _examples("Mission")]
    missions.append(mission_entry(NS, "solo", {"groundStations": ["inuvik", "nowhere"]}))
    stations = [
        station_entry(NS, d["metadata"]["name"], d["spec"]) for d in _examples("GroundStation")
    ]
    satellites = [satellite_entry(_body(d)) for d in _examples("Satellite")]
    return Indexes(
        missions=cast(Any, _index(missions)),
        stations=cast(Any, _index(stations)),
        satellites=cast(Any, _index(satellites)),
    )


def test_a_spec_the_model_refuses_is_indexed_as_the_problem() -> None:
    bad = {"alerts": [{"name": "a", "channel": "power.nope", "operator": "<", "threshold": 1}]}
    entry = mission_entry(NS, "m", bad)[(NS, "m")]
    assert isinstance(entry, InvalidSpec)
    assert str(entry).startswith("spec.alerts.0.channel: ")
    assert "power.nope" in str(entry)


def test_a_station_is_indexed_with_its_horizon_mask() -> None:
    svalbard = next(d for d in _examples("GroundStation") if d["metadata"]["name"] == "svalbard")
    entry = station_entry(NS, "svalbard", svalbard["spec"])[(NS, "svalbard")]
    assert isinstance(entry, NamedGroundStation)
    station = entry.station()
    assert station.name == "svalbard"
    assert station.horizon_mask == tuple(
        (p["azimuthDeg"], p["elevationDeg"]) for p in svalbard["spec"]["horizonMask"]
    )


def test_a_satellite_is_parsed_once_tle_included() -> None:
    doc = _examples("Satellite")[0]
    satellite = read_satellite(_body(doc, generation=4, labels={"a": "b"}))
    assert satellite.problem is None
    assert satellite.spec is not None
    assert satellite.tle is not None
    assert satellite.tle.line1 == doc["spec"]["tle"]["line1"]
    assert (satellite.mission, satellite.meta.generation) == ("wildfire", 4)
    assert satellite.meta.reference()["metadata"]["uid"] == f"uid-{doc['metadata']['name']}"
    # The index keeps it without the parsed spec (memory); a reconcile parses it again, equal.
    indexed = satellite_entry(_body(doc))[(NS, "wildfire")]
    assert indexed.spec is None
    assert indexed.tle == satellite.tle
    assert indexed.model() == satellite.model() == satellite.spec


def test_a_bad_tle_checksum_names_the_field() -> None:
    doc = copy.deepcopy(_examples("Satellite")[0])
    line1 = doc["spec"]["tle"]["line1"]
    doc["spec"]["tle"]["line1"] = line1[:-1] + str((int(line1[-1]) + 1) % 10)
    satellite = read_satellite(_body(doc, deletionTimestamp="2026-01-01T00:00:00Z"))
    assert satellite.spec is None
    assert satellite.tle is None
    assert satellite.problem is not None
    assert satellite.problem.startswith("spec.tle.line1: ")
    assert "checksum" in satellite.problem
    # Still indexed under its mission: the mission's deletion waits for it.
    assert (satellite.mission, satellite.deleting) == ("wildfire", True)


def test_lookups(indexes: Indexes) -> None:
    wildfire = indexes.mission(NS, "wildfire")
    assert isinstance(wildfire, MissionSpec)
    assert indexes.mission(NS, "absent") is None
    found, unusable = indexes.stations_of(NS, wildfire)
    assert [s.name for s in found] == ["svalbard", "inuvik"]
    assert unusable == []
    solo = indexes.mission(NS, "solo")
    assert isinstance(solo, MissionSpec)
    assert indexes.stations_of(NS, solo)[1] == ["nowhere"]
    assert indexes.missions_using(NS, "inuvik") == ["solo", "wildfire"]
    assert indexes.missions_using("elsewhere", "inuvik") == []
    names = sorted(s.meta.name for s in indexes.satellites_of(NS, "wildfire"))
    assert names == ["firewatch-1", "firewatch-2", "firewatch-3"]
    satellite = indexes.satellite(NS, "firewatch-2")
    assert satellite is not None
    assert satellite.meta.name == "firewatch-2"
    assert indexes.satellite("elsewhere", "firewatch-2") is None


def _satellites(indexes: Indexes) -> list[Satellite]:
    return sorted(indexes.satellites_of(NS, "wildfire"), key=lambda s: s.meta.name)


def test_next_pass_is_the_soonest_over_any_station(indexes: Indexes) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    wildfire = indexes.mission(NS, "wildfire")
    assert isinstance(wildfire, MissionSpec)
    stations = indexes.stations_of(NS, wildfire)[0]
    satellite = _satellites(indexes)[0]
    assert satellite.tle is not None
    found = soonest_pass(cache, satellite.tle, stations, NOW)
    assert found is not None
    per_station = {s.name: cache.upcoming(satellite.tle, s.station(), NOW)[0].aos for s in stations}
    assert found["station"] == min(per_station, key=lambda name: per_station[name])
    assert parse_rfc3339(found["aos"]) == per_station[found["station"]]
    assert found["aos"].endswith("Z")
    assert found["aos"] < found["los"]


def test_station_passes_are_soonest_first_and_at_most_three_per_satellite(
    indexes: Indexes,
) -> None:
    cache = PassCache(horizon_s=86_400, refresh_s=300)
    svalbard = next(
        s
        for s in indexes.stations_of(NS, cast(MissionSpec, indexes.mission(NS, "wildfire")))[0]
        if s.name == "svalbard"
    )
    passes = upcoming_passes(cache, svalbard.station(), _satellites(indexes), NOW)
    assert 3 < len(passes) <= 9
    assert [p["aos"] for p in passes] == sorted(p["aos"] for p in passes)
    for name in ("firewatch-1", "firewatch-2", "firewatch-3"):
        assert 0 < sum(p["satellite"] == name for p in passes) <= 3
    assert {p["mission"] for p in passes} == {"wildfire"}
