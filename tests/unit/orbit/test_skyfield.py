"""Orbit geometry against Skyfield (an independent implementation of the same reductions).

- Geodetic position over 7 days for three LEO element sets (target: within 1 km). Skyfield adds
  UT1−UTC (from its built-in IERS table) and polar motion; we take UT1 = UTC and no polar motion,
  so the residual is dominated by DUT1 × ground speed: < 0.9 s × 0.46 km/s ≈ 0.4 km.
- The sun: Skyfield needs a JPL ephemeris file to place the sun and this machine cannot download
  one, so the reference sun is IAU SOFA's `epv00` (via pyerfa, analytic VSOP2000-based, ~km
  accuracy), plugged into Skyfield's own `is_sunlit` as a two-body ephemeris. Our sun direction is
  checked against it directly too.
- Pass times against Skyfield's `find_events` (target: AOS/LOS within 5 s); passes over a
  horizon mask are checked in test_passes_mask.py.
"""

from __future__ import annotations

from typing import Any

import erfa
import numpy as np
import pytest
from skyfield.api import wgs84
from skyfield.vectorlib import VectorFunction
from utils.orbit import LEO_TLES, TOULOUSE, satellite, skyfield_times, unix

from mpcs.orbit.frames import geodetic_to_ecef
from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.sun import sun_position_km
from mpcs.orbit.timeutil import NS_PER_S, jday_array_from_ns, parse_time
from mpcs.orbit.tle import parse_tle
from mpcs.orbit.track import propagate, time_grid

GEODETIC_TOLERANCE_KM = 1.0
SUN_DIRECTION_TOLERANCE_DEG = 0.02
SHADOW_TIMING_TOLERANCE_S = 2.0
PASS_TIME_TOLERANCE_S = 5.0
MAX_ELEVATION_TOLERANCE_DEG = 0.1


def _epoch_start(text: str) -> int:
    """A start near the TLE epoch (where the elements are meant to be used)."""
    return (parse_tle(text).epoch_ns // (3600 * NS_PER_S)) * 3600 * NS_PER_S


@pytest.mark.parametrize("name", sorted(LEO_TLES))
def test_geodetic_position_within_1_km_of_skyfield_over_7_days(name: str) -> None:
    text = LEO_TLES[name]
    grid = time_grid(_epoch_start(text), 7 * 86_400, 600)
    ours = propagate(parse_tle(text), grid)
    where = wgs84.geographic_position_of(satellite(text).at(skyfield_times(grid)))
    ours_xyz = np.stack(
        [
            geodetic_to_ecef(a, o, h)
            for a, o, h in zip(ours.lat_deg, ours.lon_deg, ours.alt_km, strict=True)
        ]
    )
    theirs_xyz = np.stack(
        [
            geodetic_to_ecef(a, o, h)
            for a, o, h in zip(
                where.latitude.degrees, where.longitude.degrees, where.elevation.km, strict=True
            )
        ]
    )
    distance_km = np.linalg.norm(ours_xyz - theirs_xyz, axis=1)
    assert distance_km.max() < GEODETIC_TOLERANCE_KM, f"max {distance_km.max():.3f} km"
    # Heights agree far better than horizontal position (DUT1 only rotates the Earth).
    assert np.abs(ours.alt_km - where.elevation.km).max() < 0.005
    assert np.all((ours.lon_deg >= -180) & (ours.lon_deg < 180))


class _ErfaBody(VectorFunction):  # type: ignore[misc]
    """Sun or Earth, barycentric, from IAU SOFA epv00: an offline ephemeris for Skyfield."""

    center = 0

    def __init__(self, target: int) -> None:
        self.target = target

    def _at(self, t: Any) -> tuple[Any, Any, None, None]:
        pvh, pvb = erfa.epv00(t.whole, t.tdb_fraction)
        earth_p, earth_v = pvb["p"], pvb["v"]
        if self.target == 399:
            return earth_p.T, earth_v.T, None, None
        return (earth_p - pvh["p"]).T, (earth_v - pvh["v"]).T, None, None


ERFA_EPHEMERIS = {"sun": _ErfaBody(10), "earth": _ErfaBody(399)}


def test_sun_direction_against_sofa() -> None:
    grid = time_grid(parse_time("2000-01-01T00:00:00Z"), 50 * 365.25 * 86_400, 7.3 * 86_400)
    jd, fr = jday_array_from_ns(grid)
    ours = sun_position_km(jd, fr)
    pvh, _ = erfa.epv00(jd, fr + 69.184 / 86_400)  # TT ≈ UTC + 69 s; a minute moves the sun 0.0007°
    gcrs = -pvh["p"]
    of_date = np.einsum("nij,nj->ni", erfa.pmat06(jd, fr), gcrs)  # precess to mean of date
    cos = np.einsum("ni,ni->n", ours, of_date) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(of_date, axis=1)
    )
    error_deg = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert error_deg.max() < SUN_DIRECTION_TOLERANCE_DEG, f"max {error_deg.max():.4f} deg"
    ratio = np.linalg.norm(ours, axis=1) / (np.linalg.norm(gcrs, axis=1) * 149_597_870.7)
    assert np.abs(ratio - 1).max() < 1e-4


