"""The mission dashboards, in one list, and how each is rendered to Grafana's JSON model.

Adding a dashboard is one entry here and one module with a `build(context)`; the operator, the
generated files in `grafana/dashboards/`, the schema tests and the panel-query tests all iterate
this list, so a new dashboard cannot skip any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .context import MissionContext

#: A dashboard as Grafana's JSON model (the `dashboard` of `GET /api/dashboards/uid/<uid>`).
DashboardModel = dict[str, Any]


@dataclass(frozen=True)
class DashboardKind:
    """One of the dashboards every Mission gets."""

    slug: str
    title: str
    build: Callable[[MissionContext], DashboardModel]


def dashboards() -> tuple[DashboardKind, ...]:
    """Every mission dashboard, in the order a user meets them."""
    from . import overview, pipeline, satellite

    return (
        DashboardKind("overview", "Mission overview", overview.build),
        DashboardKind("satellite", "Satellite detail", satellite.build),
        DashboardKind("pipeline", "Pipeline health", pipeline.build),
    )


def render(context: MissionContext) -> dict[str, DashboardModel]:
    """The mission's dashboards by slug."""
    return {kind.slug: kind.build(context) for kind in dashboards()}


def dumps(model: DashboardModel, *, pretty: bool = False) -> str:
    """Stable JSON text of a dashboard: sorted keys, so equal dashboards are equal bytes (the
    operator compares ConfigMaps, the staleness test compares files)."""
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if pretty else 0)
    return orjson.dumps(model, option=option).decode() + ("\n" if pretty else "")
