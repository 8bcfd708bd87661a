"""`mpcs lambdas`: build the deployable alerts Lambda (`mpcs lambdas package`)."""

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
