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
    from mpcs.kit.logs import configure_logging
    from mpcs.kit.service import run_service
    from mpcs.kit.settings import SettingsError, load_settings
    from mpcs.workloads.ingest import Ingest, IngestSettings

    try:
        settings = load_settings(IngestSettings)
    except SettingsError as exc:
        typer.echo(f"error: invalid ingest settings: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level)

    run_service(lambda: Ingest(settings))