def _transitions(times_ns: np.ndarray, flags: np.ndarray) -> np.ndarray:
    change = np.flatnonzero(flags[1:] != flags[:-1])
    return times_ns[change + 1]


def _shadow_crossings(text: str, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Instants (ns) where the sunlit flag changes, ours and Skyfield's, on `grid`."""
    ours = propagate(parse_tle(text), grid).sunlit
    theirs = np.asarray(satellite(text).at(skyfield_times(grid)).is_sunlit(ERFA_EPHEMERIS))
    return _transitions(grid, ours), _transitions(grid, theirs)


@pytest.mark.parametrize("name", sorted(LEO_TLES))
def test_shadow_entry_and_exit_match_skyfield(name: str) -> None:
    text = LEO_TLES[name]
    coarse = time_grid(_epoch_start(text), 86_400, 20.0)
    ours_t, theirs_t = _shadow_crossings(text, coarse)
    assert ours_t.size == theirs_t.size >= 28  # ~15 orbits, one entry and one exit each
    assert np.abs(ours_t - theirs_t).max() <= 20 * NS_PER_S
    # Refine every crossing on a 0.25 s grid around it.
    for t in ours_t:
        fine = time_grid(int(t) - 30 * NS_PER_S, 40.0, 0.25)
        ours_fine, theirs_fine = _shadow_crossings(text, fine)
        assert ours_fine.size == theirs_fine.size == 1
        worst_s = abs(int(ours_fine[0]) - int(theirs_fine[0])) / NS_PER_S
        assert worst_s <= SHADOW_TIMING_TOLERANCE_S, f"crossing {worst_s} s apart"
    # Penumbra: illumination strictly between 0 and 1 only near the boundaries (~10 s each).
    lit = propagate(parse_tle(text), coarse).illumination
    partial = (lit > 0) & (lit < 1)
    assert partial.sum() <= ours_t.size


@pytest.mark.parametrize("name", sorted(LEO_TLES))
@pytest.mark.parametrize(
    "station",
    [
        TOULOUSE,
        Station(latitude_deg=78.23, longitude_deg=15.39, altitude_m=500.0, min_elevation_deg=10.0),
    ],
    ids=["toulouse", "svalbard"],
)
def test_passes_match_skyfield_find_events(name: str, station: Station) -> None:
    text = LEO_TLES[name]
    start = _epoch_start(text)
    duration = 3 * 86_400
    ours = predict_passes(parse_tle(text), station, start, duration)
    ends = skyfield_times(np.array([start, start + duration * NS_PER_S]))
    topos = wgs84.latlon(
        station.latitude_deg, station.longitude_deg, elevation_m=station.altitude_m
    )
    times, events = satellite(text).find_events(
        topos, ends[0], ends[1], altitude_degrees=station.min_elevation_deg
    )
    rises = [t for t, e in zip(times, events, strict=True) if e == 0]
    sets = [t for t, e in zip(times, events, strict=True) if e == 2]
    # Compare complete passes only (Skyfield reports no rise for a pass in progress at start).
    complete = [p for p in ours if not p.clipped]
    if station.latitude_deg > 70 and name != "cbers2":
        # ISS (51.6°) and DELTA 1 DEB (58.1°) never rise above 10° at 78° N; both agree.
        assert ours == []
        assert rises == []
        return
    assert len(complete) == len(rises) == len(sets) > 0
    for p, rise, set_ in zip(complete, rises, sets, strict=True):
        assert abs(p.aos_ns / NS_PER_S - unix(rise)) < PASS_TIME_TOLERANCE_S
        assert abs(p.los_ns / NS_PER_S - unix(set_)) < PASS_TIME_TOLERANCE_S
        assert p.aos_ns < p.tca_ns < p.los_ns
    culminations = [t for t, e in zip(times, events, strict=True) if e == 1]
    for p in complete:
        nearest = min(culminations, key=lambda t: abs(unix(t) - p.tca_ns / NS_PER_S))
        assert abs(unix(nearest) - p.tca_ns / NS_PER_S) < PASS_TIME_TOLERANCE_S
        alt, _, _ = (satellite(text) - topos).at(nearest).altaz()
        assert abs(alt.degrees - p.max_elevation_deg) < MAX_ELEVATION_TOLERANCE_DEG


def test_jday_grid_is_what_skyfield_uses() -> None:
    grid = time_grid(parse_time("2024-02-29T23:59:00Z"), 120, 60)
    sky = skyfield_times(grid)
    assert [round(unix(t)) for t in sky] == [int(g // NS_PER_S) for g in grid]
