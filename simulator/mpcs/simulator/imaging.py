"""The payload camera: a downlinked image rendered as a small greyscale PNG (a product).

Called by `Spacecraft.take_products` when the runtime publishes what a START_DOWNLINK brought
down. Pure and deterministic: the picture is a function of where the camera looked (footprint
centre), the sun there, the satellite's seed key and the image number, never of the wall clock.

The ground is the same for every image of the same place and seed: a height field of a few
plane waves over latitude/longitude (phases and wave numbers drawn from the seed key), with water
below a level and brighter land higher up; the sun's elevation scales the radiance (night is
dark), and a little sensor noise, drawn from the seed key and the image number, is added.
"""

from __future__ import annotations

import math

import numpy as np

from mpcs.core.products import Product, encode_png_gray

from .engine.state import DownlinkedImage

#: Pixels per side of a product.
SIZE_PX = 64
#: Side of the imaged square (latitude; longitude widened by 1/cos φ), about 55 km.
FOOTPRINT_DEG = 0.5
_WAVES = 6
_WATER_LEVEL = -0.25
_WATER_ALBEDO = 0.06
_LAND_ALBEDO = (0.12, 0.35)  # lowest and highest ground
_GAIN = 2.6  # radiance of albedo 1 under a zenith sun, in full scale
_NOISE_DN = 1.5  # 1-sigma of the sensor noise, digital numbers


def render_pixels(
    *,
    lat_deg: float,
    lon_deg: float,
    sun_elevation_deg: float,
    seed_key: int,
    number: int,
    size: int = SIZE_PX,
) -> bytes:
    """Row-major 8-bit pixels, north up, of the footprint centred on (lat, lon)."""
    terrain = np.random.default_rng(seed_key)
    cycles_per_deg = terrain.uniform(1.0, 14.0, size=(_WAVES, 2)) * terrain.choice(
        [-1.0, 1.0], size=(_WAVES, 2)
    )
    phases = terrain.uniform(0.0, 2.0 * math.pi, size=_WAVES)
    half = FOOTPRINT_DEG / 2.0
    lat = lat_deg + np.linspace(half, -half, size)[:, None]
    widen = 1.0 / max(math.cos(math.radians(lat_deg)), 0.1)
    lon = lon_deg + np.linspace(-half, half, size)[None, :] * widen
    height = np.zeros((size, size))
    for (k_lat, k_lon), phase in zip(cycles_per_deg, phases, strict=True):
        height += np.sin(2.0 * math.pi * (k_lat * lat + k_lon * lon) + phase)
    height /= math.sqrt(_WAVES / 2.0)  # unit variance
    low, high = _LAND_ALBEDO
    land = low + (high - low) * np.clip((height - _WATER_LEVEL) / 2.0, 0.0, 1.0)
    albedo = np.where(height < _WATER_LEVEL, _WATER_ALBEDO, land)
    sun = max(math.sin(math.radians(sun_elevation_deg)), 0.0)
    sensor = np.random.default_rng([seed_key, number])
    dn = 255.0 * np.minimum(albedo * _GAIN * sun, 1.0) + sensor.normal(0.0, _NOISE_DN, albedo.shape)
    return bytes(np.clip(np.rint(dn + 2.0), 0, 255).astype(np.uint8).tobytes())


def render_product(satellite: str, item: DownlinkedImage, *, seed_key: int) -> Product:
    """The product of one downlinked image: its metadata and its PNG."""
    image = item.image
    pixels = render_pixels(
        lat_deg=image.lat_deg,
        lon_deg=image.lon_deg,
        sun_elevation_deg=image.sun_elevation_deg,
        seed_key=seed_key,
        number=image.number,
    )
    return Product(
        satellite=satellite,
        image_number=image.number,
        capture_time_ns=image.time_ns,
        lat_deg=image.lat_deg,
        lon_deg=image.lon_deg,
        sun_elevation_deg=image.sun_elevation_deg,
        downlink_time_ns=item.time_ns,
        station=item.station,
        width=SIZE_PX,
        height=SIZE_PX,
        png=encode_png_gray(width=SIZE_PX, height=SIZE_PX, pixels=pixels),
    )
