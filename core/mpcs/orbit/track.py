"""Ground track: geodetic position, speed and sunlight of one satellite over a time grid.

Behind `mpcs sim propagate`, and the function the Skyfield comparison tests exercise, so the
numbers an ops engineer reads are the numbers that were checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .frames import ecef_to_geodetic, gmst_rad, teme_to_ecef
from .sun import illumination, sun_position_km
from .timeutil import NS_PER_S, jday_array_from_ns
from .tle import Tle

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Track:
    """Arrays over the time grid (one entry per instant)."""

    times_ns: npt.NDArray[np.int64]
    lat_deg: FloatArray
    lon_deg: FloatArray
    alt_km: FloatArray
    speed_km_s: FloatArray
    sunlit: npt.NDArray[np.bool_]
    illumination: FloatArray
    error: npt.NDArray[np.uint8]


def time_grid(start_ns: int, duration_s: float, step_s: float) -> npt.NDArray[np.int64]:
    """start, start+step, … up to and including start+duration (when it falls on the grid)."""
    if step_s <= 0:
        raise ValueError(f"step must be positive, got {step_s} s")
    if duration_s < 0:
        raise ValueError(f"duration must be >= 0, got {duration_s} s")
    count = int(np.floor(duration_s / step_s + 1e-9)) + 1
    offsets = np.round(np.arange(count) * step_s * NS_PER_S).astype(np.int64)
    return start_ns + offsets


def propagate(tle: Tle, times_ns: npt.NDArray[np.int64]) -> Track:
    """SGP4 → Earth-fixed → WGS84 geodetic, plus the shadow, at every instant."""
    jd, fr = jday_array_from_ns(times_ns)
    err, r, v = tle.satrec.sgp4_array(jd, fr)
    r_ecef, _ = teme_to_ecef(r, v, gmst_rad(jd, fr))
    lat, lon, alt = ecef_to_geodetic(r_ecef)
    lit_fraction, sunlit = illumination(r, sun_position_km(jd, fr))
    return Track(
        times_ns=times_ns,
        lat_deg=lat,
        lon_deg=np.where(lon >= 180.0, lon - 360.0, lon),
        alt_km=alt,
        speed_km_s=np.linalg.norm(v, axis=-1),
        sunlit=sunlit,
        illumination=lit_fraction,
        error=err,
    )
