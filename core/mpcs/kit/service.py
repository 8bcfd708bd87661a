"""How a long-running MPCS process runs its service: until SIGTERM, then a clean stop.

Kubernetes stops a pod with SIGTERM (and a developer with Ctrl-C); each service then flushes what
it holds (telemetry buffers, uncommitted batches, a plan step) before it exits, so both signals
call the service's `stop()` and `run()` returns once it has finished. The simulator, the ingest
and the standalone executor all start this way.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable
from typing import Protocol


class Service(Protocol):
    """A process's main object: `run()` until `stop()` is called."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


def run_service(make: Callable[[], Service]) -> None:
    """Build the service inside a new event loop, run it, stop it on SIGTERM/SIGINT."""

    async def main() -> None:
        service = make()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop)
        # What was built so far (the service, every imported module) lives as long as the
        # process: keep it out of the cyclic GC's full collections, which would otherwise scan it
        # all again and again (tens of ms on the event loop each time: a command's p99 latency).
        gc.freeze()
        await service.run()

    asyncio.run(main())
