"""The operator's two shared caches: predicted passes, and each satellite's newest stored sample.

Both answer questions that many reconciles ask at once (1,000 Satellites, a handful of stations
and missions). They live in the operator's `Services`, created at start-up, because Kopf gives
each object a shallow copy of the memo: a cache created lazily inside a handler is never shared.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass

import httpx

from mpcs.core import names
from mpcs.operator.influx_buckets import InfluxBuckets, InfluxError
from mpcs.orbit.passes import Pass, Station, predict_passes
from mpcs.orbit.tle import Tle


@dataclass(frozen=True)
class _Entry:
    computed_at: dt.datetime
    passes: tuple[Pass, ...]


class PassCache:
    """Predicted passes per (orbit, station), shared by Satellite and GroundStation status.

    Pass prediction is the operator's costliest computation (about 10 ms per station-day). A
    Satellite's next pass and a GroundStation's upcoming passes ask the same question about the
    same pairs; without a shared answer, 1,000 satellites and two stations cost 40 s of CPU per
    refresh. An entry is reused until it is `refresh_s` old; passes already over are dropped on
    read. Thread-safe: predictions run in worker threads, side by side.
    """

    def __init__(self, *, horizon_s: float, refresh_s: float) -> None:
        self.horizon_s = horizon_s
        self.refresh_s = refresh_s
        # The Station (its horizon mask included) is part of the key: an edited station is a
        # new question, never an old answer.
        self._entries: dict[tuple[str, str, Station], _Entry] = {}
        self._lock = threading.Lock()

    def upcoming(self, tle: Tle, station: Station, now: dt.datetime) -> list[Pass]:
        """Passes not yet over at `now`, soonest first, from within the prediction horizon."""
        key = (tle.line1, tle.line2, station)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or (now - entry.computed_at).total_seconds() > self.refresh_s:
            entry = _Entry(now, tuple(predict_passes(tle, station, now, self.horizon_s)))
            with self._lock:
                self._entries[key] = entry
                self._evict(now)
        return [p for p in entry.passes if p.los > now]

    def _evict(self, now: dt.datetime) -> None:
        """Drop entries nobody refreshed for two periods (a changed TLE or a deleted station)."""
        stale = [
            key
            for key, entry in self._entries.items()
            if (now - entry.computed_at).total_seconds() > 2 * self.refresh_s
        ]
        for key in stale:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class LastTelemetry:
    """Newest stored sample of each satellite: one InfluxDB query per mission per `ttl_s`.

    Single-flight: a burst of reconciles shares the one query in flight instead of each sending
    its own (1,000 new Satellites would otherwise send 1,000 identical queries).
    """

    def __init__(self, influx: InfluxBuckets, *, ttl_s: float = 5.0) -> None:
        self._influx = influx
        self._ttl_s = ttl_s
        self._queries: dict[tuple[str, str], tuple[float, asyncio.Future[dict[str, dt.datetime]]]]
        self._queries = {}

    async def of(self, namespace: str, mission: str, satellite: str) -> dt.datetime | None:
        """Time of the satellite's newest stored sample in the last hour, or None."""
        key = (namespace, mission)
        now = asyncio.get_running_loop().time()
        entry = self._queries.get(key)
        if entry is None or now - entry[0] > self._ttl_s:
            entry = (now, asyncio.ensure_future(self._query(namespace, mission)))
            self._queries[key] = entry
        times = await asyncio.shield(entry[1])
        return times.get(satellite)

    async def _query(self, namespace: str, mission: str) -> dict[str, dt.datetime]:
        try:
            return await self._influx.last_telemetry(names.bucket(namespace, mission))
        except (InfluxError, httpx.HTTPError):
            # No answer is "no telemetry seen": the condition says so and the next query retries.
            return {}
