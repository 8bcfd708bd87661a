"""`mpcs ingest …`: the telemetry ingest's command line (`mpcs ingest run` in its Deployment)."""

from __future__ import annotations

import asyncio
import gc
import signal

import typer
from pydantic import ValidationError

app = typer.Typer(
    name="ingest",
    help="Telemetry ingest: the mission's Kafka telemetry topic → its InfluxDB bucket.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def run() -> None:
    """Consume the mission's telemetry into InfluxDB until SIGTERM (settings from MPCS_* env).

    Needs MPCS_NAMESPACE, MPCS_MISSION, MPCS_KAFKA_BOOTSTRAP, MPCS_INFLUX_URL, MPCS_INFLUX_ORG,
    MPCS_INFLUX_TOKEN; optional MPCS_INFLUX_BUCKET, MPCS_METRICS_PORT and the MPCS_INGEST_*
    tuning variables (docs/ingest.md).
    """
    from mpcs.workloads.ingest import Ingest, IngestSettings
    from mpcs.workloads.ingest.logs import configure

    try:
        settings = IngestSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MPCS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"error: invalid ingest settings: {problems}", err=True)
        raise typer.Exit(code=2) from None
    configure()

    async def _main() -> None:
        ingest = Ingest(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, ingest.stop)
        # Everything built so far lives as long as the process: keep it out of the cyclic GC's
        # full collections (tens of ms each, scanning every imported module's objects).
        gc.freeze()
        await ingest.run()

    asyncio.run(_main())
