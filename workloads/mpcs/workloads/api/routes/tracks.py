"""What the web console draws: the caller's session, the fleet, ground stations and ground tracks.

`GET /api/v1/session` (the caller's role, so the console can disable what the role may not do),
`GET /api/v1/fleet` (every satellite's latest mode, position, battery and storage from the live
cache, one request instead of one per satellite), `GET /api/v1/groundstations` (the mission's
stations with the ring a satellite at a given height is visible inside) and
`GET /api/v1/satellites/{sat}/track` (the ground track around now, split at the antimeridian) and
`GET /api/v1/plans` (the mission's CommandPlans with their resolved schedule and step states).
Positions come from `mpcs.orbit`, the one propagator; the browser never propagates an orbit.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field, ValidationError

from mpcs.core.resources import TleSpec
from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import datetime_from_ns, format_rfc3339, ns_from_datetime
from mpcs.orbit.track import propagate, time_grid

from ..deps import SatelliteDep, ServicesDep, ViewerDep
from ..errors import field_error
from ..models import ApiModel, ListPublic, Role, error_responses
from .satellites import _first_error, _station

router = APIRouter(prefix="/api/v1", tags=["console"], responses=error_responses(401))

#: Mean Earth radius for the visibility ring (a sphere: the ring is drawn on a map, to ~0.3 %).
EARTH_RADIUS_KM = 6371.0
#: Azimuth step of a visibility ring.
RING_STEP_DEG = 5.0
#: At most this many points in one ground track.
MAX_TRACK_POINTS = 5000


# --- models -------------------------------------------------------------------------------------


class SessionPublic(ApiModel):
    """Who the caller is, as far as this API is concerned."""

    role: Role
    mission: str
    namespace: str
    may_command: bool = Field(description="The role may send routine and caution commands.")
    may_command_critical: bool = Field(description="The role may send critical commands.")


class FleetMemberPublic(ApiModel):
    """One satellite's latest state (null fields: no telemetry since the service started)."""

    name: str
    phase: str | None
    mode: str | None
    time: str | None = Field(description="Sample time of the latest telemetry (UTC).")
    lat_deg: float | None
    lon_deg: float | None
    alt_km: float | None
    battery_soc_pct: float | None
    storage_used_pct: float | None
    fdir_latched: bool | None
    in_contact: bool | None


class GroundStationPublic(ApiModel):
    """A ground station and the ring on the ground inside which a satellite is above its mask."""

    name: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    min_elevation_deg: float
    band: str | None
    visibility: list[tuple[float, float]] = Field(
        description="(lat_deg, lon_deg) ring for a satellite at `altitudeKm`; longitudes are "
        "continuous (they may leave -180..180: draw the ring shifted by ±360 too). A ring around "
        "a pole is closed along that pole's latitude."
    )


class TrackPointPublic(ApiModel):
    time: str
    lat_deg: float
    lon_deg: float
    alt_km: float
    sunlit: bool


class TrackPublic(ApiModel):
    """A ground track: the points, and the same path cut where it crosses the antimeridian."""

    satellite: str
    start: str
    stop: str
    step_s: float
    points: list[TrackPointPublic]
    segments: list[list[tuple[float, float]]] = Field(
        description="(lat_deg, lon_deg) polylines, none crossing ±180° (the cut is interpolated "
        "onto ±180°)."
    )
    now: TrackPointPublic = Field(description="Where the satellite is at the request's time.")


class PlanPublic(ApiModel):
    """A CommandPlan of the mission: what the operator's planner and the executor wrote."""

    name: str
    satellite: str | None
    phase: str | None
    start_time: str | None
    message: str | None
    on_failure: str | None
    schedule: list[dict[str, Any]] = Field(
        description="status.schedule as stored: name, command, scheduledAt, state, sentAt, "
        "ackedAt, executedAt, commandId, message per step."
    )
    steps: list[dict[str, Any]] = Field(description="spec.steps (command and args per step).")


# --- pure geometry ------------------------------------------------------------------------------


