"""Satellite: its simulator (ConfigMap + Deployment), conditions, orbit summary and next pass.

The Kopf handlers run `reconcile` when the spec changes; the mission's refresher
(`reconcile/refresher.py`) runs it again every resync period and adds the next pass, which is
predicted from shared, cached passes (`caches.PassCache`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import kopf

from mpcs.core import names
from mpcs.core.resources import SATELLITE, MissionSpec
from mpcs.core.resources.simulation import NamedGroundStation, SimulatorConfig
from mpcs.operator import builders
from mpcs.operator.caches import PassCache
from mpcs.operator.conditions import ConditionSet, owned_of
from mpcs.operator.indexes import Indexes
from mpcs.operator.metrics import observe
from mpcs.operator.objects import Satellite, read_satellite
from mpcs.operator.reconcile import Outcome, invalid_spec
from mpcs.operator.services import MISSION_LABEL, Services
from mpcs.orbit.passes import Pass
from mpcs.orbit.timeutil import format_rfc3339
from mpcs.orbit.tle import Tle, orbit_summary

#: Telemetry older than this many sample intervals (and at least a minute) is stale.
STALE_INTERVALS = 5
STALE_MIN_S = 60.0


async def on_change(
    body: kopf.Body, *, patch: kopf.Patch, services: Services, indexes: Indexes
) -> None:
    """Create, update and resume: label the Satellite with its mission, then reconcile."""
    with observe("Satellite"):
        satellite = read_satellite(body)
        if satellite.labels.get(MISSION_LABEL) != satellite.mission:
            patch.metadata.setdefault("labels", {})[MISSION_LABEL] = satellite.mission
        outcome = await reconcile(satellite, services=services, indexes=indexes)
        outcome = await write_conditions(satellite, outcome, services=services)
        outcome.apply(patch)


#: The Satellite conditions the operator writes; any other (the alerts runner's `Alerting`) is
#: another writer's, and the operator's writes keep it as the server has it.
OWNED_CONDITIONS = frozenset({"SimulatorReady", "TelemetryFlowing", "Ready"})


async def write_conditions(
    satellite: Satellite, outcome: Outcome, *, services: Services
) -> Outcome:
    """Write the outcome's conditions merged by type into the Satellite's current ones (when
    ours changed), and return the outcome without them: a status patch carrying the whole list
    as read would put back a condition another writer changed meanwhile."""
    status = dict(outcome.status)
    conditions = status.pop("conditions", None)
    if conditions is None:
        return outcome
    read = satellite.status.get("conditions") or []
    if owned_of(conditions, OWNED_CONDITIONS) != owned_of(read, OWNED_CONDITIONS):
        await services.kube.patch_conditions(
            plural=SATELLITE.plural,
            namespace=satellite.meta.namespace,
            name=satellite.meta.name,
            conditions=conditions,
            owned=OWNED_CONDITIONS,
        )
    return Outcome(status, retry=outcome.retry, retry_delay_s=outcome.retry_delay_s)


async def reconcile(satellite: Satellite, *, services: Services, indexes: Indexes) -> Outcome:
    meta = satellite.meta
    conditions = ConditionSet(satellite.status.get("conditions"), generation=meta.generation)
    spec = satellite.model()
    if spec is None or satellite.tle is None:
        # What CEL cannot check, e.g. the TLE checksum.
        return invalid_spec(
            meta,
            conditions,
            problem=satellite.problem or "spec: invalid",
            status={"phase": "Invalid"},
        )
    mission = indexes.mission(meta.namespace, satellite.mission)
    if not isinstance(mission, MissionSpec):
        reason, message = (
            ("MissionNotFound", f"Mission {satellite.mission!r} does not exist in {meta.namespace}")
            if mission is None
            else ("MissionInvalid", f"Mission {satellite.mission!r} is invalid: {mission}")
        )
        conditions.set("Ready", False, reason, message)
        return Outcome(
            {
                "phase": "WaitingForMission",
                "conditions": conditions.items,
                "observedGeneration": meta.generation,
            },
            retry=f"waiting for Mission {satellite.mission}",
        )

    stations, unusable = indexes.stations_of(meta.namespace, mission)
    enabled = spec.simulator.enabled
    pods = mission.simulation.pods
    if pods is not None:
        # Pooled: the mission's simulator pods fly it (reconcile/pool.py). A Satellite that had a
        # simulator of its own before the Mission pooled them (its condition says so) loses it.
        previous = next((c for c in conditions.items if c.get("type") == "SimulatorReady"), {})
        if previous.get("reason") in ("DeploymentApplied", "Disabled"):
            for ref in builders.satellite_simulator_refs(meta.namespace, meta.name):
                await services.kube.delete(ref)
        conditions.set(
            "SimulatorReady",
            True,
            "Pooled" if enabled else "NotSimulated",
            f"flown by the mission's {pods} simulator pods"
            if enabled
            else "not simulated (simulator.enabled=false)",
        )
    else:
        config = SimulatorConfig(satellite=meta.name, spec=spec, ground_stations=stations)
        await services.kube.apply_all(
            builders.satellite_children(
                namespace=meta.namespace,
                mission=satellite.mission,
                owner=builders.owner_reference(meta.reference()),
                config=config,
                settings=services.settings,
            )
        )
        conditions.set(
            "SimulatorReady",
            True,
            "DeploymentApplied" if enabled else "Disabled",
            f"Deployment {names.child_name(meta.name, builders.SIMULATOR)} applied"
            + ("" if enabled else " with 0 replicas (simulator.enabled=false)"),
        )
    last = await services.last_telemetry.of(meta.namespace, satellite.mission, meta.name)
    flowing, reason, message = telemetry_flowing(
        last,
        interval_s=spec.telemetry_interval_seconds,
        now=dt.datetime.now(dt.UTC),
    )
    conditions.set("TelemetryFlowing", flowing, reason, message)
    conditions.set(
        "Ready",
        True,
        "Provisioned",
        "simulator provisioned"
        + (f"; missing or invalid ground stations: {unusable}" if unusable else ""),
    )
    orbit = orbit_summary(satellite.tle)
    status: dict[str, Any] = {
        "phase": "Ready",
        "conditions": conditions.items,
        "orbit": {
            "periodMinutes": round(orbit.period_min, 2),
            "inclinationDeg": round(orbit.inclination_deg, 3),
            "apogeeKm": round(orbit.apogee_km, 1),
            "perigeeKm": round(orbit.perigee_km, 1),
        },
        "observedGeneration": meta.generation,
    }
    if last is not None:
        status["lastTelemetryTime"] = format_rfc3339(last)
    return Outcome(status)


def telemetry_flowing(
    last: dt.datetime | None, *, interval_s: float, now: dt.datetime
) -> tuple[bool | None, str, str]:
    """TelemetryFlowing from the newest stored sample (the spacecraft clock may run ahead)."""
    if last is None:
        return None, "NoTelemetryYet", "no sample stored in the last hour"
    stale_after_s = max(STALE_MIN_S, STALE_INTERVALS * interval_s)
    age_s = (now - last).total_seconds()
    if age_s > stale_after_s:
        return False, "Stale", f"newest sample is {age_s:.0f} s old (limit {stale_after_s:.0f} s)"
    return True, "Flowing", f"newest sample at {format_rfc3339(last)}"


async def next_pass(
    satellite: Satellite, *, services: Services, indexes: Indexes, now: dt.datetime
) -> dict[str, Any] | None:
    """Next pass over the mission's stations (shared, cached predictions; off the event loop)."""
    mission = indexes.mission(satellite.meta.namespace, satellite.mission)
    if satellite.tle is None or not isinstance(mission, MissionSpec):
        return None
    stations = indexes.stations_of(satellite.meta.namespace, mission)[0]
    if not stations:
        return None
    with observe("SatelliteNextPass"):
        return await asyncio.to_thread(soonest_pass, services.passes, satellite.tle, stations, now)


def soonest_pass(
    cache: PassCache, tle: Tle, stations: list[NamedGroundStation], now: dt.datetime
) -> dict[str, Any] | None:
    """The earliest upcoming pass over any of `stations`, as Satellite `status.nextPass`."""
    best: tuple[str, Pass] | None = None
    for station in stations:
        for p in cache.upcoming(tle, station.station(), now)[:1]:
            if best is None or p.aos < best[1].aos:
                best = (station.name, p)
    if best is None:
        return None
    name, p = best
    return {
        "station": name,
        "aos": format_rfc3339(p.aos),
        "los": format_rfc3339(p.los),
        "maxElevationDeg": round(p.max_elevation_deg, 1),
    }
