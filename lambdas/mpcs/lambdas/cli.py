"""`mpcs lambdas`: build the deployable alerts Lambda (`mpcs lambdas package`) and run the same
handler in the cluster (`mpcs lambdas run-alerts`, the operator's `<mission>-alerts` Deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="AWS Lambda handlers (telemetry alerts).", no_args_is_help=True)


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
