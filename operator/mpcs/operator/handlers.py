"""Every Kopf registration of the MPCS operator, in this one file; each calls one function.

The reconcile of each kind lives in `mpcs.operator.reconcile.<kind>`; the shared clients and
caches in `services.Services`; the indexes, already parsed into the core models, in `indexes`.
Each reconcile is level-based, so create, update, resume and the periodic resync all run the same
function, and running it again converges instead of duplicating. Importing this module registers
the handlers (`mpcs operator run` does).
"""

from __future__ import annotations

from typing import Any

import kopf

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import COMMAND_PLAN, GROUND_STATION, MISSION, SATELLITE
from mpcs.kit.settings import load_settings
from mpcs.operator import builders, indexes
from mpcs.operator.indexes import Indexes
from mpcs.operator.objects import Satellite
from mpcs.operator.reconcile import (
    commandplan,
    groundstation,
    mission,
    pool,
    refresher,
    satellite,
)
from mpcs.operator.services import Services, services_of, start
from mpcs.operator.settings import OperatorSettings

#: Read once, when the handlers are registered: timer intervals are fixed at registration.
SETTINGS = load_settings(OperatorSettings)

MISSIONS, SATELLITES = MISSION.plural, SATELLITE.plural
STATIONS, PLANS = GROUND_STATION.plural, COMMAND_PLAN.plural


def _services(kwargs: dict[str, Any]) -> Services:
    return services_of(kwargs["memo"])


def _indexes(kwargs: dict[str, Any]) -> Indexes:
    """Kopf passes every index to every handler, as a keyword named after its function."""
    return Indexes(
        missions=kwargs["mission_index"],
        stations=kwargs["station_index"],
        satellites=kwargs["satellite_index"],
    )


# --- start-up and clean-up -----------------------------------------------------------------------


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    await start(settings, memo, SETTINGS)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await services_of(memo).close()


# --- indexes: every spec checked against its model once per change -----------------------------


@kopf.index(GROUP, VERSION, MISSIONS)
def mission_index(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    return indexes.mission_entry(namespace, name, spec)


@kopf.index(GROUP, VERSION, STATIONS)
def station_index(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    return indexes.station_entry(namespace, name, spec)


@kopf.index(GROUP, VERSION, SATELLITES)
def satellite_index(body: kopf.Body, **_: Any) -> dict[Any, Satellite]:
    return indexes.satellite_entry(body)


# --- Mission -------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, MISSIONS)
@kopf.on.create(GROUP, VERSION, MISSIONS)
@kopf.on.update(GROUP, VERSION, MISSIONS, field="spec")
async def mission_changed(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    await mission.on_change(body, patch=patch, services=_services(kw), indexes=_indexes(kw))


@kopf.timer(
    GROUP,
    VERSION,
    MISSIONS,
    interval=SETTINGS.resync_seconds,
    initial_delay=SETTINGS.resync_seconds,
)
async def mission_resync(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    """Drift repair: deleted topics, children or changed configs come back."""
    await mission.on_change(body, patch=patch, services=_services(kw), indexes=_indexes(kw))


@kopf.on.delete(GROUP, VERSION, MISSIONS)
async def mission_deleted(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    await mission.on_delete(body, patch=patch, services=_services(kw), indexes=_indexes(kw))


@kopf.daemon(GROUP, VERSION, MISSIONS, cancellation_timeout=5)
async def mission_satellites_refresher(
    name: str, namespace: str, stopped: kopf.DaemonStopped, **kw: Any
) -> None:
    await refresher.run(
        namespace=namespace,
        mission=name,
        stopped=stopped,
        services=_services(kw),
        indexes=_indexes(kw),
    )


@kopf.daemon(GROUP, VERSION, MISSIONS, cancellation_timeout=5)
async def mission_simulator_pool(
    body: kopf.Body, name: str, namespace: str, stopped: kopf.DaemonStopped, **kw: Any
) -> None:
    await pool.run(
        namespace=namespace,
        mission=name,
        stopped=stopped,
        services=_services(kw),
        indexes=_indexes(kw),
        owner=builders.owner_reference(body),
    )


# --- Satellite -----------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, SATELLITES)
@kopf.on.create(GROUP, VERSION, SATELLITES)
@kopf.on.update(GROUP, VERSION, SATELLITES, field="spec")
async def satellite_changed(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    await satellite.on_change(body, patch=patch, services=_services(kw), indexes=_indexes(kw))


# --- GroundStation -------------------------------------------------------------------------------


@kopf.on.create(GROUP, VERSION, STATIONS)
@kopf.on.update(GROUP, VERSION, STATIONS, field="spec")
async def station_changed(namespace: str, name: str, **kw: Any) -> None:
    """The missions using the station follow it (their dashboards mark it)."""
    await mission.on_station_change(namespace, name, services=_services(kw), indexes=_indexes(kw))


@kopf.timer(GROUP, VERSION, STATIONS, interval=SETTINGS.resync_seconds, initial_delay=1)
async def station_passes(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    """Upcoming passes of the satellites of every mission that uses the station."""
    await groundstation.on_timer(body, patch=patch, services=_services(kw), indexes=_indexes(kw))


# --- CommandPlan ---------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, PLANS)
@kopf.on.create(GROUP, VERSION, PLANS)
@kopf.on.update(GROUP, VERSION, PLANS, field="spec")
async def plan_changed(body: kopf.Body, patch: kopf.Patch, **kw: Any) -> None:
    await commandplan.on_change(body, patch=patch, services=_services(kw), indexes=_indexes(kw))
