"""`mpcs ingest …`: the telemetry ingest's command line (`mpcs ingest run` in its Deployment)."""

from __future__ import annotations

import typer

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
    MPCS_INFLUX_TOKEN; optional MPCS_INFLUX_BUCKET, MPCS_METRICS_PORT, MPCS_LOG_LEVEL and the
    MPCS_INGEST_* tuning variables (docs/ingest.md).
    """
    from mpcs.kit.service import run_service
    from mpcs.workloads.ingest import Ingest, IngestSettings
    from mpcs.workloads.settings import command_settings

    settings = command_settings(IngestSettings, what="ingest")
    run_service(lambda: Ingest(settings))