def visibility_ring(
    station: Station, alt_km: float, *, step_deg: float = RING_STEP_DEG
) -> list[tuple[float, float]]:
    """The ground ring inside which a satellite at `alt_km` is above the station's usable sky.

    At each azimuth the Earth-central angle to the ring is acos(R/(R+h)·cos e) − e, with e the
    minimum elevation there (mask included). Longitudes are unwrapped (continuous); a ring that
    encloses a pole is closed through that pole's latitude, so it fills as a plain polygon.

    >>> ring = visibility_ring(Station(latitude_deg=0, longitude_deg=0, altitude_m=0,
    ...                                min_elevation_deg=0), 500.0)
    >>> round(ring[0][0], 1), round(ring[0][1], 1)   # due north: 21.6° of arc at 500 km
    (21.6, 0.0)
    """
    azimuths = np.arange(0.0, 360.0, step_deg)
    elevation = np.radians(station.min_elevation_at(azimuths))
    ratio = EARTH_RADIUS_KM / (EARTH_RADIUS_KM + alt_km)
    central = np.arccos(np.clip(ratio * np.cos(elevation), -1.0, 1.0)) - elevation
    central = np.clip(central, 0.0, None)
    lat1 = math.radians(station.latitude_deg)
    az = np.radians(azimuths)
    lat2 = np.arcsin(np.sin(lat1) * np.cos(central) + np.cos(lat1) * np.sin(central) * np.cos(az))
    dlon = np.arctan2(
        np.sin(az) * np.sin(central) * np.cos(lat1),
        np.cos(central) - np.sin(lat1) * np.sin(lat2),
    )
    lats = np.degrees(lat2)
    lons = station.longitude_deg + np.degrees(np.unwrap(dlon))
    ring = [(float(a), float(o)) for a, o in zip(lats, lons, strict=True)]
    winding = float(np.degrees(np.unwrap(np.append(dlon, dlon[0]))[-1] - dlon[0]))
    if abs(winding) > 180.0:  # the ring goes round a pole: close it along the pole
        pole = 90.0 if station.latitude_deg > 0 else -90.0
        first = ring[0]
        end_lon = first[1] + (360.0 if winding > 0 else -360.0)
        ring += [(first[0], end_lon), (pole, end_lon), (pole, first[1])]
    return [(round(a, 4), round(o, 4)) for a, o in ring]


def split_at_antimeridian(lats: list[float], lons: list[float]) -> list[list[tuple[float, float]]]:
    """Polylines of a path of (lat, lon) in -180..180, cut where it jumps across ±180°.

    The crossing latitude is interpolated, and each side ends on ±180°, so the map shows the
    path running to the edge rather than a line across the whole world.

    >>> split_at_antimeridian([0.0, 2.0], [170.0, -170.0])
    [[(0.0, 170.0), (1.0, 180.0)], [(1.0, -180.0), (2.0, -170.0)]]
    """
    if not lats:
        return []
    segments: list[list[tuple[float, float]]] = [[(lats[0], lons[0])]]
    for i in range(1, len(lats)):
        lat0, lon0, lat1, lon1 = lats[i - 1], lons[i - 1], lats[i], lons[i]
        jump = lon1 - lon0
        if abs(jump) > 180.0:
            edge = 180.0 if jump < 0 else -180.0  # leaving through +180 when going east
            lon1_unwrapped = lon1 + (360.0 if jump < 0 else -360.0)
            fraction = (edge - lon0) / (lon1_unwrapped - lon0)
            lat_cross = round(lat0 + fraction * (lat1 - lat0), 6)
            segments[-1].append((lat_cross, edge))
            segments.append([(lat_cross, -edge)])
        segments[-1].append((lat1, lon1))
    return segments


# --- routes -------------------------------------------------------------------------------------


