"""CommandPlan planning: starts resolve to passes (horizon mask included) and steps to a schedule.

The steps' commands and arguments are checked by `CommandPlanSpec.validate_commands`
(tests/unit/core/test_resources.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import yaml
from utils.kube import EXAMPLES

from mpcs.core.resources import GroundStationSpec, PlanStart, PlanStep
from mpcs.operator.planner import PlanError, build_schedule, resolve_start
from mpcs.orbit.passes import predict_passes
from mpcs.orbit.timeutil import format_rfc3339
from mpcs.orbit.tle import Tle, parse_tle

SVALBARD = GroundStationSpec(
    latitude_deg=78.2297, longitude_deg=15.4077, altitude_m=500, min_elevation_deg=5
).station("svalbard")
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
HORIZON_S = 86_400.0


@pytest.fixture(scope="module")
def tle() -> Tle:
    sat = next(d for d in yaml.safe_load_all((EXAMPLES / "20-satellites.yaml").read_text()) if d)
    return parse_tle(f"{sat['spec']['tle']['line1']}\n{sat['spec']['tle']['line2']}")


def _start(data: dict[str, object]) -> PlanStart:
    return PlanStart.model_validate(data)


def test_absolute_start(tle: Tle) -> None:
    start = resolve_start(
        _start({"at": "2025-06-01T13:00:00+01:00"}),
        tle=tle,
        stations={},
        now=NOW,
        horizon_s=HORIZON_S,
    )
    assert start.at == dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    assert start.at.tzinfo == dt.UTC


def test_next_pass_start_is_the_next_aos_above_the_plans_elevation_plus_offset(tle: Tle) -> None:
    start = resolve_start(
        _start({"nextPass": {"station": "svalbard", "minElevationDeg": 10, "offsetSeconds": 60}}),
        tle=tle,
        stations={"svalbard": SVALBARD},
        now=NOW,
        horizon_s=HORIZON_S,
    )
    high = dataclasses.replace(SVALBARD, min_elevation_deg=10)
    first = next(p for p in predict_passes(tle, high, NOW, HORIZON_S) if p.aos > NOW)
    low = next(p for p in predict_passes(tle, SVALBARD, NOW, HORIZON_S) if p.aos > NOW)
    assert start.at == first.aos + dt.timedelta(seconds=60)
    assert first.aos != low.aos  # the plan's elevation, not the station's, made the start
    assert "svalbard" in start.reason


def test_next_pass_start_keeps_the_stations_horizon_mask(tle: Tle) -> None:
    """The plan's elevation replaces the station's minimum, never its terrain mask."""
    walled = dataclasses.replace(SVALBARD, horizon_mask=((0.0, 30.0), (180.0, 30.0)))
    start = resolve_start(
        _start({"nextPass": {"station": "svalbard", "minElevationDeg": 10}}),
        tle=tle,
        stations={"svalbard": walled},
        now=NOW,
        horizon_s=HORIZON_S,
    )
    masked = dataclasses.replace(walled, min_elevation_deg=10)
    first = next(p for p in predict_passes(tle, masked, NOW, HORIZON_S) if p.aos > NOW)
    assert start.at == first.aos
    assert first.max_elevation_deg >= 30.0


def test_unknown_station_and_no_pass_are_plan_errors(tle: Tle) -> None:
    with pytest.raises(PlanError) as exc:
        resolve_start(
            _start({"nextPass": {"station": "mars"}}),
            tle=tle,
            stations={"svalbard": SVALBARD},
            now=NOW,
            horizon_s=HORIZON_S,
        )
    assert exc.value.field == "spec.start.nextPass.station"
    assert "svalbard" in str(exc.value)
    zenith = GroundStationSpec(latitude_deg=0, longitude_deg=0, min_elevation_deg=89).station("z")
    with pytest.raises(PlanError) as exc:
        resolve_start(
            _start({"nextPass": {"station": "z", "minElevationDeg": 89}}),
            tle=tle,
            stations={"z": zenith},
            now=NOW,
            horizon_s=3600,
        )
    assert exc.value.field == "spec.start.nextPass"


def test_schedule_offsets_and_absolute_steps() -> None:
    steps = [
        PlanStep.model_validate(step)
        for step in [
            {"name": "a", "command": "PING", "offsetSeconds": 0},
            {"name": "b", "command": "PING", "offsetSeconds": 90, "timeoutSeconds": 5},
            {"name": "c", "command": "PING", "at": "2025-06-01T14:00:00Z"},
            {"name": "d", "command": "PING"},
        ]
    ]
    schedule = build_schedule(steps, NOW)
    assert [s["scheduledAt"] for s in schedule] == [
        format_rfc3339(NOW),
        "2025-06-01T12:01:30.000Z",
        "2025-06-01T14:00:00.000Z",
        format_rfc3339(NOW),
    ]
    assert [s["state"] for s in schedule] == ["pending"] * 4
    assert [s["timeoutSeconds"] for s in schedule] == [60, 5, 60, 60]
