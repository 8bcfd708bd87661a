"""The command API application: `create_app(settings)` (what `mpcs api serve` runs).

The lifespan starts the services' background tasks (Kafka feeds, audit writer, readiness probe,
history restore and, when enabled, the CommandPlan executor) and stops them on shutdown; it never
waits for Kafka or InfluxDB, so `/healthz` answers at once and `/readyz` turns green when both do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..settings import WorkloadSettings
from .console import install_console
from .errors import install_error_handlers
from .metrics import MetricsMiddleware
from .routes import alerts, commands, health, satellites, telemetry, tracks
from .services import Services

DESCRIPTION = """
Command API of one MPCS mission: its satellites, their telemetry and passes, and commands.

Authenticate with `Authorization: Bearer <token>`; the mission's Secret holds one token per role:
**viewer** (reads), **operator** (also commands), **admin** (also critical commands, which need
`"confirm": true`). Every command is audited (the mission's `events` topic and the InfluxDB
`commands` measurement). Errors are JSON with a `detail` naming the field at fault.
"""


def create_app(settings: WorkloadSettings, *, services: Services | None = None) -> FastAPI:
    """The FastAPI app of one mission; `services` replaces the real adapters (unit tests)."""
    started_here = services is None
    wired = services if services is not None else Services.real(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if started_here:
            await wired.start()
        try:
            yield
        finally:
            if started_here:
                await wired.stop()

    app = FastAPI(
        title=f"MPCS command API — mission {settings.mission}",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by install_console, from local assets when built
    )
    app.state.services = wired
    install_error_handlers(app)
    for module in (satellites, telemetry, commands, alerts, health, tracks):
        app.include_router(module.router)
    app.include_router(telemetry.ws_router)
    install_console(app, settings)  # last: the console is mounted at /
    app.add_middleware(MetricsMiddleware, metrics=wired.metrics)
    return app
