"""Builders of the simulator unit tests: Satellite specs (the core model) and a spacecraft.

The element sets and the station come from `utils.orbit`, shared with the orbit tests.
"""

from __future__ import annotations

from typing import Any

from utils.orbit import CBERS2, DELTA1_DEB, ISS, LEO_TLES, TOULOUSE

from mpcs.core.resources import SatelliteSpec
from mpcs.orbit.passes import Station
from mpcs.simulator import Spacecraft

__all__ = [
    "CBERS2",
    "DELTA1_DEB",
    "ISS",
    "LEO_TLES",
    "TOULOUSE",
    "make_craft",
    "satellite_spec",
    "spec_dict",
]


def spec_dict(tle: str = ISS, **simulator: Any) -> dict[str, Any]:
    """A Satellite spec as the CRD carries it (camelCase)."""
    lines = tle.splitlines()[-2:]
    return {
        "missionRef": {"name": "test-mission"},
        "tle": {"line1": lines[0], "line2": lines[1]},
        "telemetryIntervalSeconds": 10,
        "bus": {"batteryWh": 80, "solarW": 60, "massKg": 20},
        "simulator": {"seed": 7, **simulator},
    }


def satellite_spec(tle: str = ISS, **simulator: Any) -> SatelliteSpec:
    """`spec_dict` parsed by the Satellite model."""
    return SatelliteSpec.model_validate(spec_dict(tle, **simulator))


def make_craft(
    *, start: str = "2008-09-20T12:00:00Z", stations: list[Station] | None = None, **simulator: Any
) -> Spacecraft:
    """ISS-orbit spacecraft over Toulouse unless told otherwise."""
    return Spacecraft(
        "sat-1",
        satellite_spec(**simulator),
        start=start,
        stations=[TOULOUSE] if stations is None else stations,
    )
