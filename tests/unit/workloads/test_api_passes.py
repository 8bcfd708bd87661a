"""`GET /api/v1/satellites/{sat}/passes` over a station with a horizon mask, against Skyfield.

The Kubernetes API is stubbed at the Directory's source (as in test_api_app.py); the passes
come from the route itself. The route predicts from the wall clock, so the satellite's elements
are given an epoch of today (SGP4 is meant for use near the epoch) and only windows that lie
wholly after the request are compared: Skyfield with the same mask, AOS/LOS within 5 s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_fakes import VIEWER, auth, make_services
from utils.orbit import ISS, skyfield_windows

from mpcs.core.resources import GroundStationSpec
from mpcs.orbit.timeutil import NS_PER_S
from mpcs.orbit.tle import tle_checksum
from mpcs.workloads.api import create_app
from mpcs.workloads.api.services import Services

PASS_TIME_TOLERANCE_S = 5.0
HOURS = 24.0
#: Toulouse with a 30° block from 340° through north to 20° (a wrap) and a 40° wall to the east
#: with a notch at 60°–70° (a gap): both cut ISS-like passes into several windows.
MASKED = {
    "latitudeDeg": 43.56,
    "longitudeDeg": 1.48,
    "altitudeM": 150,
    "horizonMask": [
        {"azimuthDeg": az, "elevationDeg": el}
        for az, el in (
            (330, 0),
            (340, 30),
            (20, 30),
            (30, 0),
            (55, 0),
            (58, 40),
            (60, 0),
            (70, 0),
            (75, 40),
            (120, 40),
            (125, 0),
        )
    ],
}
OPEN = {"latitudeDeg": 43.56, "longitudeDeg": 1.48, "altitudeM": 150}


def _iss_with_epoch_today() -> str:
    """The ISS elements with today's date as their epoch (new checksum)."""
    now = datetime.now(UTC)
    day = now.timetuple().tm_yday + (now.hour * 3600 + now.minute * 60) / 86_400
    _, line1, line2 = ISS.splitlines()
    body = f"{line1[:18]}{now.year % 100:02d}{day:012.8f}{line1[32:68]}"
    return f"{body}{tle_checksum(body)}\n{line2}"


def _services(tle: str, stations: dict[str, dict[str, Any]]) -> Services:
    line1, line2 = tle.splitlines()
    satellite = {"missionRef": {"name": "wildfire"}, "tle": {"line1": line1, "line2": line2}}
    return make_services(
        objects={
            "satellites": [{"metadata": {"name": "iss"}, "spec": satellite}],
            "missions": [
                {"metadata": {"name": "wildfire"}, "spec": {"groundStations": list(stations)}}
            ],
            "groundstations": [{"metadata": {"name": n}, "spec": s} for n, s in stations.items()],
        }
    )


async def _client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        yield http


async def _passes(tle: str, stations: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    async for client in _client(_services(tle, stations)):
        response = await client.get(
            "/api/v1/satellites/iss/passes", params={"hours": HOURS}, headers=auth(VIEWER)
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data
    raise AssertionError("no client")


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def test_passes_over_a_masked_station_match_skyfield() -> None:
    tle = _iss_with_epoch_today()
    before_s = time.time()
    passes = await _passes(tle, {"tls-masked": MASKED, "tls-open": OPEN})
    after_s = time.time()
    masked = [p for p in passes if p["station"] == "tls-masked"]
    station = GroundStationSpec.model_validate(MASKED).station("tls-masked")
    reference, (first_rise, last_set) = skyfield_windows(
        f"iss\n{tle}", station, int(before_s * NS_PER_S), HOURS * 3600
    )
    horizon_s = before_s + HOURS * 3600

    def comparable(aos: float, los: float) -> bool:
        # Skyfield's side holds only windows of passes complete within its span, and the API
        # predicts from its own "now", a moment after `before_s`.
        return max(after_s + 1, first_rise - 1) < aos and los < min(horizon_s - 1, last_set + 1)

    ours = [p for p in masked if not p["clipped"] and comparable(_unix(p["aos"]), _unix(p["los"]))]
    theirs = [w for w in reference if comparable(w.aos, w.los)]
    assert len(ours) == len(theirs) > 0
    for p, ref in zip(ours, theirs, strict=True):
        assert abs(_unix(p["aos"]) - ref.aos) < PASS_TIME_TOLERANCE_S
        assert abs(_unix(p["los"]) - ref.los) < PASS_TIME_TOLERANCE_S
    # The mask is applied: the same place without it sees fewer, longer windows.
    open_sky = [p for p in passes if p["station"] == "tls-open"]
    assert len(masked) > len(open_sky)
    assert sum(p["durationS"] for p in masked) < sum(p["durationS"] for p in open_sky)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"latitudeDeg": 43.56}, "longitudeDeg: Field required"),
        (
            OPEN | {"horizonMask": [{"azimuthDeg": 10, "elevationDeg": 95}]},
            "horizonMask.0.elevationDeg: Input should be less than or equal to 89",
        ),
    ],
)
async def test_an_unusable_station_is_a_conflict_naming_the_field(
    spec: dict[str, Any], fragment: str
) -> None:
    async for client in _client(_services(_iss_with_epoch_today(), {"broken": spec})):
        response = await client.get("/api/v1/satellites/iss/passes", headers=auth(VIEWER))
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert "ground station 'broken'" in detail
        assert fragment in detail
