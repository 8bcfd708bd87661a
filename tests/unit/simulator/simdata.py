"""Shared data and builders of the simulator unit tests: real TLEs, specs, a station."""

from __future__ import annotations

from typing import Any

from mpcs.orbit.passes import Station
from mpcs.simulator import Spacecraft

#: ISS (ZARYA), the classic example element set (CelesTrak documentation, 2008-09-20).
ISS = (
    "ISS (ZARYA)\n"
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927\n"
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
)
#: A sun-synchronous LEO (CBERS 2) and a moderate-drag LEO (DELTA 1 DEB), both from Vallado's
#: SGP4 verification set (SGP4-VER.TLE, shipped with the sgp4 package).
CBERS2 = (
    "CBERS 2\n"
    "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836\n"
    "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550"
)
DELTA1_DEB = (
    "DELTA 1 DEB\n"
    "1 06251U 62025E   06176.82412014  .00008885  00000-0  12808-3 0  3985\n"
    "2 06251  58.0579  54.0425 0030035 139.1568 221.1854 15.56387291  6774"
)
LEO_TLES = {"iss": ISS, "cbers2": CBERS2, "delta1deb": DELTA1_DEB}

#: Mid-latitude station that ISS-like orbits see several times a day.
TOULOUSE = Station(
    latitude_deg=43.56, longitude_deg=1.48, altitude_m=150.0, min_elevation_deg=5.0, name="tls"
)


def spec_dict(tle: str = ISS, **simulator: Any) -> dict[str, Any]:
    """A Satellite spec dict as the CRD would carry it."""
    lines = tle.splitlines()[-2:]
    return {
        "tle": {"line1": lines[0], "line2": lines[1]},
        "telemetryIntervalSeconds": 10,
        "bus": {"batteryWh": 80, "solarW": 60, "massKg": 20},
        "simulator": {"seed": 7, **simulator},
    }


def make_craft(
    *, start: str = "2008-09-20T12:00:00Z", stations: list[Station] | None = None, **simulator: Any
) -> Spacecraft:
    """ISS-orbit spacecraft over Toulouse unless told otherwise."""
    return Spacecraft(
        "sat-1",
        spec_dict(**simulator),
        start=start,
        stations=[TOULOUSE] if stations is None else stations,
    )
