"""Reference frames: TEME (SGP4 output) → Earth-fixed → WGS84 geodetic, and topocentric look angles.

Vectorised over leading axes so the engine, pass prediction and the CLI share one implementation.
TEME → Earth-fixed is a rotation by Greenwich mean sidereal time (IAU-82, as in Vallado's
`gstime`) with UT1 taken as UTC and polar motion ignored: the TLE itself is good to ~1 km, while
DUT1 (< 0.9 s) moves a LEO ground point by < 0.42 km and polar motion by < 15 m.
Tests bound the difference from Skyfield, which applies both.

>>> import numpy as np
>>> lat, lon, alt = ecef_to_geodetic(np.array([6378.137, 0.0, 0.0]))
>>> float(lat), float(lon), round(float(alt), 9)
(0.0, 0.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
#: Earth rotation rate (rad/s), as used with TEME by Vallado.
EARTH_ROTATION_RAD_S = 7.292115146706979e-5
_TWO_PI = 2.0 * np.pi
#: What np.rad2deg multiplies by (a plain multiply is several times cheaper than the ufunc).
DEG_PER_RAD = 180.0 / math.pi
# Bowring's constants, folded once (the products are evaluated in the same order as written out).
_B_KM = WGS84_A_KM * (1.0 - WGS84_F)
_EP2_B_KM = WGS84_E2 / (1.0 - WGS84_E2) * _B_KM
_E2_A_KM = WGS84_E2 * WGS84_A_KM
_A2_KM2 = WGS84_A_KM * WGS84_A_KM


def gmst_rad(jd: FloatArray | float, fr: FloatArray | float) -> FloatArray:
    """Greenwich mean sidereal time (IAU-82) of a two-part Julian date, in radians 0..2π."""
    tut1 = ((jd - 2451545.0) + fr) / 36525.0  # floats stay (cheap) scalars
    seconds = (
        -6.2e-6 * tut1**3
        + 0.093104 * tut1**2
        + (876600.0 * 3600.0 + 8640184.812866) * tut1
        + 67310.54841
    )
    return np.asarray(np.mod(np.deg2rad(seconds / 240.0), _TWO_PI), dtype=np.float64)


def teme_to_ecef(
    r_teme_km: FloatArray,
    v_teme_km_s: FloatArray,
    gmst: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Rotate TEME position/velocity (…,3) into the Earth-fixed frame at sidereal angles `gmst`.

    The velocity is the Earth-relative one (ω×r removed), which is what range rate needs.
    """
    c = np.cos(gmst)
    s = np.sin(gmst)
    x, y, z = r_teme_km[..., 0], r_teme_km[..., 1], r_teme_km[..., 2]
    vx, vy, vz = v_teme_km_s[..., 0], v_teme_km_s[..., 1], v_teme_km_s[..., 2]
    xe = c * x + s * y
    ye = -s * x + c * y
    r = np.stack((xe, ye, z), axis=-1)
    vxe = c * vx + s * vy + EARTH_ROTATION_RAD_S * ye
    vye = -s * vx + c * vy - EARTH_ROTATION_RAD_S * xe
    v = np.stack((vxe, vye, vz), axis=-1)
    return r, v


def teme_to_ecef_columns(
    r_teme_km: FloatArray,
    v_teme_km_s: FloatArray,
    gmst: float,
) -> tuple[FloatArray, FloatArray]:
    """`teme_to_ecef` of N rows (N,3) that share one sidereal angle, returned as columns (3,N).

    The engine's per-step form: three small matrix products instead of a dozen element-wise
    passes, and rows x, y, z that are contiguous for everything downstream.
    """
    c, s = math.cos(gmst), math.sin(gmst)
    rotation = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    r = rotation @ r_teme_km.T
    v = rotation @ v_teme_km_s.T
    v[0] += EARTH_ROTATION_RAD_S * r[1]  # the Earth-relative velocity: − ω×r
    v[1] -= EARTH_ROTATION_RAD_S * r[0]
    return r, v


def ecef_to_geodetic(r_ecef_km: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """WGS84 geodetic latitude (deg), longitude (deg, −180..180) and height (km).

    Bowring's method iterated twice, without trigonometric calls inside the loop (the engine
    runs this for every satellite every second): sub-millimetre from the ground to GEO.
    The height formula stays well-conditioned at the poles.
    """
    x, y, z = r_ecef_km[..., 0], r_ecef_km[..., 1], r_ecef_km[..., 2]
    # sqrt(x² + y²) rather than hypot: no overflow is possible at planetary scales and it is
    # half the cost; both are within an ulp.
    p = np.sqrt(x * x + y * y)
    # Reduced latitude β from tan β = (a z) / (b p), carried as an unnormalised (cos, sin) pair.
    cos_b, sin_b = _B_KM * p, WGS84_A_KM * z
    for iteration in range(2):
        norm = np.sqrt(cos_b * cos_b + sin_b * sin_b)
        cb, sb = cos_b / norm, sin_b / norm
        num = z + _EP2_B_KM * sb * sb * sb
        den = p - _E2_A_KM * cb * cb * cb
        if iteration == 0:
            cos_b, sin_b = den, (1.0 - WGS84_F) * num  # tan β = (1 − f) tan φ
    norm = np.sqrt(num * num + den * den)
    sin_lat, cos_lat = num / norm, den / norm
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    alt = p * cos_lat + z * sin_lat - _A2_KM2 / n
    # φ = atan(num/den) while den > 0, which fails only on the polar axis itself and deep
    # inside the Earth; arctan costs half as much as arctan2.
    lat = np.arctan(num / den) if np.all(den > 0.0) else np.arctan2(num, den)
    return lat * DEG_PER_RAD, np.arctan2(y, x) * DEG_PER_RAD, alt


def geodetic_to_ecef(lat_deg: float, lon_deg: float, alt_km: float) -> FloatArray:
    """Earth-fixed position (km) of a point given in WGS84 geodetic coordinates."""
    lat = np.deg2rad(lat_deg)
    lon = np.deg2rad(lon_deg)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    return np.array(
        [
            (n + alt_km) * np.cos(lat) * np.cos(lon),
            (n + alt_km) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - WGS84_E2) + alt_km) * np.sin(lat),
        ]
    )


def enu_basis(lat_deg: float, lon_deg: float) -> FloatArray:
    """Rows: east, north, up unit vectors (Earth-fixed) at a geodetic point."""
    lat = np.deg2rad(lat_deg)
    lon = np.deg2rad(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


def look_angles(
    r_ecef_km: FloatArray,
    v_ecef_km_s: FloatArray,
    station_ecef_km: FloatArray,
    station_enu: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Elevation (deg), azimuth (deg, 0..360 from north), range (km), range rate (km/s)."""
    rho = r_ecef_km - station_ecef_km
    rng = np.sqrt(np.einsum("...i,...i->...", rho, rho))
    enu = rho @ station_enu.T
    elevation = np.rad2deg(np.arcsin(np.clip(enu[..., 2] / rng, -1.0, 1.0)))
    azimuth = np.mod(np.rad2deg(np.arctan2(enu[..., 0], enu[..., 1])), 360.0)
    range_rate = np.einsum("...i,...i->...", rho, v_ecef_km_s) / rng
    return elevation, azimuth, rng, range_rate
