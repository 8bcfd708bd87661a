"""CommandPlan planning: validate the steps and resolve the start into an absolute schedule.

Pure given its inputs (TLE, stations, clock), so every rule is unit-tested without a server. The
operator writes the result into the plan's status; the mission's executor sends the steps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mpcs.core.commands import CommandError, validate_args
from mpcs.orbit.passes import Station, predict_passes
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


def parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def validate_steps(steps: list[dict[str, Any]]) -> None:
    """Every step's command and arguments against the command dictionary."""
    for index, step in enumerate(steps):
        try:
            validate_args(step["command"], step.get("args") or {})
        except CommandError as exc:
            where = f"spec.steps[{index}]"
            field = f"{where}.args.{exc.argument}" if exc.argument else f"{where}.command"
            raise PlanError(field, str(exc)) from None


def resolve_start(
    start: dict[str, Any],
    *,
    tle: Tle,
    stations: dict[str, Station],
    now: dt.datetime,
    horizon_s: float,
) -> PlannedStart:
    """An absolute start, or the AOS of the next pass of a station above an elevation."""
    if start.get("at"):
        return PlannedStart(parse_time(str(start["at"])), "absolute start time")
    window = start.get("nextPass") or {}
    station_name = window.get("station", "")
    if station_name not in stations:
        known = ", ".join(sorted(stations)) or "none"
        raise PlanError(
            "spec.start.nextPass.station",
            f"{station_name!r} is not a ground station of the mission (known: {known})",
        )
    base = stations[station_name]
    min_el = float(window.get("minElevationDeg", base.min_elevation_deg))
    station = Station(
        latitude_deg=base.latitude_deg,
        longitude_deg=base.longitude_deg,
        altitude_m=base.altitude_m,
        min_elevation_deg=min_el,
        name=station_name,
    )
    passes = [p for p in predict_passes(tle, station, now, horizon_s) if p.aos > now]
    if not passes:
        raise PlanError(
            "spec.start.nextPass",
            f"no pass over {station_name} above {min_el:g} deg in the next {horizon_s / 3600:g} h",
        )
    offset = dt.timedelta(seconds=float(window.get("offsetSeconds", 0)))
    first = passes[0]
    return PlannedStart(
        first.aos + offset,
        f"next pass over {station_name} above {min_el:g} deg: AOS {iso(first.aos)}, "
        f"max elevation {first.max_elevation_deg:.1f} deg",
    )


def build_schedule(steps: list[dict[str, Any]], start: dt.datetime) -> list[dict[str, Any]]:
    """Per-step absolute times, all pending; steps keep their declared order."""
    schedule = []
    for step in steps:
        if step.get("at"):
            when = parse_time(str(step["at"]))
        else:
            when = start + dt.timedelta(seconds=float(step.get("offsetSeconds", 0)))
        schedule.append(
            {
                "name": step["name"],
                "command": step["command"],
                "scheduledAt": iso(when),
                "timeoutSeconds": int(step.get("timeoutSeconds", 60)),
                "state": "pending",
            }
        )
    return schedule
