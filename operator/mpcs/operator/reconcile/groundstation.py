"""GroundStation: the upcoming passes of the satellites of every mission that uses the station.

Run by a Kopf timer every resync period. Passes come from the shared `PassCache`, predicted for
the station as `GroundStationSpec.station()` describes it, horizon mask included, so the list
agrees with every Satellite's `status.nextPass`. Every predicted pass also goes into each
mission's bucket (`pass_points`), where the dashboards draw the contact plan.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from typing import Any

import httpx

from mpcs.core import names
from mpcs.core.resources import GroundStationSpec
from mpcs.operator.caches import PassCache
from mpcs.operator.conditions import ConditionSet
from mpcs.operator.indexes import Indexes
from mpcs.operator.influx_buckets import InfluxError
from mpcs.operator.objects import InvalidSpec, Satellite, parse_spec
from mpcs.operator.pass_points import pass_lines, station_predicate
from mpcs.operator.reconcile import Observed, Outcome, invalid_spec, reconcile_body
from mpcs.operator.services import Services
from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import format_rfc3339

log = logging.getLogger("mpcs.operator")

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
    now = dt.datetime.now(dt.UTC)
    passes = await asyncio.to_thread(upcoming_passes, services.passes, station, satellites, now)
    conditions.set(
        "Ready",
        True,
        "Predicted",
        f"{len(passes)} upcoming passes of {len(satellites)} satellite(s) "
        f"from {len(missions)} mission(s)",
    )
    for mission in missions:
        await store_passes(
            services,
            namespace=meta.namespace,
            mission=mission,
            station=station,
            satellites=[s for s in satellites if s.mission == mission],
            now=now,
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


async def store_passes(
    services: Services,
    *,
    namespace: str,
    mission: str,
    station: Station,
    satellites: list[Satellite],
    now: dt.datetime,
) -> None:
    """Replace the station's predicted passes in the mission's bucket with the current ones.

    Best effort: a dashboard's contact plan must not hold up the station's status, so an InfluxDB
    failure is logged and the next resync writes again.
    """
    lines = [
        line
        for s in satellites
        if s.tle is not None
        for line in pass_lines(
            s.meta.name, station.name, services.passes.upcoming(s.tle, station, now)
        )
    ]
    bucket = names.bucket(namespace, mission)
    horizon = dt.timedelta(seconds=services.passes.horizon_s)
    try:
        await services.influx.delete_points(
            bucket, start=now, stop=now + 2 * horizon, predicate=station_predicate(station.name)
        )
        await services.influx.write_lines(bucket, lines)
    except (InfluxError, httpx.HTTPError) as exc:
        log.warning(
            "predicted passes not stored",
            extra={"station": station.name, "bucket": bucket, "error": str(exc)},
        )
