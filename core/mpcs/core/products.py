"""Payload products: the `product` event on a mission's events topic, and the PNG it carries.

The simulator runtime publishes one event per image a START_DOWNLINK brought down during a pass;
the archive (`mpcs.lambdas.archive.products`) stores each as a PNG and a JSON metadata object in
S3 (docs/archive.md#products). Both ends import this module, so the wire format is written once.

Wire format (JSON on `mpcs.<namespace>.<mission>.events`, keyed by satellite; version 1):

    {"version": 1, "type": "product", "satellite": "sat-a", "image_number": 3,
     "capture_time": "2025-03-01T12:00:00.000000000Z", "lat_deg": 48.1, "lon_deg": 11.6,
     "sun_elevation_deg": 31.5, "downlink_time": "2025-03-01T12:41:07.000000000Z",
     "station": "gs-munich", "width": 64, "height": 64, "size_bytes": 2231,
     "image_png_b64": "iVBORw0KGgo..."}

`image_number` counts the satellite's images since its simulator started; with `capture_time` it
names the product (`product_id`), so a redelivered event lands on the same S3 keys.

The PNG writer needs only zlib and struct: 8-bit greyscale, one IDAT chunk, filter 0 per row.

>>> png = encode_png_gray(width=2, height=1, pixels=bytes([0, 255]))
>>> png[:8] == PNG_SIGNATURE
True
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from mpcs.orbit.timeutil import format_time_ns, parse_time_ns

SCHEMA_VERSION = 1
EVENT_TYPE = "product"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Anything bigger is not one of our thumbnails (and would not fit a Kafka record comfortably).
MAX_IMAGE_BYTES = 512 * 1024


class ProductError(ValueError):
    """A product event that does not follow the schema; `path` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png_gray(*, width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit greyscale PNG of `pixels` (row-major, one byte per pixel)."""
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError(f"{len(pixels)} pixels do not make a {width}×{height} image")
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    raw = b"".join(b"\x00" + pixels[row * width : (row + 1) * width] for row in range(height))
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Product:
    """One downlinked image and what is known about it (times in UTC ns)."""

    satellite: str
    image_number: int
    capture_time_ns: int
    lat_deg: float
    lon_deg: float
    sun_elevation_deg: float
    downlink_time_ns: int
    station: str
    width: int
    height: int
    png: bytes

    @property
    def product_id(self) -> str:
        """`<capture time, ISO 8601 basic>-<image number>`: unique per satellite, S3-key safe.

        >>> Product("s", 7, 1_700_000_000_123_456_789, 0, 0, 0, 0, "", 1, 1, b"").product_id
        '20231114T221320.123456789Z-000007'
        """
        stamp = format_time_ns(self.capture_time_ns).replace("-", "").replace(":", "")
        return f"{stamp}-{self.image_number:06d}"

    def metadata(self) -> dict[str, Any]:
        """Everything but the image itself (the JSON object stored beside the PNG)."""
        return {
            "version": SCHEMA_VERSION,
            "type": EVENT_TYPE,
            "satellite": self.satellite,
            "image_number": self.image_number,
            "capture_time": format_time_ns(self.capture_time_ns),
            "lat_deg": self.lat_deg,
            "lon_deg": self.lon_deg,
            "sun_elevation_deg": self.sun_elevation_deg,
            "downlink_time": format_time_ns(self.downlink_time_ns),
            "station": self.station,
            "width": self.width,
            "height": self.height,
            "size_bytes": len(self.png),
        }

    def event(self) -> bytes:
        """The events-topic message (compact JSON)."""
        message = self.metadata()
        message["image_png_b64"] = base64.b64encode(self.png).decode("ascii")
        return orjson.dumps(message)


def is_product_event(message: Any) -> bool:
    """Whether a decoded events-topic message claims to be a product (others are not ours)."""
    return isinstance(message, dict) and message.get("type") == EVENT_TYPE


def _field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = message.get(name)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProductError(name, f"{value!r} is not of the expected type")
    if not isinstance(value, kind):
        raise ProductError(name, f"{value!r} is not of the expected type")
    return value


def parse_event(message: dict[str, Any]) -> Product:
    """The Product of a decoded `type: product` message; ProductError naming the field if bad."""
    if message.get("version") != SCHEMA_VERSION:
        raise ProductError("version", f"{message.get('version')!r} is not {SCHEMA_VERSION}")
    satellite = _field(message, "satellite", str)
    if not satellite or "/" in satellite:
        raise ProductError("satellite", f"{satellite!r} is not a satellite name")
    number = _field(message, "image_number", int)
    if number < 0:
        raise ProductError("image_number", f"{number} is negative")
    times = {}
    for name in ("capture_time", "downlink_time"):
        try:
            times[name] = parse_time_ns(_field(message, name, str))
        except ValueError as exc:
            raise ProductError(name, str(exc)) from None
    lat = float(_field(message, "lat_deg", (int, float)))
    lon = float(_field(message, "lon_deg", (int, float)))
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ProductError("lat_deg", f"({lat}, {lon}) is not a position on Earth")
    try:
        png = base64.b64decode(_field(message, "image_png_b64", str), validate=True)
    except binascii.Error as exc:
        raise ProductError("image_png_b64", f"not base64: {exc}") from None
    if not png.startswith(PNG_SIGNATURE) or len(png) > MAX_IMAGE_BYTES:
        raise ProductError("image_png_b64", f"not a PNG of at most {MAX_IMAGE_BYTES} bytes")
    return Product(
        satellite=satellite,
        image_number=number,
        capture_time_ns=times["capture_time"],
        lat_deg=lat,
        lon_deg=lon,
        sun_elevation_deg=float(_field(message, "sun_elevation_deg", (int, float))),
        downlink_time_ns=times["downlink_time"],
        station=_field(message, "station", str),
        width=_field(message, "width", int),
        height=_field(message, "height", int),
        png=png,
    )
