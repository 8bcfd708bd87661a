"""Turning Kafka records into write batches: conversion, DLQ decisions and when to seal a batch.

Pure logic (no I/O) used by `mpcs.workloads.ingest.service`:

- `convert(record)` validates one record (a fast path on the raw bytes, then orjson +
  `mpcs.core.telemetry.validate_message`) and encodes it to line protocol, or returns the DLQ
  record naming why it cannot be stored;
- `BatchBuilder` accumulates converted records — a whole fetch at a time through `add_fetch`,
  whose common case is one native call and three list extends — until the batch holds
  `max_points` points or its first record is `linger_s` old, then `seal()`s it into a `Batch`;
- a `Batch` carries the line-protocol body, the DLQ records, and per partition the offset to commit
  once InfluxDB has accepted the body (the highest offset seen + 1, Kafka's convention).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from mpcs.core.telemetry import TelemetryError, validate_message
from mpcs.kit.lineprotocol import LineProtocolError

from .dlq import dlq_record
from .lineprotocol import (
    channel_values_per_message,
    encode_if_valid,
    encode_message,
    encode_raw_if_valid,
    encode_raw_many,
    points_per_message,
)

POINTS_PER_MESSAGE = points_per_message()
CHANNEL_VALUES_PER_MESSAGE = channel_values_per_message()


class KafkaRecord(Protocol):
    """The parts of a Kafka record the ingest uses (to commit, to dead-letter, to measure).

    aiokafka's `ConsumerRecord` has them, so fetched records are kept as they come, with no
    per-record copy.
    """

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int | None:
        """Milliseconds since the epoch (Kafka's record timestamp)."""


def convert(record: KafkaRecord) -> tuple[bytes | None, dict[str, Any] | None]:
    """(line protocol, None) for a storable record, (None, DLQ record) for any other.

    `encode_raw_if_valid` takes the common case straight from the payload's bytes, then
    `encode_if_valid` from the parsed JSON; anything neither vouches for is judged by
    `mpcs.core.telemetry.validate_message`, whose error names the field for the DLQ.
    """
    if record.value is not None:
        lines = encode_raw_if_valid(record.value)
        if lines is not None:
            return lines, None
    try:
        if record.value is None:
            raise TelemetryError("$", "empty message (no value)")
        try:
            message = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            raise TelemetryError("$", f"not JSON: {exc}") from None
        lines = encode_if_valid(message)
        if lines is None:
            validate_message(message)
            lines = encode_message(message)
    except (TelemetryError, LineProtocolError) as exc:
        return None, reject(record, field=exc.path, reason=exc.message)
    except (TypeError, ValueError, OverflowError) as exc:
        # The validator itself tripped over a pathological value (e.g. an unhashable mode or an
        # integer too large for a float): still the message's fault, still not the consumer's.
        return None, reject(record, field="$", reason=f"invalid message: {exc!r}")
    return lines, None


def reject(record: KafkaRecord, *, field: str, reason: str) -> dict[str, Any]:
    """The DLQ record for `record`."""
    return dlq_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        timestamp_ms=record.timestamp,
        field=field,
        reason=reason,
    )


@dataclass
class Batch:
    """A sealed batch: write `body()`, send `dlq`, then commit `offsets`."""

    lines: list[bytes]
    sources: list[KafkaRecord]
    dlq: list[dict[str, Any]]
    offsets: dict[tuple[str, int], int]
    first_at: float
    sealed_at: float
    seq: int = 0  # sealing order (0, 1, 2, …): offsets are committed in this order
    #: Kafka timestamp (ms) of the oldest record added, for the freshness metric.
    oldest_ms: int | None = None

    @property
    def messages(self) -> int:
        """Kafka records covered (valid and dead-lettered)."""
        return len(self.lines) + len(self.dlq)

    @property
    def points(self) -> int:
        return len(self.lines) * POINTS_PER_MESSAGE

    @property
    def channel_values(self) -> int:
        return len(self.lines) * CHANNEL_VALUES_PER_MESSAGE

    def body(self) -> bytes:
        return b"".join(self.lines)


@dataclass
class BatchBuilder:
    """Accumulates converted records; `full`/`due` say when to `seal()`."""

    max_points: int
    linger_s: float
    clock: Callable[[], float] = time.monotonic
    _lines: list[bytes] = field(default_factory=list)
    _sources: list[KafkaRecord] = field(default_factory=list)
    _dlq: list[dict[str, Any]] = field(default_factory=list)
    _offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    _first_at: float | None = None
    _oldest_ms: int | None = None
    _sealed: int = 0

    def add(self, record: KafkaRecord, lines: bytes | None, dlq: dict[str, Any] | None) -> None:
        """Add one converted record (exactly one of `lines` and `dlq` is set)."""
        if (lines is None) == (dlq is None):
            raise ValueError("a record is either stored (lines) or dead-lettered (dlq)")
        if self._first_at is None:
            self._first_at = self.clock()
        if lines is not None:
            self._lines.append(lines)
            self._sources.append(record)
        elif dlq is not None:
            self._dlq.append(dlq)
        self._seen(record, record)

    def add_fetch(self, records: Sequence[KafkaRecord]) -> None:
        """Convert and add the records of one partition from one fetch (in offset order).

        The native fast path converts the whole fetch in one call; only the records it does not
        vouch for go through `convert` one by one.
        """
        if not records:
            return
        if self._first_at is None:
            self._first_at = self.clock()
        converted = encode_raw_many([r.value for r in records])
        if None in converted:
            for record, lines in zip(records, converted, strict=True):
                if lines is None:  # rare: the JSON path and, if need be, the authority
                    self.add(record, *convert(record))
                    continue
                self._lines.append(lines)
                self._sources.append(record)
        else:
            self._lines.extend(converted)  # type: ignore[arg-type]  # no None, checked above
            self._sources.extend(records)
        self._seen(records[0], records[-1])

    def _seen(self, first: KafkaRecord, last: KafkaRecord) -> None:
        """Note the offset to commit for `last`'s partition and the oldest timestamp."""
        tp = (last.topic, last.partition)
        if last.offset + 1 > self._offsets.get(tp, -1):
            self._offsets[tp] = last.offset + 1
        stamp = first.timestamp
        if stamp is not None and (self._oldest_ms is None or stamp < self._oldest_ms):
            self._oldest_ms = stamp

    @property
    def empty(self) -> bool:
        return self._first_at is None

    @property
    def points(self) -> int:
        return len(self._lines) * POINTS_PER_MESSAGE

    @property
    def full(self) -> bool:
        return self.points >= self.max_points

    def time_left(self) -> float | None:
        """Seconds until the linger expires; None while empty."""
        if self._first_at is None:
            return None
        return max(0.0, self._first_at + self.linger_s - self.clock())

    @property
    def due(self) -> bool:
        """Full, or not empty and lingered long enough."""
        left = self.time_left()
        return self.full or (left is not None and left <= 0.0)

    def seal(self) -> Batch:
        """The accumulated batch; the builder starts empty again."""
        if self._first_at is None:
            raise ValueError("nothing to seal")
        batch = Batch(
            lines=self._lines,
            sources=self._sources,
            dlq=self._dlq,
            offsets=self._offsets,
            first_at=self._first_at,
            sealed_at=self.clock(),
            seq=self._sealed,
            oldest_ms=self._oldest_ms,
        )
        self._sealed += 1
        self._lines, self._sources, self._dlq, self._offsets = [], [], [], {}
        self._first_at = self._oldest_ms = None
        return batch
