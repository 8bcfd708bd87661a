"""The command API application: `create_app(settings)` (what `mpcs api serve` runs).

The lifespan starts the services' background tasks (Kafka feeds, audit writer, readiness probe,
history restore and, when enabled, the CommandPlan executor) and stops them on shutdown; it never
waits for Kafka or InfluxDB, so `/healthz` answers at once and `/readyz` turns green when both do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ..settings import WorkloadSettings
from .auth import tokens_from_settings, watch_tokens
from .console import install_console
from .errors import install_error_handlers
from .ingest_http import TelemetrySink
from .metrics import MetricsMiddleware
from .models import error_responses
from .routes import alerts, channels, commands, health, satellites, telemetry, tracks
from .security import install_security
from .services import Services

DESCRIPTION = """
Command API of one MPCS mission: its satellites, their telemetry and passes, and commands.

Authenticate with `Authorization: Bearer <token>`; the mission's Secret holds one token per role:
**viewer** (reads), **operator** (also commands), **admin** (also critical commands, which need
`"confirm": true`); **ingest** may only post telemetry (ground stations). Request bodies,
request rates and cross-origin access are limited, and every refusal is audited, as is every
command (the mission's `events` topic and the InfluxDB
`commands` measurement). Errors are JSON with a `detail` naming the field at fault.
"""


def create_app(
    settings: WorkloadSettings, *, services: Services | None = None, sink: Any = None
) -> FastAPI:
    """The FastAPI app of one mission; `services` and `sink` (the telemetry POST's producer)
    replace the real adapters (unit tests)."""
    started_here = services is None
    wired = services if services is not None else Services.real(settings)
    wired.tokens, loaded_tokens = tokens_from_settings(settings)
    if sink is None:
        from mpcs.core.names import Topic
        from mpcs.kit.kafka import KafkaClients

        sink = TelemetrySink(
            kafka=KafkaClients(
                settings.kafka_bootstrap,
                client_id=f"mpcs-api-{settings.mission}",
                security=settings.kafka_security,
            ),
            topic=settings.topic(Topic.TELEMETRY),
            timeout_s=settings.api_send_timeout_s,
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if started_here:
            await wired.start()
            if isinstance(sink, TelemetrySink):
                tasks.append(asyncio.create_task(sink.run_start(), name="api-telemetry-sink"))
        if settings.api_tokens_dir:
            tasks.append(
                asyncio.create_task(
                    watch_tokens(
                        Path(settings.api_tokens_dir),
                        interval_s=settings.api_tokens_reload_s,
                        apply=guard.apply_tokens,
                        loaded=loaded_tokens,
                    ),
                    name="api-tokens-watch",
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if started_here:
                if isinstance(sink, TelemetrySink):
                    with contextlib.suppress(Exception):
                        await sink.stop()
                await wired.stop()

    app = FastAPI(
        title=f"MPCS command API — mission {settings.mission}",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by install_console, from local assets when built
        # Any route may answer these (security.py): a body over its limit, a token over its rate.
        responses=error_responses(413, 429),
    )
    app.state.services = wired
    app.state.telemetry_sink = sink
    install_error_handlers(app)
    for module in (satellites, telemetry, channels, commands, alerts, health, tracks):
        app.include_router(module.router)
    app.include_router(telemetry.ws_router)
    install_console(app, settings)  # last: the console is mounted at /
    guard = install_security(app, settings, wired)
    app.add_middleware(MetricsMiddleware, metrics=wired.metrics)
    return app
