"""Product events: the PNG writer reads back pixel for pixel, an event round-trips, a bad one is
named by field, other events are left alone, and storing a redelivered product writes nothing."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest
from utils.png import read_gray_png

from mpcs.core.products import Product, ProductError, encode_png_gray, parse_event
from mpcs.lambdas.archive.products import decode, store_product
from mpcs.orbit.timeutil import parse_time_ns

CAPTURED = parse_time_ns("2025-03-01T12:00:00.25Z")


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put_once(self, key: str, body: bytes, *, content_type: str) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = (body, content_type)
        return True


def product(**changes: Any) -> Product:
    pixels = bytes((x * 4 + y) % 256 for y in range(16) for x in range(16))
    values: dict[str, Any] = {
        "satellite": "sat-a",
        "image_number": 12,
        "capture_time_ns": CAPTURED,
        "lat_deg": 43.6,
        "lon_deg": 1.44,
        "sun_elevation_deg": 31.5,
        "downlink_time_ns": CAPTURED + 600_000_000_000,
        "station": "tls",
        "width": 16,
        "height": 16,
        "png": encode_png_gray(width=16, height=16, pixels=pixels),
    }
    values.update(changes)
    return Product(**values)


def test_the_png_reads_back_pixel_for_pixel() -> None:
    pixels = bytes(range(256)) * 3
    image = read_gray_png(encode_png_gray(width=32, height=24, pixels=pixels))
    assert (image.width, image.height) == (32, 24)
    assert image.pixels == pixels


def test_the_png_writer_refuses_a_wrong_pixel_count() -> None:
    with pytest.raises(ValueError, match="do not make a 4×4 image"):
        encode_png_gray(width=4, height=4, pixels=bytes(15))


def test_an_event_round_trips() -> None:
    original = product()
    assert decode(original.event()) == original
    assert original.product_id == "20250301T120000.250000000Z-000012"


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"version": 1, "type": "command"}', b"[1, 2]", b'"product"'],
)
def test_other_events_on_the_topic_are_not_products(payload: bytes) -> None:
    assert decode(payload) is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"version": 2}, "version"),
        ({"satellite": ""}, "satellite"),
        ({"satellite": "a/b"}, "satellite"),
        ({"image_number": -1}, "image_number"),
        ({"image_number": True}, "image_number"),
        ({"capture_time": "noon"}, "capture_time"),
        ({"lat_deg": 91.0}, "lat_deg"),
        ({"lat_deg": "north"}, "lat_deg"),
        ({"image_png_b64": "***"}, "image_png_b64"),
        ({"image_png_b64": base64.b64encode(b"GIF89a").decode()}, "image_png_b64"),
        ({"station": None}, "station"),
    ],
)
def test_a_bad_product_is_named_by_field(change: dict[str, Any], path: str) -> None:
    message = orjson.loads(product().event())
    message.update(change)
    with pytest.raises(ProductError) as error:
        parse_event(message)
    assert error.value.path == path


def test_a_product_is_stored_once_png_then_metadata() -> None:
    store = MemoryStore()
    first = store_product(store, "ops", "wildfire", product())  # type: ignore[arg-type]
    assert first.png_key == "products/ops/wildfire/sat-a/20250301T120000.250000000Z-000012.png"
    assert first.json_key == first.png_key.removesuffix(".png") + ".json"
    assert (first.png_written, first.json_written) == (True, True)
    assert list(store.objects) == [first.png_key, first.json_key]
    png, png_type = store.objects[first.png_key]
    assert png_type == "image/png"
    assert read_gray_png(png).width == 16
    body, json_type = store.objects[first.json_key]
    metadata = orjson.loads(body)
    assert json_type == "application/json"
    assert metadata["image_key"] == first.png_key
    assert metadata["sha256"] == hashlib.sha256(png).hexdigest()
    assert metadata["size_bytes"] == len(png)
    assert (metadata["lat_deg"], metadata["lon_deg"], metadata["station"]) == (43.6, 1.44, "tls")
    assert metadata["capture_time"] == "2025-03-01T12:00:00.250000000Z"
    assert "image_png_b64" not in metadata
    again = store_product(store, "ops", "wildfire", decode(product().event()))  # type: ignore[arg-type]
    assert (again.png_written, again.json_written) == (False, False)
    assert store.objects[first.png_key][0] is png
