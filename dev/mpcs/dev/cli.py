"""`mpcs dev …`: install the real servers, and run them as a local dev stack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from mpcs.dev import chart as dev_chart
from mpcs.dev import stack as dev_stack
from mpcs.dev import tools

app = typer.Typer(help="Developer tools: real servers on loopback.", no_args_is_help=True)
tools_app = typer.Typer(help="Obtain and cache the servers (kube, Kafka, InfluxDB, …).")
app.add_typer(tools_app, name="tools")
app.add_typer(dev_chart.app, name="chart")

RootOption = Annotated[
    Path | None, typer.Option("--dir", help="Stack directory (default .cache/devstack).")
]


@tools_app.command("install")
def tools_install(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Install just these tools.")
    ] = None,
) -> None:
    """Install every missing server binary into the version cache (idempotent)."""
    unknown = sorted(set(only or []) - set(tools.TOOLS))
    if unknown:
        typer.echo(
            f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(tools.TOOLS)}", err=True
        )
        raise typer.Exit(2)
    try:
        tools.install_all(only)
    except (RuntimeError, tools.ToolMissingError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@tools_app.command("list")
def tools_list() -> None:
    """Where each tool comes from and where it is (or that it is missing)."""
    for tool in tools.TOOLS.values():
        try:
            where = str(tool.locate())
        except tools.ToolMissingError:
            where = "missing"
        typer.echo(f"{tool.name:<16} {tool.version:<10} {where}   ({tool.route})")


@app.command("up")
def up(root: RootOption = None) -> None:
    """Start the whole stack in the background and print how to reach each server."""
    root = root or dev_stack.default_root()
    state = dev_stack.status_from_state(root)
    if state and all(state["alive"].values()):
        typer.echo(f"dev stack already running (state in {root}); `mpcs dev down` stops it")
        _print_connection(state["connection"])
        return
    if state:
        dev_stack.stop_from_state(root)
    shutil.rmtree(root, ignore_errors=True)
    stack = dev_stack.DevStack(root, die_with_parent=False)
    try:
        info = stack.start()
    except Exception as exc:
        typer.echo(f"dev stack failed to start: {exc}", err=True)
        raise typer.Exit(1) from exc
    stack.save_state()
    memory = stack.memory_mb()
    typer.echo(
        f"started in {stack.start_seconds['total']} s; "
        f"memory {sum(memory.values()):.0f} MB ({json.dumps(memory)})"
    )
    _print_connection(info.__dict__)


def _print_connection(conn: dict[str, str]) -> None:
    typer.echo(
        "\n".join(
            [
                f"kubeconfig:       {conn['kubeconfig']}",
                f"  try:            kubectl --kubeconfig {conn['kubeconfig']} get ns",
                f"kube-apiserver:   {conn['kube_url']}",
                f"kafka:            {conn['kafka_bootstrap_servers']}",
                f"influxdb:         {conn['influx_url']}  org={conn['influx_org']}  "
                f"token={conn['influx_token']}",
                f"moto (AWS):       {conn['moto_endpoint_url']}",
                f"prometheus:       {conn.get('prometheus_url', 'not in this stack')}  "
                f"targets={conn.get('prometheus_targets_dir', '-')}",
            ]
        )
    )


@app.command("down")
def down(root: RootOption = None) -> None:
    """Stop the background stack; no server process is left behind."""
    root = root or dev_stack.default_root()
    stopped = dev_stack.stop_from_state(root)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "no dev stack running")


@app.command("status")
def status(root: RootOption = None) -> None:
    """Health and memory of the background stack."""
    root = root or dev_stack.default_root()
    state = dev_stack.status_from_state(root)
    if state is None:
        typer.echo("no dev stack running")
        raise typer.Exit(1)
    for name, alive in state["alive"].items():
        rss = state["rss_mb"].get(name, 0.0)
        typer.echo(
            f"{name:<24} {'up' if alive else 'DOWN':<5} {rss:>8.1f} MB   log: {state['logs'][name]}"
        )
    _print_connection(state["connection"])
    if not all(state["alive"].values()):
        raise typer.Exit(1)


@app.command("demo")
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    live: Annotated[bool, typer.Option(help="Refresh a live table of the fleet.")] = True,
) -> None:
    """Run all of MPCS locally (servers, operator, workloads, examples) with a live view."""
    from mpcs.dev import demo as demo_module

    demo_module.run(root=tools.REPO_ROOT / ".cache" / "demo", duration_s=duration, live=live)
