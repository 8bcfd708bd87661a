"""A Mission's Grafana dashboards: render them, apply their children, or remove them.

Part of the Mission reconcile (it sets `DashboardsReady`). The dashboards depend on the Mission's
alert rules and ground stations only, so a new Satellite changes nothing here: the dashboards list
satellites by query. A changed GroundStation re-runs the reconcile of the missions using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from mpcs.core.resources import MissionSpec
from mpcs.grafana.catalog import dashboards, render
from mpcs.grafana.context import MissionContext
from mpcs.operator import grafana_children as children
from mpcs.operator.indexes import Indexes
from mpcs.operator.influx_buckets import InfluxError
from mpcs.operator.services import Services

GRAFANA_PLURALS = ("grafanadashboards", "grafanadatasources")


@dataclass(frozen=True)
class DashboardsResult:
    """What `DashboardsReady` says."""

    ready: bool
    reason: str
    message: str
    #: A failure the Mission's Ready condition must report (None when fine or disabled).
    failure: str | None = None


async def converge(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    spec: MissionSpec,
    services: Services,
    indexes: Indexes,
) -> DashboardsResult:
    stations, missing = indexes.stations_of(namespace, spec)
    context = MissionContext.of(namespace, mission, spec, {s.name: s.spec for s in stations})
    with_operator = await services.discovery.serves(
        children.GRAFANA_GROUP_VERSION, *GRAFANA_PLURALS
    )
    if not spec.dashboards.enabled:
        return await _remove(context, services=services, with_operator=with_operator)
    try:
        token = await services.influx.ensure_read_token(context.bucket)
    except (InfluxError, httpx.HTTPError) as exc:
        message = f"no read-only token for the datasource: {exc}"
        return DashboardsResult(False, "InfluxDBUnavailable", message, failure=message)
    models = render(context)
    objects = [
        children.token_secret(context, owner=owner, token=token),
        children.datasource_configmap(context, owner=owner, settings=services.settings),
        *children.dashboard_configmaps(context, owner=owner, models=models),
    ]
    if with_operator:
        objects += children.grafana_operator_objects(
            context, owner=owner, settings=services.settings, slugs=list(models)
        )
    await services.kube.apply_all(objects)
    where = "ConfigMaps" + (" and grafana-operator objects" if with_operator else "")
    message = f"{len(models)} dashboards and the datasource provisioned as {where}"
    if missing:
        message += f"; stations not shown (missing or invalid): {', '.join(missing)}"
    return DashboardsResult(True, "Provisioned", message)


async def _remove(
    context: MissionContext, *, services: Services, with_operator: bool
) -> DashboardsResult:
    """`dashboards.enabled: false`: delete every Grafana child and revoke the read token."""
    slugs = [kind.slug for kind in dashboards()]
    for obj in children.all_children(context, slugs=slugs, with_grafana_operator=with_operator):
        await services.kube.delete(obj)
    try:
        await services.influx.delete_read_token(context.bucket)
    except (InfluxError, httpx.HTTPError) as exc:
        message = f"dashboards removed, but the read token could not be revoked yet: {exc}"
        return DashboardsResult(False, "Disabled", message, failure=message)
    return DashboardsResult(False, "Disabled", "spec.dashboards.enabled is false: none provisioned")
