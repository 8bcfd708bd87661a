"""`mpcs lambdas`: build the deployable alerts Lambda (`mpcs lambdas package`) and run the same
handler in the cluster (`mpcs lambdas run-alerts`, the operator's `<mission>-alerts` Deployment);
`mpcs lambdas run-archive` runs a mission's S3 archive (hourly Parquet telemetry, products)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="AWS Lambda handlers (telemetry alerts, S3 archive).", no_args_is_help=True)


@app.command()
def package(
    out: Annotated[Path, typer.Option("--out", help="The zip to write.")] = Path(
        "dist/mpcs-alerts-lambda.zip"
    ),
    uv: Annotated[
        str | None, typer.Option("--uv", help="uv binary (default: MPCS_UV, then PATH; else pip).")
    ] = None,
) -> None:
    """Build the alerts Lambda zip (handler `mpcs.lambdas.alerts.handler.handler`)."""
    from .package import build

    facts = build(out, uv=uv)
    typer.echo(
        f"wrote {facts.zip}: {facts.bytes / 1e6:.1f} MB ({facts.unpacked_bytes / 1e6:.1f} MB "
        f"unpacked), handler {facts.handler}"
    )
    typer.echo("distributions: " + ", ".join(facts.distributions))


@app.command("run-alerts")
def run_alerts() -> None:
    """Run the alerts handler in the cluster until SIGTERM: the mission's telemetry topic →
    `handler(event, context)` → commit, the scheduled sweep, and the alerts flowing back
    (docs/alerts.md#in-the-cluster).

    Needs MPCS_NAMESPACE, MPCS_MISSION, MPCS_KAFKA_BOOTSTRAP, MPCS_INFLUX_URL, MPCS_INFLUX_ORG,
    MPCS_INFLUX_TOKEN, MPCS_ALERTS_TOPIC_ARN, MPCS_ALERTS_MISSIONS; optional MPCS_ALERTS_TABLE,
    MPCS_AWS_REGION, MPCS_AWS_ENDPOINT_URL, MPCS_METRICS_PORT, MPCS_LOG_LEVEL and the runner's
    MPCS_ALERTS_* knobs.
    """
    from mpcs.kit.logs import configure_logging
    from mpcs.kit.service import run_service
    from mpcs.kit.settings import SettingsError, load_settings

    from .runner import AlertsRunner, RunnerSettings
    from .settings import load

    try:
        settings = load_settings(RunnerSettings)
        alerts = load()
    except SettingsError as exc:
        typer.echo(f"error: invalid alerts runner settings: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level)
    run_service(lambda: AlertsRunner(settings, alerts))


@app.command("run-archive")
def run_archive() -> None:
    """Run the mission's S3 archive in the cluster until SIGTERM: the archive handler on an
    EventBridge-shaped scheduled event every MPCS_ARCHIVE_INTERVAL_S, and the events topic's
    payload products into S3 (docs/archive.md#in-the-cluster). `archive_args` lists the settings.
    """
    from mpcs.kit.logs import configure_logging
    from mpcs.kit.service import run_service
    from mpcs.kit.settings import SettingsError, load_settings

    from .archive.service import ArchiveService, ArchiveServiceSettings

    try:
        settings = load_settings(ArchiveServiceSettings)
    except SettingsError as exc:
        typer.echo(f"error: invalid archive settings: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level)
    run_service(lambda: ArchiveService(settings))


def archive_args(namespace: str, mission: str) -> list[str]:
    """The container args of a mission's archive Deployment (the image's entrypoint is `mpcs`).

    The mission is named by the environment, not the args; the Deployment sets
      MPCS_NAMESPACE=<namespace>, MPCS_MISSION=<mission>, MPCS_KAFKA_BOOTSTRAP;
      MPCS_INFLUX_URL, MPCS_INFLUX_ORG, MPCS_INFLUX_TOKEN from the mission's `<mission>-influxdb`
      Secret (keys url, org, token: the bucket's read/write token is enough);
      MPCS_ARCHIVE_BUCKET (the S3 bucket), MPCS_AWS_REGION and MPCS_AWS_ENDPOINT_URL (moto in
      development; unset in AWS) and AWS credentials as for the alerts runner;
      MPCS_METRICS_PORT=9090 (the port named "metrics": /healthz, /readyz, /metrics);
    optional: MPCS_ARCHIVE_INTERVAL_S (300), MPCS_ARCHIVE_CLOSE_DELAY_S (300),
    MPCS_ARCHIVE_MAX_CATCHUP_HOURS (72), MPCS_ARCHIVE_CREATE_BUCKET (false), MPCS_LOG_LEVEL.
    One replica: a second one would be harmless (conditional writes) but only duplicate work.

    >>> archive_args("ops", "wildfire")
    ['lambdas', 'run-archive']
    """
    del namespace, mission  # carried by MPCS_NAMESPACE / MPCS_MISSION
    return ["lambdas", "run-archive"]
