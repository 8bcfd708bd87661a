"""Exponential backoff, the one retry rhythm of every MPCS process.

Whatever a process waits for — a Kafka broker, InfluxDB, the Kubernetes API — it retries soon
after a first failure and ever less often while the outage lasts, up to a ceiling, so a short
blip costs little latency and a long outage costs the dependency little load.

>>> backoff = Backoff(initial_s=0.5, max_s=2.0)
>>> [backoff.next_delay() for _ in range(4)]
[0.5, 1.0, 2.0, 2.0]
>>> backoff.reset(); backoff.next_delay()
0.5
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff: `initial_s`, times `factor` per failure, at most `max_s`.

    `next_delay()` after each failure, `reset()` after a success; `wait()` sleeps the next delay
    but returns early when the process is asked to stop.
    """

    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    _next_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"initial_s: {self.initial_s} must be > 0 and <= max_s ({self.max_s})")
        if self.factor < 1:
            raise ValueError(f"factor: {self.factor} must be >= 1")
        self._next_s = self.initial_s

    def next_delay(self) -> float:
        """The delay before the next attempt (grows with each call)."""
        delay = self._next_s
        self._next_s = min(delay * self.factor, self.max_s)
        return delay

    def reset(self) -> None:
        """Start again from `initial_s` (after a success)."""
        self._next_s = self.initial_s

    async def wait(self, stop: asyncio.Event | None = None) -> float:
        """Sleep the next delay, or until `stop` is set; returns the delay."""
        delay = self.next_delay()
        await sleep(delay, stop)
        return delay


async def sleep(delay_s: float, stop: asyncio.Event | None = None) -> None:
    """`asyncio.sleep(delay_s)` that ends early once `stop` is set."""
    if stop is None:
        await asyncio.sleep(delay_s)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