@router.get("/session", response_model=SessionPublic, summary="The caller's role")
async def session(role: ViewerDep, services: ServicesDep) -> SessionPublic:
    return SessionPublic(
        role=role,
        mission=services.settings.mission,
        namespace=services.settings.namespace,
        may_command=role.allows(Role.OPERATOR),
        may_command_critical=role.allows(Role.ADMIN),
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@router.get(
    "/fleet",
    response_model=ListPublic[FleetMemberPublic],
    summary="Every satellite's latest state (live cache)",
)
async def fleet(_role: ViewerDep, services: ServicesDep) -> ListPublic[FleetMemberPublic]:
    members = []
    for obj in await services.directory.satellites():
        name = str(obj["metadata"]["name"])
        latest = services.telemetry.latest(name)
        channels = latest.channels if latest is not None else {}
        members.append(
            FleetMemberPublic(
                name=name,
                phase=(obj.get("status") or {}).get("phase"),
                mode=latest.mode if latest is not None else None,
                time=latest.time if latest is not None else None,
                lat_deg=_number(channels.get("orbit.lat_deg")),
                lon_deg=_number(channels.get("orbit.lon_deg")),
                alt_km=_number(channels.get("orbit.alt_km")),
                battery_soc_pct=_number(channels.get("power.battery_soc_pct")),
                storage_used_pct=_number(channels.get("obc.storage_used_pct")),
                fdir_latched=_flag(channels.get("obc.fdir_latched")),
                in_contact=_flag(channels.get("comms.in_contact")),
            )
        )
    members.sort(key=lambda m: m.name)
    return ListPublic[FleetMemberPublic](data=members, count=len(members))


@router.get(
    "/groundstations",
    response_model=ListPublic[GroundStationPublic],
    summary="The mission's ground stations and their visibility rings",
    responses=error_responses(409),
)
async def ground_stations(
    _role: ViewerDep,
    services: ServicesDep,
    altitude_km: Annotated[
        float,
        Query(
            alias="altitudeKm",
            ge=100,
            le=40_000,
            description="Satellite height the visibility ring is drawn for, km (100..40000).",
        ),
    ] = 520.0,
) -> ListPublic[GroundStationPublic]:
    items = []
    for obj in await services.directory.ground_stations():
        station = _station(obj)
        items.append(
            GroundStationPublic(
                name=station.name,
                latitude_deg=station.latitude_deg,
                longitude_deg=station.longitude_deg,
                altitude_m=station.altitude_m,
                min_elevation_deg=station.min_elevation_deg,
                band=(obj.get("spec") or {}).get("band"),
                visibility=visibility_ring(station, altitude_km),
            )
        )
    items.sort(key=lambda s: s.name)
    return ListPublic[GroundStationPublic](data=items, count=len(items))


@router.get(
    "/satellites/{sat}/track",
    response_model=TrackPublic,
    summary="Ground track around now (SGP4 from the Satellite's TLE)",
    responses=error_responses(404, 409),
)
async def track(
    _role: ViewerDep,
    obj: SatelliteDep,
    before_min: Annotated[
        float | None,
        Query(
            alias="beforeMin",
            ge=0,
            le=1440,
            description="Minutes of track before now (0..1440; default half an orbit).",
        ),
    ] = None,
    after_min: Annotated[
        float | None,
        Query(
            alias="afterMin",
            ge=0,
            le=1440,
            description="Minutes of track after now (0..1440; default one orbit).",
        ),
    ] = None,
    step_s: Annotated[
        float, Query(alias="stepS", ge=1, le=600, description="Seconds between points (1..600).")
    ] = 30.0,
) -> TrackPublic:
    name = str(obj["metadata"]["name"])
    try:
        tle = TleSpec.model_validate((obj.get("spec") or {}).get("tle") or {}).parsed(name)
    except ValidationError as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"spec.tle of satellite {name!r} is not usable: {_first_error(exc)}",
        ) from None
    period_min = 1440.0 / tle.mean_motion_rev_day
    before = period_min / 2.0 if before_min is None else before_min
    after = period_min if after_min is None else after_min
    count = (before + after) * 60.0 / step_s
    if count > MAX_TRACK_POINTS:
        raise field_error(
            ("query", "stepS"),
            f"{before + after:g} min at {step_s:g} s is {count:.0f} points; at most "
            f"{MAX_TRACK_POINTS} (take a longer step or a shorter window)",
            step_s,
        )
    now_ns = ns_from_datetime(datetime.now(UTC))
    start_ns = now_ns - round(before * 60.0 * 1e9)

    def compute() -> TrackPublic:
        grid = time_grid(start_ns, (before + after) * 60.0, step_s)
        path = propagate(tle, grid)
        here = propagate(tle, np.array([now_ns], dtype=np.int64))

        def point(t: Any, i: int) -> TrackPointPublic:
            return TrackPointPublic(
                time=format_rfc3339(datetime_from_ns(int(t.times_ns[i]))),
                lat_deg=round(float(t.lat_deg[i]), 4),
                lon_deg=round(float(t.lon_deg[i]), 4),
                alt_km=round(float(t.alt_km[i]), 3),
                sunlit=bool(t.sunlit[i]),
            )

        points = [point(path, i) for i in range(len(grid)) if path.error[i] == 0]
        segments = split_at_antimeridian([p.lat_deg for p in points], [p.lon_deg for p in points])
        return TrackPublic(
            satellite=name,
            start=format_rfc3339(datetime_from_ns(int(grid[0]))),
            stop=format_rfc3339(datetime_from_ns(int(grid[-1]))),
            step_s=step_s,
            points=points,
            segments=segments,
            now=point(here, 0),
        )

    # SGP4 over a few hundred instants is numpy work: keep it off the event loop.
    return await asyncio.to_thread(compute)


@router.get(
    "/plans",
    response_model=ListPublic[PlanPublic],
    summary="The mission's CommandPlans: resolved schedule and step states",
)
async def plans(_role: ViewerDep, services: ServicesDep) -> ListPublic[PlanPublic]:
    items = []
    objects = await services.directory.objects("commandplans")
    for name, obj in sorted(objects.items()):
        spec = obj.get("spec") or {}
        if (spec.get("missionRef") or {}).get("name") != services.settings.mission:
            continue
        st = obj.get("status") or {}
        items.append(
            PlanPublic(
                name=name,
                satellite=(spec.get("satelliteRef") or {}).get("name"),
                phase=st.get("phase"),
                start_time=st.get("startTime"),
                message=st.get("message"),
                on_failure=spec.get("onFailure"),
                schedule=list(st.get("schedule") or []),
                steps=list(spec.get("steps") or []),
            )
        )
    return ListPublic[PlanPublic](data=items, count=len(items))
