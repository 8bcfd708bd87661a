"""CommandPlan: validate the plan, resolve its start and write the schedule into its status.

Once the mission's executor runs the plan (phase Running or later), it owns the status and this
reconcile leaves the plan alone. The Mission, its stations and the Satellite (TLE parsed) come
from the indexes, so planning costs no GET.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools

import kopf

from mpcs.core.resources import CommandPlanSpec, MissionSpec, PlanPhase
from mpcs.operator.conditions import ConditionSet
from mpcs.operator.indexes import Indexes
from mpcs.operator.objects import InvalidSpec, parse_spec
from mpcs.operator.planner import PlanError, build_schedule, resolve_start
from mpcs.operator.reconcile import Observed, Outcome, reconcile_body
from mpcs.operator.services import Services
from mpcs.orbit.timeutil import format_rfc3339

#: Phases the executor writes; from the first of them on, the status is the executor's.
EXECUTOR_PHASES = frozenset(
    {PlanPhase.RUNNING, PlanPhase.SUCCEEDED, PlanPhase.FAILED, PlanPhase.CANCELLED}
)


async def reconcile(observed: Observed, *, services: Services, indexes: Indexes) -> Outcome:
    """Validate and schedule; a plan the executor already runs is left to it."""
    meta = observed.meta
    if observed.status.get("phase") in EXECUTOR_PHASES:
        return Outcome()
    conditions = ConditionSet(observed.status.get("conditions"), generation=meta.generation)

    def failed(reason: str, message: str) -> Outcome:
        kopf.warn(meta.reference(), reason=reason, message=message)
        conditions.set("Scheduled", False, reason, message)
        return Outcome(
            {
                "phase": PlanPhase.FAILED.value,
                "conditions": conditions.items,
                "observedGeneration": meta.generation,
            }
        )

    def pending(reason: str, message: str) -> Outcome:
        conditions.set("Scheduled", False, reason, message)
        return Outcome(
            {
                "phase": PlanPhase.PENDING.value,
                "conditions": conditions.items,
                "observedGeneration": meta.generation,
            },
            retry=message,
        )

    try:
        plan = parse_spec(CommandPlanSpec, observed.raw_spec)
    except InvalidSpec as exc:
        return failed("InvalidSpec", str(exc))
    problems = plan.validate_commands()
    if problems:
        return failed("InvalidStep", "; ".join(problems))
    namespace = meta.namespace
    mission_name, satellite_name = plan.mission_ref.name, plan.satellite_ref.name
    mission = indexes.mission(namespace, mission_name)
    if mission is None:
        return pending("MissionNotFound", f"Mission {mission_name!r} not found in {namespace}")
    if not isinstance(mission, MissionSpec):
        return pending("MissionInvalid", f"Mission {mission_name!r} is invalid: {mission}")
    satellite = indexes.satellite(namespace, satellite_name)
    if satellite is None:
        return pending(
            "SatelliteNotFound", f"Satellite {satellite_name!r} not found in {namespace}"
        )
    if satellite.mission != mission_name:
        return failed(
            "SatelliteNotInMission",
            str(
                PlanError(
                    "spec.satelliteRef.name",
                    f"Satellite {satellite_name!r} belongs to Mission {satellite.mission!r}, "
                    f"not {mission_name!r}",
                )
            ),
        )
    if satellite.tle is None:
        return failed(
            "InvalidSatellite",
            str(PlanError("spec.satelliteRef.name", f"Satellite spec: {satellite.problem}")),
        )
    stations = {s.name: s.station() for s in indexes.stations_of(namespace, mission)[0]}
    try:
        start = await asyncio.to_thread(
            resolve_start,
            plan.start,
            tle=satellite.tle,
            stations=stations,
            now=dt.datetime.now(dt.UTC),
            horizon_s=services.settings.pass_horizon_hours * 3600,
        )
    except PlanError as exc:
        return failed("Unschedulable", str(exc))
    schedule = build_schedule(plan.steps, start.at)
    kopf.event(
        meta.reference(),
        type="Normal",
        reason="Scheduled",
        message=f"{len(schedule)} steps from {format_rfc3339(start.at)} ({start.reason})",
    )
    conditions.set("Scheduled", True, "Resolved", start.reason)
    return Outcome(
        {
            "phase": PlanPhase.SCHEDULED.value,
            "startTime": format_rfc3339(start.at),
            "schedule": schedule,
            "conditions": conditions.items,
            "observedGeneration": meta.generation,
        }
    )


#: Kopf's create, update and resume handler: `reconcile`, counted and timed as "CommandPlan".
on_change = functools.partial(reconcile_body, "CommandPlan", reconcile)
