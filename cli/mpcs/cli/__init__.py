"""The `mpcs` command: one entry point for every component of the one MPCS image.

Each component contributes a Typer sub-app from its own `cli` module; this package only composes
them, so a component's command-line surface lives beside the code it drives. It sits above every
component (nothing imports it), which is why it is not part of `mpcs.core`.

`mpcs dev …` (the developer tooling) is added only where `mpcs.dev` is installed: a source checkout
has it, the wheel and the image do not.
"""

from __future__ import annotations

import importlib.util

import typer

from mpcs.core.resources.cli import app as crds_app
from mpcs.grafana.cli import app as grafana_app
from mpcs.lambdas.cli import app as lambdas_app
from mpcs.operator.cli import app as operator_app
from mpcs.simulator.cli import app as sim_app
from mpcs.workloads.cli_api import app as api_app
from mpcs.workloads.cli_ingest import app as ingest_app

app = typer.Typer(
    name="mpcs",
    help="MPCS — Mission Planning & Control System.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(api_app, name="api")
app.add_typer(crds_app, name="crds")
app.add_typer(grafana_app, name="grafana")
app.add_typer(ingest_app, name="ingest")
app.add_typer(lambdas_app, name="lambdas")
app.add_typer(operator_app, name="operator")
app.add_typer(sim_app, name="sim")

if importlib.util.find_spec("mpcs.dev") is not None:
    from mpcs.dev.cli import app as dev_app

    app.add_typer(dev_app, name="dev")
