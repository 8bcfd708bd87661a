"""The latest telemetry message of each satellite, and live fan-out to WebSocket clients (pure).

Fed by the service's telemetry consumer (no consumer group, from the newest offsets: every replica
sees every message); `GET …/telemetry/latest` answers from here without a database round trip and
falls back to InfluxDB for a satellite the service has not heard from since it started.

A subscriber gets a bounded queue; when it reads too slowly the oldest messages are dropped
(counted), never the producer or the other subscribers held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mpcs.core.names import SUBSYSTEM_MEASUREMENTS
from mpcs.orbit.timeutil import parse_time_ns


@dataclass(frozen=True)
class Latest:
    """A satellite's newest message, flattened to `subsystem.channel` → value."""

    satellite: str
    time: str
    time_ns: int
    seq: int
    mode: str
    channels: dict[str, Any]
    raw: bytes


def flatten(message: dict[str, Any]) -> dict[str, Any]:
    """`{"power": {"battery_soc_pct": 80}}` → `{"power.battery_soc_pct": 80}`.

    >>> flatten({"power": {"a": 1}, "obc": {"b": True}})
    {'power.a': 1, 'obc.b': True}
    """
    return {
        f"{sub}.{name}": value
        for sub in SUBSYSTEM_MEASUREMENTS
        for name, value in (message.get(sub) or {}).items()
    }


class TelemetryCache:
    def __init__(self, *, queue_size: int = 256, on_drop: Callable[[], None] | None = None) -> None:
        self._latest: dict[str, Latest] = {}
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._queue_size = queue_size
        self._on_drop = on_drop

    def latest(self, satellite: str) -> Latest | None:
        return self._latest.get(satellite)

    def update(self, message: dict[str, Any], raw: bytes) -> bool:
        """Keep `message` if it is the satellite's newest; publish it to subscribers either way.

        Returns whether it became the latest (an older, re-delivered sample does not).
        """
        satellite = str(message["satellite"])
        time_ns = parse_time_ns(message["time"])
        current = self._latest.get(satellite)
        newest = current is None or time_ns >= current.time_ns
        if newest:
            self._latest[satellite] = Latest(
                satellite=satellite,
                time=str(message["time"]),
                time_ns=time_ns,
                seq=int(message["seq"]),
                mode=str(message["mode"]),
                channels=flatten(message),
                raw=raw,
            )
        for queue in self._subscribers.get(satellite, ()):
            if queue.full():
                queue.get_nowait()
                if self._on_drop is not None:
                    self._on_drop()
            queue.put_nowait(raw)
        return newest

    def subscribe(self, satellite: str) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.setdefault(satellite, set()).add(queue)
        return queue

    def unsubscribe(self, satellite: str, queue: asyncio.Queue[bytes]) -> None:
        subscribers = self._subscribers.get(satellite)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[satellite]

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
