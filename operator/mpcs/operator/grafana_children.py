"""Pure builders of a Mission's Grafana children: dashboards, datasource and its read-only token.

Two ways a Grafana picks them up, both served at once:
- the convention of the Grafana Helm chart's sidecar (also kube-prometheus-stack's): ConfigMaps
  labelled `grafana_dashboard: "1"` (folder from the `grafana_folder` annotation) and a ConfigMap
  labelled `grafana_datasource: "1"` holding a datasource provisioning file. Its token is not in
  the ConfigMap: the file points at the token Secret mounted into Grafana (`$__file{…}`);
- grafana-operator, where its CRDs are served: a `GrafanaDashboard` per dashboard that references
  the same ConfigMap, and a `GrafanaDatasource` whose token is filled from the Secret
  (`valuesFrom`).

No I/O here; `reconcile.dashboards` applies or deletes what these return.
"""

from __future__ import annotations

from typing import Any

import yaml

from mpcs.core import names
from mpcs.grafana.catalog import DashboardModel, dumps
from mpcs.grafana.context import MissionContext
from mpcs.operator.settings import OperatorSettings

COMPONENT = "dashboards"
DASHBOARD_LABEL = "grafana_dashboard"
DATASOURCE_LABEL = "grafana_datasource"
FOLDER_ANNOTATION = "grafana_folder"
#: grafana-operator's API (v5).
GRAFANA_GROUP_VERSION = "grafana.integreatly.org/v1beta1"
DATASOURCE_FILE = "datasource.yaml"
TOKEN_KEY = "token"


def dashboard_configmap_name(mission: str, slug: str) -> str:
    return names.child_name(mission, f"dashboard-{slug}")


def datasource_name(mission: str) -> str:
    """Name of the datasource ConfigMap and of the GrafanaDatasource."""
    return names.child_name(mission, "grafana-datasource")


def token_secret_name(mission: str) -> str:
    return names.child_name(mission, "grafana-token")


def dashboard_file(context: MissionContext, slug: str) -> str:
    """The ConfigMap key, which the sidecar uses as file name: unique across missions."""
    return f"mpcs-{context.namespace}-{context.mission}-{slug}.json"


def _meta(
    context: MissionContext,
    *,
    name: str,
    owner: dict[str, Any],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": context.namespace,
        "labels": {
            **names.labels(
                name=f"mpcs-{COMPONENT}",
                instance=context.mission,
                component=COMPONENT,
                mission=context.mission,
            ),
            **(labels or {}),
        },
        "ownerReferences": [owner],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def dashboard_configmaps(
    context: MissionContext, *, owner: dict[str, Any], models: dict[str, DashboardModel]
) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, so each stays far below the 1 MiB object limit."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(
                context,
                name=dashboard_configmap_name(context.mission, slug),
                owner=owner,
                labels={DASHBOARD_LABEL: "1"},
                annotations={FOLDER_ANNOTATION: context.folder},
            ),
            "data": {dashboard_file(context, slug): dumps(model)},
        }
        for slug, model in models.items()
    ]


def datasource(
    context: MissionContext, *, settings: OperatorSettings, token: str
) -> dict[str, Any]:
    """The mission's InfluxDB datasource as Grafana provisions it (Flux, the mission's bucket)."""
    return {
        "name": f"MPCS {context.namespace}/{context.mission}",
        "uid": context.influx_datasource_uid,
        "type": "influxdb",
        "access": "proxy",
        "url": settings.grafana_influx_url or settings.influx_url,
        "editable": False,
        "jsonData": {
            "version": "Flux",
            "organization": settings.influx_org,
            "defaultBucket": context.bucket,
        },
        "secureJsonData": {"token": token},
    }


def datasource_configmap(
    context: MissionContext, *, owner: dict[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    """The sidecar's datasource file; the token is read from the mounted Secret by Grafana."""
    token_path = f"{settings.grafana_secrets_dir.rstrip('/')}/{token_secret_name(context.mission)}"
    provisioning = {
        "apiVersion": 1,
        "datasources": [
            datasource(context, settings=settings, token=f"$__file{{{token_path}/{TOKEN_KEY}}}")
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(
            context,
            name=datasource_name(context.mission),
            owner=owner,
            labels={DATASOURCE_LABEL: "1"},
        ),
        "data": {DATASOURCE_FILE: yaml.safe_dump(provisioning, sort_keys=True)},
    }


def token_secret(context: MissionContext, *, owner: dict[str, Any], token: str) -> dict[str, Any]:
    """The datasource's read-only InfluxDB token (scoped to the mission's bucket)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(context, name=token_secret_name(context.mission), owner=owner),
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def grafana_operator_objects(
    context: MissionContext,
    *,
    owner: dict[str, Any],
    settings: OperatorSettings,
    slugs: list[str],
) -> list[dict[str, Any]]:
    """grafana-operator's view of the same dashboards and datasource."""
    selector = {"matchLabels": settings.grafana_match_labels()}
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": GRAFANA_GROUP_VERSION,
            "kind": "GrafanaDashboard",
            "metadata": _meta(
                context, name=dashboard_configmap_name(context.mission, slug), owner=owner
            ),
            "spec": {
                "instanceSelector": selector,
                "folder": context.folder,
                "configMapRef": {
                    "name": dashboard_configmap_name(context.mission, slug),
                    "key": dashboard_file(context, slug),
                },
            },
        }
        for slug in slugs
    ]
    objects.append(
        {
            "apiVersion": GRAFANA_GROUP_VERSION,
            "kind": "GrafanaDatasource",
            "metadata": _meta(context, name=datasource_name(context.mission), owner=owner),
            "spec": {
                "instanceSelector": selector,
                # grafana-operator replaces ${token} with the Secret's value.
                "datasource": datasource(context, settings=settings, token=f"${{{TOKEN_KEY}}}"),
                "valuesFrom": [
                    {
                        "targetPath": f"secureJsonData.{TOKEN_KEY}",
                        "valueFrom": {
                            "secretKeyRef": {
                                "name": token_secret_name(context.mission),
                                "key": TOKEN_KEY,
                            }
                        },
                    }
                ],
            },
        }
    )
    return objects


def all_children(
    context: MissionContext, *, slugs: list[str], with_grafana_operator: bool
) -> list[dict[str, Any]]:
    """Every Grafana child a mission can have, reduced to what deleting one needs."""

    def ref(api_version: str, kind: str, name: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": context.namespace}
        return {"apiVersion": api_version, "kind": kind, "metadata": meta}

    mission = context.mission
    found = [ref("v1", "ConfigMap", dashboard_configmap_name(mission, s)) for s in slugs]
    found.append(ref("v1", "ConfigMap", datasource_name(mission)))
    found.append(ref("v1", "Secret", token_secret_name(mission)))
    if with_grafana_operator:
        found += [
            ref(GRAFANA_GROUP_VERSION, "GrafanaDashboard", dashboard_configmap_name(mission, s))
            for s in slugs
        ]
        found.append(ref(GRAFANA_GROUP_VERSION, "GrafanaDatasource", datasource_name(mission)))
    return found
