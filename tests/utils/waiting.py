"""Waiting in async tests for what a server does in its own time (async `utils.kube.eventually`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually_async(
    check: Callable[[], Awaitable[Any]], *, timeout_s: float, what: str
) -> Any:
    """Await `check` every 0.25 s until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}; last: {last!r}")
