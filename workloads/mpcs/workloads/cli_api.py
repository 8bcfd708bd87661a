"""`mpcs api …`: the mission's command API (`mpcs api serve --port 8000` in its Deployment)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Annotated

import typer

app = typer.Typer(
    name="api",
    help="Command API of a mission: satellites, telemetry, passes and commands (FastAPI).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="HTTP port of the API.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
) -> None:
    """Serve the API (OpenAPI at /docs) until SIGTERM; settings from MPCS_* env.

    Needs MPCS_NAMESPACE, MPCS_MISSION, MPCS_KAFKA_BOOTSTRAP, MPCS_INFLUX_URL, MPCS_INFLUX_ORG,
    MPCS_INFLUX_TOKEN, the role tokens MPCS_API_TOKEN_VIEWER/OPERATOR/ADMIN, and KUBECONFIG outside
    a pod. /healthz, /readyz and /metrics are served on --port and on MPCS_METRICS_PORT.
    """
    import uvicorn

    from mpcs.kit.health import HealthServer
    from mpcs.workloads.api import create_app
    from mpcs.workloads.settings import WorkloadSettings, command_settings

    settings = command_settings(WorkloadSettings, what="API")
    application = create_app(settings)
    services = application.state.services

    async def main() -> None:
        health = None
        if settings.metrics_port != port:
            health = HealthServer(
                readiness=services.readiness,
                registry=services.metrics.registry,
                port=settings.metrics_port,
            )
            await health.start()
        server = uvicorn.Server(
            uvicorn.Config(
                application,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                ws="websockets-sansio",
                lifespan="on",
                timeout_graceful_shutdown=10,
            )
        )
        # The app, its services and every imported module live as long as the process: keep them
        # out of the cyclic GC's full collections, which otherwise scan ~100,000 objects (tens of
        # ms on the event loop: a command's p99 latency).
        gc.freeze()
        try:
            await server.serve()
        finally:
            if health is not None:
                with contextlib.suppress(Exception):
                    await health.stop()

    asyncio.run(main())
