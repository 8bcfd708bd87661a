"""Payload products from a mission's events topic into S3: the PNG and its JSON metadata.

The simulator runtime publishes one `product` event (`mpcs.core.products`) per downlinked image;
`mpcs lambdas run-archive` consumes the events topic and hands each event here. The keys come from
the product id (capture time and image number), so a redelivered event names the same objects:
both are written with a conditional PUT and a second delivery stores nothing (docs/archive.md).
The PNG goes first and the JSON, which points at it, second: a JSON object always has its image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from mpcs.core.products import Product, ProductError, is_product_event, parse_event

from .layout import product_key
from .store import ArchiveStore


@dataclass(frozen=True)
class StoredProduct:
    """Where a product went, and whether this call stored each object (False: already there)."""

    png_key: str
    json_key: str
    png_written: bool
    json_written: bool


def decode(payload: bytes) -> Product | None:
    """The product of an events-topic payload; None for the topic's other events.

    ProductError (naming the field) for a payload that claims to be a product and is not one.
    """
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None  # not ours to judge: the events topic carries other producers' messages
    if not is_product_event(message):
        return None
    return parse_event(message)


def metadata_document(product: Product, *, png_key: str) -> dict[str, Any]:
    """The JSON object stored beside the image."""
    document = product.metadata()
    document["image_key"] = png_key
    document["sha256"] = hashlib.sha256(product.png).hexdigest()
    return document


def store_product(
    store: ArchiveStore, namespace: str, mission: str, product: Product
) -> StoredProduct:
    """Write a product's PNG, then its metadata, each only where nothing is yet."""
    png_key = product_key(namespace, mission, product.satellite, product.product_id, "png")
    json_key = product_key(namespace, mission, product.satellite, product.product_id, "json")
    png_written = store.put_once(png_key, product.png, content_type="image/png")
    body = orjson.dumps(metadata_document(product, png_key=png_key), option=orjson.OPT_INDENT_2)
    json_written = store.put_once(json_key, body, content_type="application/json")
    return StoredProduct(
        png_key=png_key, json_key=json_key, png_written=png_written, json_written=json_written
    )


__all__ = ["ProductError", "StoredProduct", "decode", "metadata_document", "store_product"]
