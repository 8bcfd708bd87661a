"""CommandPlan planning: validation names the field; starts resolve to passes; schedules."""

from __future__ import annotations

import datetime as dt

import pytest

from mpcs.operator.planner import (
    PlanError,
    build_schedule,
    iso,
    resolve_start,
    validate_steps,
)
from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.tle import parse_tle


@pytest.fixture(scope="module")
def tle():  # type: ignore[no-untyped-def]
    import yaml
    from utils.kube import EXAMPLES

    sat = next(d for d in yaml.safe_load_all((EXAMPLES / "20-satellites.yaml").read_text()) if d)
    return parse_tle(f"{sat['spec']['tle']['line1']}\n{sat['spec']['tle']['line2']}")


SVALBARD = Station(
    latitude_deg=78.2297,
    longitude_deg=15.4077,
    altitude_m=500,
    min_elevation_deg=5,
    name="svalbard",
)
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_unknown_argument_names_the_step_field() -> None:
    with pytest.raises(PlanError) as exc:
        validate_steps(
            [
                {"name": "a", "command": "PING", "args": {}},
                {"name": "b", "command": "SET_MODE", "args": {"mode": "WARP"}},
            ]
        )
    assert exc.value.field == "spec.steps[1].args.mode"


def test_unknown_command_names_the_command_field() -> None:
    with pytest.raises(PlanError) as exc:
        validate_steps([{"name": "a", "command": "SELF_DESTRUCT", "args": {}}])
    assert exc.value.field == "spec.steps[0].command"


def test_absolute_start(tle) -> None:  # type: ignore[no-untyped-def]
    start = resolve_start(
        {"at": "2025-06-01T13:00:00Z"}, tle=tle, stations={}, now=NOW, horizon_s=86400
    )
    assert start.at == dt.datetime(2025, 6, 1, 13, tzinfo=dt.UTC)


def test_next_pass_start_is_the_next_aos_plus_offset(tle) -> None:  # type: ignore[no-untyped-def]
    start = resolve_start(
        {"nextPass": {"station": "svalbard", "minElevationDeg": 10, "offsetSeconds": 60}},
        tle=tle,
        stations={"svalbard": SVALBARD},
        now=NOW,
        horizon_s=86400,
    )
    high = Station(
        latitude_deg=SVALBARD.latitude_deg,
        longitude_deg=SVALBARD.longitude_deg,
        altitude_m=SVALBARD.altitude_m,
        min_elevation_deg=10,
    )
    first = next(p for p in predict_passes(tle, high, NOW, 86400) if p.aos > NOW)
    assert start.at == first.aos + dt.timedelta(seconds=60)
    assert "svalbard" in start.reason


def test_unknown_station_and_no_pass_are_plan_errors(tle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanError) as exc:
        resolve_start(
            {"nextPass": {"station": "mars"}},
            tle=tle,
            stations={"svalbard": SVALBARD},
            now=NOW,
            horizon_s=86400,
        )
    assert exc.value.field == "spec.start.nextPass.station"
    equator = Station(latitude_deg=0, longitude_deg=0, min_elevation_deg=89.9, name="zenith")
    with pytest.raises(PlanError) as exc:
        resolve_start(
            {"nextPass": {"station": "zenith", "minElevationDeg": 89.9}},
            tle=tle,
            stations={"zenith": equator},
            now=NOW,
            horizon_s=3600,
        )
    assert exc.value.field == "spec.start.nextPass"


def test_schedule_offsets_and_absolute_steps() -> None:
    start = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    schedule = build_schedule(
        [
            {"name": "a", "command": "PING", "offsetSeconds": 0},
            {"name": "b", "command": "PING", "offsetSeconds": 90, "timeoutSeconds": 5},
            {"name": "c", "command": "PING", "at": "2025-06-01T14:00:00Z"},
        ],
        start,
    )
    assert [s["scheduledAt"] for s in schedule] == [
        iso(start),
        "2025-06-01T12:01:30Z",
        "2025-06-01T14:00:00Z",
    ]
    assert [s["state"] for s in schedule] == ["pending"] * 3
    assert schedule[1]["timeoutSeconds"] == 5
