"""Reference element sets, stations, and Skyfield as the independent judge of our orbit maths.

Shared by the orbit tests (tests/unit/orbit), the simulator's CLI tests and the API's passes
tests, so that every place that reports a pass is checked against the same reference the same way.

Skyfield loads offline here: `load.timescale()` uses its built-in UT1 and leap-second tables, and
nothing below needs a JPL ephemeris.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from skyfield.api import EarthSatellite, load, wgs84

from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import NS_PER_S, datetime_from_ns
from mpcs.orbit.tle import tle_checksum

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

TS = load.timescale()  # built-in UT1/leap-second tables: no download


def _line(number: int, body: str) -> str:
    line = f"{number} {body}"
    assert len(line) == 68, (len(line), line)
    return line + str(tle_checksum(line))


@st.composite
def leo_tles(draw: st.DrawFn) -> str:
    """Random but valid LEO element sets (the shape CelesTrak publishes)."""
    satnum = draw(st.integers(1, 99_999))
    year = draw(st.integers(0, 40))
    day = draw(st.floats(1.0, 365.0, allow_nan=False))
    inc = draw(st.floats(0.0, 180.0))
    raan = draw(st.floats(0.0, 359.9999))
    ecc = draw(st.integers(0, 200_000))  # e < 0.02
    argp = draw(st.floats(0.0, 359.9999))
    anomaly = draw(st.floats(0.0, 359.9999))
    mean_motion = draw(st.floats(12.0, 16.2))  # ~300..1700 km
    bstar = draw(st.integers(0, 99_999))
    l1 = _line(
        1,
        f"{satnum:05d}U 20001A   {year:02d}{day:012.8f}  .00000000  00000-0  {bstar:05d}-4 0  999",
    )
    l2 = _line(
        2,
        f"{satnum:05d} {inc:8.4f} {raan:8.4f} {ecc:07d} {argp:8.4f} {anomaly:8.4f} "
        f"{mean_motion:11.8f}    1",
    )
    return f"{l1}\n{l2}"


def satellite(text: str) -> EarthSatellite:
    """Skyfield's satellite for a TLE text (2 or 3 lines)."""
    lines = text.splitlines()
    return EarthSatellite(lines[-2], lines[-1], lines[0] if len(lines) == 3 else None, TS)


def skyfield_times(times_ns: np.ndarray) -> Any:
    """Skyfield times for UTC nanoseconds, as offsets from the first (no leap second between)."""
    seconds = (times_ns - times_ns[0]) / NS_PER_S
    start = datetime_from_ns(int(times_ns[0]))
    return TS.utc(
        start.year, start.month, start.day, start.hour, start.minute, start.second + seconds
    )


def unix(t: Any) -> float:
    """Seconds since 1970 (UTC) of one Skyfield time."""
    return float(t.utc_datetime().timestamp())


def reference_min_elevation(
    horizon_mask: Sequence[tuple[float, float]], min_elevation_deg: float, azimuth_deg: float
) -> float:
    """The usable elevation at one azimuth, written out point by point (not `mpcs.orbit`'s).

    The mask is a ring of (azimuth, elevation) points joined by straight lines, the last one to
    the first through north; the result is never below `min_elevation_deg`.
    """
    if not horizon_mask:
        return min_elevation_deg
    ring = sorted((az % 360.0, el) for az, el in horizon_mask)
    az = azimuth_deg % 360.0
    before = next(((a, e) for a, e in reversed(ring) if a <= az), (ring[-1][0] - 360, ring[-1][1]))
    after = next(((a, e) for a, e in ring if a >= az), (ring[0][0] + 360, ring[0][1]))
    if after[0] == before[0]:
        mask = before[1]
    else:
        mask = before[1] + (after[1] - before[1]) * (az - before[0]) / (after[0] - before[0])
    return max(mask, min_elevation_deg)


