"""GroundStation: the upcoming passes of the satellites of every mission that uses the station.

Run by a Kopf timer every resync period. Passes come from the shared `PassCache`, predicted for
the station as `GroundStationSpec.station()` describes it, horizon mask included, so the list
agrees with every Satellite's `status.nextPass`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any

from mpcs.core.resources import GroundStationSpec
from mpcs.operator.caches import PassCache
from mpcs.operator.conditions import ConditionSet
from mpcs.operator.indexes import Indexes
from mpcs.operator.objects import InvalidSpec, Satellite, parse_spec
from mpcs.operator.reconcile import Observed, Outcome, invalid_spec, reconcile_body
from mpcs.operator.services import Services
from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import format_rfc3339

#: Passes listed per satellite, and in all (the status stays small with many satellites).
PASSES_PER_SATELLITE = 3
PASSES_LISTED = 20


async def reconcile(observed: Observed, *, services: Services, indexes: Indexes) -> Outcome:
    meta = observed.meta
    conditions = ConditionSet(observed.status.get("conditions"), generation=meta.generation)
    try:
        station = parse_spec(GroundStationSpec, observed.raw_spec).station(meta.name)
    except InvalidSpec as exc:
        return invalid_spec(meta, conditions, problem=str(exc), status={"nextPasses": []})
    missions = indexes.missions_using(meta.namespace, meta.name)
    satellites = [
        s
        for mission in missions
        for s in indexes.satellites_of(meta.namespace, mission)
        if s.tle is not None
    ]
    passes = await asyncio.to_thread(
        upcoming_passes, services.passes, station, satellites, dt.datetime.now(dt.UTC)
    )
    conditions.set(
        "Ready",
        True,
        "Predicted",
        f"{len(passes)} upcoming passes of {len(satellites)} satellite(s) "
        f"from {len(missions)} mission(s)",
    )
    return Outcome(
        {
            "nextPasses": passes,
            "conditions": conditions.items,
            "observedGeneration": meta.generation,
        }
    )


#: Kopf's resync timer: `reconcile`, counted and timed as "GroundStation".
on_timer = functools.partial(reconcile_body, "GroundStation", reconcile)


def upcoming_passes(
    cache: PassCache, station: Station, satellites: list[Satellite], now: dt.datetime
) -> list[dict[str, Any]]:
    """`status.nextPasses`: the soonest passes of `satellites` over `station`, soonest first."""
    found = []
    for satellite in satellites:
        if satellite.tle is None:
            continue
        for p in cache.upcoming(satellite.tle, station, now)[:PASSES_PER_SATELLITE]:
            found.append((p.aos, satellite, p))
    found.sort(key=lambda item: item[0])
    return [
        {
            "satellite": satellite.meta.name,
            "mission": satellite.mission,
            "aos": format_rfc3339(p.aos),
            "los": format_rfc3339(p.los),
            "maxElevationDeg": round(p.max_elevation_deg, 1),
        }
        for _, satellite, p in found[:PASSES_LISTED]
    ]
