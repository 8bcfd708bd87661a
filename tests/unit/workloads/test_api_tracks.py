"""What the web console reads: session, fleet, ground stations with visibility rings, ground tracks.

The geometry (visibility ring, antimeridian cut) is checked in physical units; the routes on the
in-memory adapters (api_fakes). Serving the console itself is in test_console_serving.py.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx
import orjson
import pytest
from api_fakes import ADMIN, DEFAULT_OBJECTS, OPERATOR, VIEWER, auth, make_services

from mpcs.core.telemetry import CHANNELS
from mpcs.orbit.passes import Station
from mpcs.workloads.api import create_app
from mpcs.workloads.api.routes.tracks import (
    EARTH_RADIUS_KM,
    split_at_antimeridian,
    visibility_ring,
)
from mpcs.workloads.api.services import Services


def _great_circle_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


# --- geometry -----------------------------------------------------------------------------------


def test_visibility_ring_is_at_the_central_angle_of_the_minimum_elevation() -> None:
    station = Station(latitude_deg=45.0, longitude_deg=10.0, altitude_m=0, min_elevation_deg=10.0)
    alt_km = 600.0
    e = math.radians(10.0)
    expected_deg = math.degrees(
        math.acos(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + alt_km) * math.cos(e)) - e
    )
    ring = visibility_ring(station, alt_km)
    assert len(ring) == 72
    for lat, lon in ring:
        # 0.01° of arc is ~1 km on the ground
        assert _great_circle_deg(45.0, 10.0, lat, lon) == pytest.approx(expected_deg, abs=0.01)


def test_visibility_ring_follows_the_horizon_mask() -> None:
    masked = Station(
        latitude_deg=0.0,
        longitude_deg=0.0,
        altitude_m=0,
        min_elevation_deg=0.0,
        horizon_mask=((0.0, 0.0), (90.0, 30.0), (180.0, 0.0), (270.0, 0.0)),
    )
    ring = dict(zip(range(0, 360, 5), visibility_ring(masked, 500.0), strict=True))
    north = _great_circle_deg(0, 0, *ring[0])
    east = _great_circle_deg(0, 0, *ring[90])
    assert east < north - 10.0  # a 30° wall to the east shrinks the ring by more than 10° of arc


def test_a_ring_around_the_pole_is_closed_along_the_pole() -> None:
    svalbard = Station(
        latitude_deg=78.2297, longitude_deg=15.4077, altitude_m=500, min_elevation_deg=5.0
    )
    ring = visibility_ring(svalbard, 520.0)
    assert ring[-1][0] == 90.0
    assert ring[-2][0] == 90.0
    lons = [lon for _, lon in ring]
    assert max(lons) - min(lons) == pytest.approx(360.0, abs=0.01)
    steps = [abs(b - a) for a, b in itertools.pairwise(lons[:-2])]
    assert max(steps) < 30.0  # continuous longitudes: no jump across the antimeridian


def test_track_is_cut_at_the_antimeridian_with_interpolated_ends() -> None:
    lats = [10.0, 11.0, 12.0, 13.0]
    lons = [178.0, -179.0, -176.0, 179.0]  # east across +180, then west back across it
    segments = split_at_antimeridian(lats, lons)
    assert segments == [
        [(10.0, 178.0), (10.666667, 180.0)],
        [(10.666667, -180.0), (11.0, -179.0), (12.0, -176.0), (12.8, -180.0)],
        [(12.8, 180.0), (13.0, 179.0)],
    ]
    assert split_at_antimeridian([], []) == []


# --- routes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "role", "may", "critical"),
    [
        (VIEWER, "viewer", False, False),
        (OPERATOR, "operator", True, False),
        (ADMIN, "admin", True, True),
    ],
)
async def test_session_names_the_role_and_what_it_may_do(
    client: httpx.AsyncClient, token: str, role: str, may: bool, critical: bool
) -> None:
    body = (await client.get("/api/v1/session", headers=auth(token))).json()
    assert body == {
        "role": role,
        "mission": "wildfire",
        "namespace": "ops",
        "mayCommand": may,
        "mayCommandCritical": critical,
    }
    assert (await client.get("/api/v1/session")).status_code == 401


def _sample() -> dict[str, Any]:
    sample: dict[str, Any] = {
        "version": 1,
        "satellite": "firewatch-1",
        "time": "2025-06-01T12:00:01.000000000Z",
        "seq": 1,
        "mode": "PAYLOAD",
    }
    defaults = {"float": 1.0, "int": 1, "bool": False, "str": ""}
    for channel in CHANNELS:
        sample.setdefault(channel.subsystem, {})[channel.name] = defaults[channel.type]
    sample["orbit"]["lat_deg"] = -12.5
    sample["power"]["battery_soc_pct"] = 64.0
    sample["obc"]["fdir_latched"] = True
    return sample


async def test_fleet_has_every_satellite_of_the_mission_with_its_latest_state(
    client: httpx.AsyncClient, services: Services
) -> None:
    empty = (await client.get("/api/v1/fleet", headers=auth(VIEWER))).json()
    assert empty["count"] == 1
    assert empty["data"][0]["name"] == "firewatch-1"
    assert empty["data"][0]["mode"] is None  # no telemetry yet
    services.on_telemetry(_sample(), orjson.dumps(_sample()))
    member = (await client.get("/api/v1/fleet", headers=auth(VIEWER))).json()["data"][0]
    assert member["mode"] == "PAYLOAD"
    assert member["latDeg"] == -12.5
    assert member["batterySocPct"] == 64.0
    assert member["fdirLatched"] is True
    assert member["inContact"] is False


async def test_ground_stations_with_rings_for_the_height_asked(client: httpx.AsyncClient) -> None:
    body = (
        await client.get("/api/v1/groundstations", params={"altitudeKm": 800}, headers=auth(VIEWER))
    ).json()
    assert [s["name"] for s in body["data"]] == ["svalbard"]
    station = body["data"][0]
    assert station["latitudeDeg"] == 78.2297
    assert station["visibility"][-1][0] == 90.0  # Svalbard sees over the pole at 800 km
    bad = await client.get("/api/v1/groundstations", params={"altitudeKm": 5}, headers=auth(VIEWER))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "altitudeKm"]


async def test_ground_track_spans_an_orbit_and_never_jumps(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/satellites/firewatch-1/track", params={"stepS": 60}, headers=auth(VIEWER)
    )
    assert response.status_code == 200
    body = response.json()
    # default: half an orbit before now and one after, of a ~95 min orbit, a point a minute
    assert 140 <= len(body["points"]) <= 145
    assert all(-180.0 <= p["lonDeg"] <= 180.0 for p in body["points"])
    assert body["points"][0]["time"] < body["now"]["time"] < body["points"][-1]["time"]
    # a 97.5° orbit over 1.5 revolutions crosses the antimeridian at least once
    assert len(body["segments"]) >= 2
    for segment in body["segments"]:
        lons = [lon for _, lon in segment]
        assert all(abs(b - a) < 180.0 for a, b in itertools.pairwise(lons))
    assert max(abs(p["latDeg"]) for p in body["points"]) == pytest.approx(82.5, abs=1.0)


async def test_ground_track_refuses_too_many_points(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/satellites/firewatch-1/track",
        params={"beforeMin": 1440, "afterMin": 1440, "stepS": 1},
        headers=auth(VIEWER),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "stepS"]
    missing = await client.get("/api/v1/satellites/nope/track", headers=auth(VIEWER))
    assert missing.status_code == 404


async def test_plans_of_the_mission_with_their_schedule() -> None:
    step = {"name": "ping", "command": "PING", "scheduledAt": "2025-06-01T12:00:00Z"}
    plan = {
        "metadata": {"name": "image-fire-front"},
        "spec": {
            "missionRef": {"name": "wildfire"},
            "satelliteRef": {"name": "firewatch-1"},
            "steps": [{"name": "ping", "command": "PING"}],
        },
        "status": {"phase": "Running", "schedule": [{**step, "state": "executed"}]},
    }
    other = {"metadata": {"name": "theirs"}, "spec": {"missionRef": {"name": "other"}}}
    services = make_services(objects={**DEFAULT_OBJECTS, "commandplans": [plan, other]})
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        body = (await client.get("/api/v1/plans", headers=auth(VIEWER))).json()
    assert body["count"] == 1
    found = body["data"][0]
    assert found["name"] == "image-fire-front"
    assert found["satellite"] == "firewatch-1"
    assert found["phase"] == "Running"
    assert found["schedule"][0]["state"] == "executed"
