"""Telemetry over HTTP: what `POST /api/v1/satellites/{sat}/telemetry` does with a body.

Ground stations and other external sources post telemetry messages (the Kafka schema,
`mpcs.core.telemetry`) for one satellite: one message, a JSON array of them, or NDJSON (one per
line), optionally `gzip`- or `zstd`-encoded (`Content-Encoding`). `decode_body` undoes the
encoding without ever holding more than the limit (a zip bomb is a 413, not a full memory);
`parse_batch` splits and validates every message with the one validator
(`mpcs.core.telemetry.validate_message`), plus the rule that a message's `satellite` is the one
in the path, and returns every message's problems, each naming its index and field.

A batch is taken whole or not at all: one bad message refuses the batch (422 listing the bad
ones) and nothing is produced. `TelemetrySink` produces an accepted batch to the mission's
telemetry topic, keyed by satellite, through its own idempotent producer (acks=all, zstd, the
topic's compression), so that a flood of telemetry never queues ahead of commands.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import cramjam
import orjson

from mpcs.core.telemetry import KAFKA_COMPRESSION, TelemetryError, validate_message
from mpcs.kit.backoff import Backoff
from mpcs.kit.kafka import KafkaClients, close_quietly

log = logging.getLogger("mpcs.workloads.api")

#: Media types of a posted body: JSON (one message or an array), or NDJSON (one per line).
JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
ENCODINGS = ("identity", "gzip", "zstd")
#: Errors listed in a 422 (their total is in `invalid`).
MAX_ERRORS_LISTED = 100
#: Bodies above this are decoded and validated in a worker thread, off the event loop.
THREAD_ABOVE_BYTES = 64 * 1024


class BodyRefused(Exception):
    """The body cannot be taken: `status` (400, 413, 415, 422) and a detail for the client."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def decode_body(body: bytes, *, encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, at most `limit` bytes (BodyRefused else).

    >>> decode_body(bytes(cramjam.gzip.compress(b"[1]")), encoding="gzip", limit=10)
    b'[1]'
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name in ("gzip", "x-gzip"):
        codec: Any = cramjam.gzip
    elif name == "zstd":
        codec = cramjam.zstd
    else:
        raise BodyRefused(
            415, f"Content-Encoding: {name[:40]!r} is not one of {', '.join(ENCODINGS)}"
        )
    # One byte more than the limit: filling it means the decoded body is over the limit.
    out = bytearray(limit + 1)
    try:
        size = int(codec.decompress_into(body, out))
    except cramjam.DecompressionError as exc:
        if "whole buffer" in str(exc):  # cramjam: the output did not fit
            raise BodyRefused(
                413, f"body: larger than {limit} bytes once decoded ({name}), the most accepted"
            ) from None
        raise BodyRefused(400, f"body: not valid {name} ({exc})") from None
    if size > limit:
        raise BodyRefused(
            413, f"body: larger than {limit} bytes once decoded ({name}), the most accepted"
        )
    return bytes(out[:size])


def _error(index: int, path: str, message: str) -> dict[str, Any]:
    loc: list[str | int] = ["body", index]
    if path and path != "$":
        loc += path.split(".")
    return {"type": "value_error", "loc": loc, "msg": message}


