"""`python -m mpcs.workloads.executor`: the executor as a process of its own (dev and tests).

In a deployment it runs inside the command service (`mpcs api serve`); this entry point reads the
same `MPCS_*` environment, logs JSON lines to stderr and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import sys

from mpcs.kit.logs import configure_logging
from mpcs.kit.service import run_service
from mpcs.kit.settings import SettingsError, load_settings
from mpcs.workloads.settings import WorkloadSettings

from .runner import run_executor


class Standalone:
    """The executor as a `mpcs.kit.service.Service`: `run()` until `stop()`."""

    def __init__(self, settings: WorkloadSettings) -> None:
        self.settings = settings
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await run_executor(self.settings, stop=self._stop)

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    try:
        settings = load_settings(WorkloadSettings)
    except SettingsError as exc:
        sys.exit(f"error: invalid executor settings: {exc}")
    configure_logging(settings.log_level)
    run_service(lambda: Standalone(settings))


if __name__ == "__main__":
    main()