class Window(NamedTuple):
    """A stretch of time above the usable sky: AOS and LOS (Unix s), highest elevation (deg)."""

    aos: float
    los: float
    max_elevation_deg: float


_STEP_S = 0.1


def skyfield_windows(
    text: str, station: Station, start_ns: int, duration_s: float
) -> tuple[list[Window], tuple[float, float]]:
    """Skyfield's windows above `station`'s usable sky (its horizon mask included).

    Skyfield's `find_events` at the station's minimum elevation finds the passes (the mask never
    lowers the usable sky below it); within each complete pass the satellite's altitude and
    azimuth are sampled every 0.1 s, and every sign change of altitude − usable elevation
    (`reference_min_elevation`) is bisected to a millisecond. A window's highest elevation is the
    highest of its samples and its two ends. Also returns the span from the first complete pass's
    rise to the last one's set: only windows inside it are comparable.
    """
    sat = satellite(text)
    topos = wgs84.latlon(
        station.latitude_deg, station.longitude_deg, elevation_m=station.altitude_m
    )
    end_ns = start_ns + int(duration_s * NS_PER_S)
    ends = skyfield_times(np.array([start_ns, end_ns]))
    times, events = sat.find_events(
        topos, ends[0], ends[1], altitude_degrees=station.min_elevation_deg
    )
    passes: list[tuple[float, float]] = []
    rise: float | None = None
    for t, event in zip(times, events, strict=True):
        if event == 0:
            rise = unix(t)
        elif event == 2 and rise is not None:
            passes.append((rise, unix(t)))
            rise = None
    if not passes:
        return [], (0.0, 0.0)
    origin_ns = start_ns
    origin = datetime.fromtimestamp(origin_ns / NS_PER_S, tz=UTC)

    def look(unix_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Altitude − usable elevation, and altitude (deg)."""
        offsets = unix_s - origin_ns / NS_PER_S
        t = TS.utc(
            origin.year,
            origin.month,
            origin.day,
            origin.hour,
            origin.minute,
            origin.second + origin.microsecond / 1e6 + offsets,
        )
        alt, az, _ = (sat - topos).at(t).altaz()
        usable = [
            reference_min_elevation(station.horizon_mask, station.min_elevation_deg, a)
            for a in az.degrees
        ]
        return np.asarray(alt.degrees - np.array(usable)), np.asarray(alt.degrees)

    # Two seconds beyond each end the satellite is below the minimum elevation, so below the mask.
    # Sampled every 0.1 s: a narrow spike of the mask can hide a satellite for well under a second.
    samples = np.concatenate([np.arange(r - 2.0, s + 2.0, _STEP_S) for r, s in passes])
    margin, altitude = look(samples)
    up = margin >= 0.0
    edges = np.flatnonzero((up[1:] != up[:-1]) & (np.diff(samples) < 1.5 * _STEP_S))
    lo, hi = samples[edges], samples[edges + 1]
    rising = ~up[edges]
    for _ in range(7):  # 0.1 s / 2⁷ < 1 ms
        mid = (lo + hi) / 2.0
        towards_hi = (look(mid)[0] >= 0.0) == rising
        lo, hi = np.where(towards_hi, lo, mid), np.where(towards_hi, mid, hi)
    crossings = (lo + hi) / 2.0
    at_crossings = look(crossings)[1]
    aos, los = crossings[rising], crossings[~rising]
    assert aos.size == los.size, "every window must open and close"
    assert np.all(aos < los), "windows must open before they close"
    windows = []
    for a, b, el_a, el_b in zip(aos, los, at_crossings[rising], at_crossings[~rising], strict=True):
        inside = altitude[(samples > a) & (samples < b)]
        highest = max(el_a, el_b, float(inside.max()) if inside.size else -90.0)
        windows.append(Window(aos=float(a), los=float(b), max_elevation_deg=float(highest)))
    return windows, (passes[0][0], passes[-1][1])
