"""`/api/v1/satellites`: the mission's Satellite objects and their passes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import ValidationError

from mpcs.core.resources import GroundStationSpec, TleSpec
from mpcs.orbit.passes import Station, predict_passes

from ..deps import SatelliteDep, ServicesDep, ViewerDep
from ..models import (
    ListPublic,
    NextPassPublic,
    PassPublic,
    SatellitePublic,
    SatelliteSummary,
    TlePublic,
    error_responses,
)

router = APIRouter(prefix="/api/v1/satellites", tags=["satellites"], responses=error_responses(401))


def _next_pass(status_: dict[str, Any]) -> NextPassPublic | None:
    raw = status_.get("nextPass")
    if not isinstance(raw, dict):
        return None
    try:
        return NextPassPublic(
            station=str(raw["station"]),
            aos=raw["aos"],
            los=raw["los"],
            max_elevation_deg=float(raw.get("maxElevationDeg", 0.0)),
        )
    except (KeyError, ValueError, TypeError):
        return None


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    return {
        "name": obj["metadata"]["name"],
        "mission": (spec.get("missionRef") or {}).get("name", ""),
        "norad_id": spec.get("noradId"),
        "phase": st.get("phase"),
        "telemetry_interval_seconds": spec.get("telemetryIntervalSeconds"),
        "simulator_enabled": bool((spec.get("simulator") or {}).get("enabled", True)),
        "next_pass": _next_pass(st),
        "last_telemetry_time": st.get("lastTelemetryTime"),
    }


@router.get("", response_model=ListPublic[SatelliteSummary], summary="Satellites of the mission")
async def list_satellites(_role: ViewerDep, services: ServicesDep) -> ListPublic[SatelliteSummary]:
    items = [SatelliteSummary(**summary(o)) for o in await services.directory.satellites()]
    return ListPublic[SatelliteSummary](data=items, count=len(items))


@router.get(
    "/{sat}",
    response_model=SatellitePublic,
    summary="One satellite: spec summary and status",
    responses=error_responses(404),
)
async def get_satellite(_role: ViewerDep, obj: SatelliteDep) -> SatellitePublic:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    tle = spec.get("tle") or {}
    return SatellitePublic(
        **summary(obj),
        tle=TlePublic(line1=tle["line1"], line2=tle["line2"]) if "line1" in tle else None,
        bus=dict(spec.get("bus") or {}),
        simulator=dict(spec.get("simulator") or {}),
        orbit=st.get("orbit"),
        conditions=list(st.get("conditions") or []),
        message=st.get("message"),
    )


@router.get(
    "/{sat}/passes",
    response_model=ListPublic[PassPublic],
    summary="Passes over the mission's ground stations in the next hours",
    responses=error_responses(404, 409),
)
async def list_passes(
    _role: ViewerDep,
    services: ServicesDep,
    obj: SatelliteDep,
    hours: Annotated[
        float,
        Query(ge=0.01, le=168, description="Prediction window from now, hours (0.01..168)."),
    ] = 24.0,
) -> ListPublic[PassPublic]:
    name = obj["metadata"]["name"]
    try:
        tle = TleSpec.model_validate((obj.get("spec") or {}).get("tle") or {}).parsed(name)
    except ValidationError as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"spec.tle of satellite {name!r} is not usable: {_first_error(exc)}",
        ) from None
    stations = [_station(gs) for gs in await services.directory.ground_stations()]
    start = datetime.now(UTC)

    def predict() -> list[PassPublic]:
        found = []
        for station in stations:
            for p in predict_passes(tle, station, start, hours * 3600.0):
                found.append(
                    PassPublic(
                        station=station.name,
                        aos=p.aos,
                        tca=p.tca,
                        los=p.los,
                        max_elevation_deg=round(p.max_elevation_deg, 3),
                        duration_s=round(p.duration_s, 3),
                        clipped=p.clipped,
                    )
                )
        return sorted(found, key=lambda p: p.aos)

    # Pass prediction is numpy work of tens of milliseconds: keep it off the event loop.
    passes = await asyncio.to_thread(predict)
    return ListPublic[PassPublic](data=passes, count=len(passes))


def _station(obj: dict[str, Any]) -> Station:
    """A GroundStation object as the orbit maths sees it (its horizon mask included)."""
    name = str(obj["metadata"]["name"])
    try:
        return GroundStationSpec.model_validate(obj.get("spec") or {}).station(name)
    except ValidationError as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"spec of ground station {name!r} is not usable: {_first_error(exc)}",
        ) from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
