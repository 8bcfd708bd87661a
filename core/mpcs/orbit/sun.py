"""Sun position and the Earth's shadow (umbra and penumbra).

The sun direction comes from the Astronomical Almanac's low-precision formulae (Vallado,
"Fundamentals of Astrodynamics", algorithm 29), good to 0.01° from 1950 to 2050: ample for power
and thermal, and the shadow-boundary timing error it causes is well under a second in LEO. The
shadow is the conical model of Montenbruck & Gill (§3.4.2): the fraction of the solar disc not
hidden by the Earth, seen from the spacecraft.

>>> import numpy as np
>>> s = sun_position_km(np.array(2451545.0), np.array(0.0))  # J2000
>>> round(float(np.linalg.norm(s) / AU_KM), 4)
0.9833
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

AU_KM = 149_597_870.7
SUN_RADIUS_KM = 696_000.0
#: Radius of the spherical Earth used for the shadow (WGS84 equatorial, as Skyfield uses).
EARTH_SHADOW_RADIUS_KM = 6378.137
_ONES3 = np.ones(3)


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot product over the last axis, as matrix products (einsum is slower for (N,3))."""
    product: FloatArray = a @ b if b.ndim == 1 else (a * b) @ _ONES3
    return product


def _clip(x: FloatArray, low: float, high: float) -> FloatArray:
    """np.clip without its Python-level argument handling (a few µs a call)."""
    clipped: FloatArray = np.minimum(np.maximum(x, low), high)
    return clipped


def sun_position_km(jd: FloatArray | float, fr: FloatArray | float) -> FloatArray:
    """Geocentric sun position (…,3) in km, mean equator and equinox of date (≈ TEME to ~20")."""
    t = ((jd - 2451545.0) + fr) / 36525.0  # floats stay (cheap) scalars
    mean_long = np.deg2rad(np.mod(280.460 + 36000.771 * t, 360.0))
    mean_anom = np.deg2rad(np.mod(357.5291092 + 35999.05034 * t, 360.0))
    ecl_long = mean_long + np.deg2rad(
        1.914666471 * np.sin(mean_anom) + 0.019994643 * np.sin(2.0 * mean_anom)
    )
    obliquity = np.deg2rad(23.439291 - 0.0130042 * t)
    dist = (
        1.000140612 - 0.016708617 * np.cos(mean_anom) - 0.000139589 * np.cos(2.0 * mean_anom)
    ) * AU_KM
    xyz = (
        dist * np.cos(ecl_long),
        dist * np.cos(obliquity) * np.sin(ecl_long),
        dist * np.sin(obliquity) * np.sin(ecl_long),
    )
    return np.array(xyz) if np.ndim(t) == 0 else np.stack(xyz, axis=-1)


def illumination(r_sat_km: FloatArray, r_sun_km: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Visible fraction of the solar disc (0 umbra … 1 full sun) and whether its centre is visible.

    `sunlit` (centre visible) is the flag telemetry reports; it matches Skyfield's `is_sunlit`,
    which tests the line to the sun's centre against a spherical Earth. Classification compares
    cosines, so only satellites inside the penumbra pay for the overlap-area formula.
    """
    # |s − r|² and r·(s − r) expanded into dot products: the same values to an ulp (|s| ≫ |r|),
    # without forming s − r, which costs a slow row-broadcast for one shared sun vector.
    rr = _dot(r_sat_km, r_sat_km)
    rs = _dot(r_sat_km, r_sun_km)
    d_sun = np.sqrt(_dot(r_sun_km, r_sun_km) - 2.0 * rs + rr)
    d_earth = np.sqrt(rr)
    sin_a = np.minimum(SUN_RADIUS_KM / d_sun, 1.0)  # apparent sun radius a
    sin_b = np.minimum(EARTH_SHADOW_RADIUS_KM / d_earth, 1.0)  # apparent Earth radius b
    cos_a = np.sqrt(1.0 - sin_a * sin_a)
    cos_b = np.sqrt(1.0 - sin_b * sin_b)
    cos_c = (rr - rs) / (d_earth * d_sun)  # angle between the centres, seen from the satellite
    cos_ab, sin_ab = cos_b * cos_a, sin_b * sin_a
    full = cos_c <= cos_ab - sin_ab  # c >= a + b
    umbra = cos_c >= cos_ab + sin_ab  # c <= b - a (b > a in Earth orbit)
    fraction = np.array(full, dtype=np.float64)  # 1.0 or 0.0 (0-d for one position)
    partial = np.flatnonzero(full == umbra)  # neither (they never both hold)
    if partial.size:
        a = np.arcsin(sin_a.reshape(-1)[partial] if sin_a.ndim else sin_a)
        b = np.arcsin(sin_b.reshape(-1)[partial])
        c = np.arccos(_clip(cos_c.reshape(-1)[partial], -1.0, 1.0))
        x = (c * c + a * a - b * b) / (2.0 * c)
        y = np.sqrt(np.maximum(a * a - x * x, 0.0))
        area = (
            a * a * np.arccos(_clip(x / a, -1.0, 1.0))
            + b * b * np.arccos(_clip((c - x) / b, -1.0, 1.0))
            - c * y
        )
        flat = fraction.reshape(-1)
        flat[partial] = _clip(1.0 - area / (np.pi * a * a), 0.0, 1.0)
    return fraction, cos_c < cos_b


def beta_angle_deg(r_km: FloatArray, v_km_s: FloatArray, sun_km: FloatArray) -> FloatArray:
    """Sun elevation above the orbit plane (deg): drives eclipse length and thermal environment."""
    h = np.cross(r_km, v_km_s)
    h_norm = np.sqrt(_dot(h, h))
    s_norm = np.sqrt(_dot(sun_km, sun_km))
    sin_beta = _dot(h, sun_km) / (h_norm * s_norm)
    beta: FloatArray = np.rad2deg(np.arcsin(np.clip(sin_beta, -1.0, 1.0)))
    return beta
