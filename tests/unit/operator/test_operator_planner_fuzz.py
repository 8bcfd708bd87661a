"""Property-based fuzzing of the CommandPlan planner (issue 17): any spec the model accepts is
scheduled or refused with a `PlanError` naming the field, never a crash of the reconcile.

Plans come from hypothesis as the API server would hand them over (camelCase dicts, any offset,
any absolute time with any UTC offset, the whole range of datetimes), through
`CommandPlanSpec.model_validate`, `resolve_start` and `build_schedule`. Next-pass starts use a
real TLE and a short horizon so that the pass prediction stays fast. Bounded: max_examples and
no deadline (the machine is shared). Crashes found are pinned as regressions at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from utils.kube import EXAMPLES

from mpcs.core.resources import CommandPlanSpec, GroundStationSpec, PlanStart, PlanStep
from mpcs.operator.planner import PlanError, build_schedule, resolve_start
from mpcs.orbit.timeutil import parse_rfc3339
from mpcs.orbit.tle import parse_tle

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
_SAT = next(d for d in yaml.safe_load_all((EXAMPLES / "20-satellites.yaml").read_text()) if d)
TLE = parse_tle(f"{_SAT['spec']['tle']['line1']}\n{_SAT['spec']['tle']['line2']}")
STATIONS = {
    "svalbard": GroundStationSpec(
        latitude_deg=78.2297, longitude_deg=15.4077, altitude_m=500, min_elevation_deg=5
    ).station("svalbard")
}

#: UTC offsets as RFC 3339 writes them (whole minutes, less than a day).
offsets = st.integers(-1439, 1439).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
any_times = st.datetimes(timezones=offsets | st.just(dt.UTC))
near_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=offsets
)
times = (any_times | near_times).map(lambda t: t.isoformat())


@st.composite
def steps(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 6))
    found = []
    for index in range(count):
        step: dict[str, Any] = {
            "name": f"s{index}",
            "command": draw(st.sampled_from(["PING", "SET_MODE", "CAPTURE_IMAGE", "NO_SUCH"])),
        }
        when = draw(st.sampled_from(["offset", "at", "none"]))
        if when == "offset":
            step["offsetSeconds"] = draw(st.floats(min_value=0, max_value=86_400))
        elif when == "at":
            step["at"] = draw(times)
        if draw(st.booleans()):
            step["args"] = draw(
                st.dictionaries(
                    st.sampled_from(["mode", "count", "exposure_ms", "x"]),
                    st.integers() | st.floats() | st.sampled_from(["SAFE", "NOMINAL", "X"]),
                    max_size=2,
                )
            )
        if draw(st.booleans()):
            step["timeoutSeconds"] = draw(st.floats(min_value=1, max_value=3600))
        found.append(step)
    return found


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        start: dict[str, Any] = {"at": draw(times)}
    else:
        start = {
            "nextPass": {
                "station": draw(st.sampled_from(["svalbard", "nowhere"])),
                "minElevationDeg": draw(st.floats(min_value=0, max_value=89)),
                "offsetSeconds": draw(st.floats(min_value=-3600, max_value=3600)),
            }
        }
    return {
        "missionRef": {"name": "m"},
        "satelliteRef": {"name": "s"},
        "start": start,
        "steps": draw(steps()),
    }


def _schedule(
    spec: CommandPlanSpec, *, stations: dict[str, Any]
) -> tuple[dt.datetime, list[dict[str, Any]]] | PlanError:
    """The reconcile's two planning calls: the start and the schedule, or the PlanError."""
    try:
        start = resolve_start(spec.start, tle=TLE, stations=stations, now=NOW, horizon_s=6 * 3600)
        return start.at, build_schedule(spec.steps, start.at)
    except PlanError as exc:
        return exc


def _plan(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What the CommandPlan reconcile does with a spec; None when it is refused."""
    try:
        spec = CommandPlanSpec.model_validate(data)
    except ValidationError:
        return None  # the API server refuses it (CEL and schema mirror the model)
    assert isinstance(spec.validate_commands(), list)
    planned = _schedule(spec, stations=STATIONS)
    if isinstance(planned, PlanError):
        assert planned.field.startswith("spec.")
        return None
    start_at, schedule = planned
    assert [s["name"] for s in schedule] == [s.name for s in spec.steps]
    for step, entry in zip(spec.steps, schedule, strict=True):
        when = parse_rfc3339(entry["scheduledAt"])
        expected = (
            step.at.astimezone(dt.UTC)
            if step.at is not None
            else start_at + dt.timedelta(seconds=step.offset_seconds or 0.0)
        )
        assert abs(when - expected) < dt.timedelta(milliseconds=1)
        assert entry["state"] == "pending"
        assert 1 <= entry["timeoutSeconds"] <= 3600
    return schedule


@FUZZ
@given(data=plans())
def test_any_plan_is_scheduled_or_refused_naming_the_field(data: dict[str, Any]) -> None:
    _plan(data)


@FUZZ
@given(start=any_times, offset=st.floats(min_value=0, max_value=86_400))
def test_a_schedule_is_start_plus_offset_or_a_plan_error(start: dt.datetime, offset: float) -> None:
    spec = CommandPlanSpec(
        mission_ref={"name": "m"},
        satellite_ref={"name": "s"},
        start=PlanStart.model_validate({"at": start.isoformat()}),
        steps=[PlanStep.model_validate({"name": "a", "command": "PING", "offsetSeconds": offset})],
    )
    planned = _schedule(spec, stations={})
    if isinstance(planned, PlanError):
        assert planned.field in ("spec.start.at", "spec.steps[0].offsetSeconds")
        return
    _, schedule = planned
    assert parse_rfc3339(schedule[0]["scheduledAt"]) - start < dt.timedelta(
        seconds=offset, milliseconds=1
    )


# --- regressions found by the fuzzing above -----------------------------------------------------


@pytest.mark.parametrize(
    ("start", "step", "field"),
    [
        # The last representable day plus an offset: OverflowError from datetime arithmetic.
        ("9999-12-31T23:00:00+00:00", {"offsetSeconds": 7200}, "spec.steps[0].offsetSeconds"),
        # Year 1 at a positive UTC offset is before datetime.min in UTC: OverflowError.
        ("0001-01-01T00:00:00+05:00", {}, "spec.start.at"),
        ("2025-01-01T00:00:00Z", {"at": "0001-01-01T00:30:00+01:00"}, "spec.steps[0].at"),
    ],
)
def test_found_by_fuzzing(start: str, step: dict[str, Any], field: str) -> None:
    spec = CommandPlanSpec.model_validate(
        {
            "missionRef": {"name": "m"},
            "satelliteRef": {"name": "s"},
            "start": {"at": start},
            "steps": [{"name": "a", "command": "PING", **step}],
        }
    )
    planned = _schedule(spec, stations={})
    assert isinstance(planned, PlanError)
    assert planned.field == field
