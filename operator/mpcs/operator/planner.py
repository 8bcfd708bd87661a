"""CommandPlan planning: resolve the start into an absolute time and the steps into a schedule.

Pure given its inputs (the parsed plan, TLE, stations, clock), so every rule is unit-tested without
a server. The CommandPlan reconcile writes the result into the plan's status; the mission's
executor sends the steps. Command names and arguments are checked by the model
(`CommandPlanSpec.validate_commands`), the one place that knows the command dictionary's rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from mpcs.core.resources import PlanStart, PlanStep, StepState
from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.timeutil import format_rfc3339
from mpcs.orbit.tle import Tle


class PlanError(ValueError):
    """A plan cannot be scheduled; `field` is the spec path a user has to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class PlannedStart:
    at: dt.datetime
    reason: str


def _utc(value: dt.datetime, *, field: str) -> dt.datetime:
    """A spec time as aware UTC (the CRD requires an offset; a model built in code may not).

    A time whose UTC instant falls outside what a datetime holds (year 1 at a positive offset,
    year 9999 at a negative one) is a PlanError naming `field`, not an OverflowError.
    """
    try:
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except OverflowError:
        raise PlanError(field, f"{value.isoformat()} is out of range in UTC") from None


def resolve_start(
    start: PlanStart,
    *,
    tle: Tle,
    stations: dict[str, Station],
    now: dt.datetime,
    horizon_s: float,
) -> PlannedStart:
    """An absolute start, or the AOS of the next pass of a station above an elevation.

    The pass's elevation limit replaces the station's minimum elevation; its horizon mask still
    applies, so the start is when the satellite clears both.
    """
    if start.at is not None:
        return PlannedStart(_utc(start.at, field="spec.start.at"), "absolute start time")
    window = start.next_pass
    if window is None:  # the model requires one of the two; this keeps the types honest
        raise PlanError("spec.start", "set exactly one of at or nextPass")
    if window.station not in stations:
        known = ", ".join(sorted(stations)) or "none"
        raise PlanError(
            "spec.start.nextPass.station",
            f"{window.station!r} is not a ground station of the mission (known: {known})",
        )
    min_el = window.min_elevation_deg
    station = dataclasses.replace(stations[window.station], min_elevation_deg=min_el)
    passes = [p for p in predict_passes(tle, station, now, horizon_s) if p.aos > now]
    if not passes:
        raise PlanError(
            "spec.start.nextPass",
            f"no pass over {window.station} above {min_el:g} deg in the next "
            f"{horizon_s / 3600:g} h",
        )
    first = passes[0]
    return PlannedStart(
        first.aos + dt.timedelta(seconds=window.offset_seconds),
        f"next pass over {window.station} above {min_el:g} deg: AOS {format_rfc3339(first.aos)}, "
        f"max elevation {first.max_elevation_deg:.1f} deg",
    )


def build_schedule(steps: list[PlanStep], start: dt.datetime) -> list[dict[str, Any]]:
    """Per-step absolute times, all pending; steps keep their declared order."""
    schedule = []
    for index, step in enumerate(steps):
        if step.at is not None:
            when = _utc(step.at, field=f"spec.steps[{index}].at")
        else:
            try:
                when = start + dt.timedelta(seconds=step.offset_seconds or 0.0)
            except OverflowError:
                raise PlanError(
                    f"spec.steps[{index}].offsetSeconds",
                    f"{step.offset_seconds:g} s after {format_rfc3339(start)} is out of range",
                ) from None
        schedule.append(
            {
                "name": step.name,
                "command": step.command,
                "scheduledAt": format_rfc3339(when),
                "timeoutSeconds": int(step.timeout_seconds),
                "state": StepState.PENDING.value,
            }
        )
    return schedule