def media_type(content_type: str | None) -> str:
    """`application/json` of `application/json; charset=utf-8`; 415 for an unknown type."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in JSON_TYPES or kind in NDJSON_TYPES:
        return kind
    accepted = ", ".join(JSON_TYPES + NDJSON_TYPES)
    raise BodyRefused(415, f"Content-Type: {kind[:60]!r} is not one of {accepted}")


def split_messages(body: bytes, kind: str) -> list[Any | TelemetryError]:
    """The messages of a body: parsed JSON values, or the error of each that does not parse."""
    if kind in NDJSON_TYPES:
        items: list[Any | TelemetryError] = []
        for line in body.split(b"\n"):
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                items.append(TelemetryError("$", f"not JSON: {exc}"))
        return items
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyRefused(400, f"body: not JSON ({exc})") from None
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise BodyRefused(
        422,
        [
            {
                "type": "value_error",
                "loc": ["body"],
                "msg": "expected a telemetry message (a JSON object) or an array of them",
            }
        ],
    )


@dataclass
class Batch:
    """A validated batch: the messages, encoded as they go to Kafka."""

    values: list[bytes]


def parse_batch(body: bytes, *, kind: str, satellite: str) -> Batch:
    """Every message of `body` validated; BodyRefused(422) listing each bad one (index, field)."""
    items = split_messages(body, kind)
    if not items:
        raise BodyRefused(
            422, [{"type": "value_error", "loc": ["body"], "msg": "no telemetry message"}]
        )
    errors: list[dict[str, Any]] = []
    invalid = 0
    values: list[bytes] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, TelemetryError):
                raise item
            validate_message(item)
            if item["satellite"] != satellite:
                raise TelemetryError(
                    "satellite",
                    f"{item['satellite']!r} is not the satellite of the path ({satellite!r})",
                )
        except TelemetryError as exc:
            invalid += 1
            if len(errors) < MAX_ERRORS_LISTED:
                errors.append(_error(index, exc.path, exc.message))
            continue
        values.append(orjson.dumps(item))
    if invalid:
        raise BodyRefused(422, InvalidBatch(errors=errors, invalid=invalid, received=len(items)))
    return Batch(values=values)


@dataclass
class InvalidBatch:
    """A 422's detail: the first MAX_ERRORS_LISTED errors and the counts."""

    errors: list[dict[str, Any]]
    invalid: int
    received: int


async def read_batch(
    body: bytes, *, content_type: str | None, encoding: str | None, limit: int, satellite: str
) -> Batch:
    """decode_body + parse_batch, in a worker thread when the body is large."""
    kind = media_type(content_type)

    def work() -> Batch:
        decoded = decode_body(body, encoding=encoding, limit=limit)
        return parse_batch(decoded, kind=kind, satellite=satellite)

    if len(body) > THREAD_ABOVE_BYTES or (encoding or "identity").lower() != "identity":
        return await asyncio.to_thread(work)
    return work()


class SinkUnavailable(RuntimeError):
    """Kafka did not take the whole batch in time."""


class TelemetrySink:
    """The telemetry topic's producer (idempotent, acks=all); `run_start` retries until the
    broker answers, `send` is refused until then."""

    def __init__(self, *, kafka: KafkaClients, topic: str, timeout_s: float) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Any = None

    async def run_start(self) -> None:
        self._producer = await self.kafka.start(
            lambda: self.kafka.producer(
                name="telemetry-http",
                compression_type=KAFKA_COMPRESSION,
                linger_ms=5,
                request_timeout_ms=int(self.timeout_s * 1000),
                retry_backoff_ms=100,
            ),
            what="telemetry producer",
            backoff=Backoff(initial_s=0.5, max_s=5.0),
        )

    async def stop(self) -> None:
        if self._producer is not None:
            await close_quietly(self._producer)
            self._producer = None

    async def send(self, key: str, values: list[bytes]) -> None:
        """Produce every value (keyed by satellite) and wait until Kafka has them all."""
        producer = self._producer
        if producer is None:
            raise SinkUnavailable("Kafka is not reachable yet; nothing was taken, retry later")

        deliveries: list[asyncio.Future[Any]] = []

        async def produce() -> None:
            for value in values:
                deliveries.append(await producer.send(self.topic, value=value, key=key.encode()))
            await asyncio.gather(*deliveries)

        try:
            await asyncio.wait_for(produce(), timeout=self.timeout_s)
        except Exception as exc:
            for delivery in deliveries:
                delivery.add_done_callback(_retrieve)
            raise SinkUnavailable(
                f"Kafka did not take the whole batch within {self.timeout_s:g} s ({exc!r}); "
                "some of its messages may have been taken: send the batch again (a sample is "
                "identified by satellite and time, and stored once)"
            ) from None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a delivery's failure as seen (the batch's 503 already said so)."""
    if not future.cancelled():
        future.exception()
