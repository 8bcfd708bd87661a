"""Predicted passes per (orbit, station), shared by the Satellite and GroundStation status.

Pass prediction is the operator's costliest computation (about 10 ms per station-day). A
Satellite's next pass and a GroundStation's upcoming passes ask the same question about the same
pairs; without a shared answer, 1,000 satellites and two stations cost 40 s of CPU per refresh.
An entry is reused until it is `refresh_s` old; passes already over are filtered out on read.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from mpcs.orbit.passes import Pass, Station, predict_passes
from mpcs.orbit.tle import Tle


@dataclass(frozen=True)
class _Entry:
    computed_at: dt.datetime
    passes: tuple[Pass, ...]


class PassCache:
    """Thread-safe: predictions run in worker threads, side by side."""

    def __init__(self, *, horizon_s: float, refresh_s: float) -> None:
        self.horizon_s = horizon_s
        self.refresh_s = refresh_s
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
