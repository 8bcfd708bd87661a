"""`mpcs operator …`: run the operator, print its RBAC."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer

app = typer.Typer(help="The MPCS Kubernetes operator.", no_args_is_help=True)


@app.command("run")
def run(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Watch only these namespaces.")
    ] = None,
    standalone: Annotated[bool, typer.Option(help="No peering (single replica).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the operator until interrupted (settings from MPCS_* variables)."""
    import random
    import time

    import kopf

    from mpcs.kit.settings import SettingsError

    try:
        # Importing the handlers registers them, and reads the settings they run with.
        from mpcs.operator.handlers import SETTINGS as settings
    except SettingsError as exc:
        typer.echo(f"error: invalid operator settings: {exc}", err=True)
        raise typer.Exit(code=2) from None

    namespaces = namespace or settings.watched_namespaces()
    # Kopf's JSON log format, not the kit's: Kopf's per-object records carry extra fields (the
    # object reference, its whole settings object) that only its own formatter knows to drop.
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON)
    if not verbose:
        logging.getLogger().setLevel(settings.log_level)
    # Per-request and per-handler success lines would drown the log at 1,000 objects.
    for noisy in ("aiokafka", "httpx", "kopf.objects"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=standalone,
            peering_name=None if standalone else settings.peering,
            priority=settings.effective_peering_priority(time.time(), random.randrange(1000)),
            registry=kopf.get_default_registry(),
            memo=kopf.Memo(namespaces=namespaces),
        )
    )


@app.command("rbac")
def rbac(
    namespace: Annotated[str, typer.Option(help="Namespace of the operator's ServiceAccount.")] = (
        "mpcs-system"
    ),
    service_account: Annotated[str, typer.Option()] = "mpcs-operator",
) -> None:
    """Print the operator's ClusterRole and binding as JSON (a kubectl-applicable List)."""
    from mpcs.operator.rbac import cluster_role, cluster_role_binding

    items = [
        cluster_role(),
        cluster_role_binding(namespace=namespace, service_account=service_account),
    ]
    typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
