"""A Mission's dashboards as the operator provisions them, against the real apiserver and InfluxDB.

The operator runs under its own ClusterRole. grafana-operator's CRDs (v5.24.0, from
grafana/reference/) are installed into the apiserver halfway through, so the same test sees the
operator without them (ConfigMaps only) and notice them (GrafanaDashboard and GrafanaDatasource
objects, which the real CRD schemas must accept).
"""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom, eventually, examples

from mpcs.core import names
from mpcs.dev.stack import ConnectionInfo
from mpcs.grafana.catalog import dashboards

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).resolve().parents[3] / "grafana" / "reference"
GRAFANA = ("grafana.integreatly.org", "v1beta1")
SLUGS = [kind.slug for kind in dashboards()]


def _install_grafana_operator_crds(kube_client: ApiClient) -> None:
    ext = k8s.ApiextensionsV1Api(kube_client)
    for path in sorted(REFERENCE.glob("grafana.integreatly.org_*.yaml")):
        manifest = yaml.safe_load(path.read_text())
        ext.patch_custom_resource_definition(
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager="mpcs-tests",
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    api = k8s.CustomObjectsApi(kube_client)

    def served() -> bool:
        try:
            api.list_cluster_custom_object(*GRAFANA, "grafanadatasources", limit=1)
            api.list_cluster_custom_object(*GRAFANA, "grafanadashboards", limit=1)
        except ApiException:
            return False
        return True

    eventually(served, timeout_s=30, what="grafana-operator CRDs served")


def _config_map(core: k8s.CoreV1Api, namespace: str, name: str) -> Any | None:
    try:
        return core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _secret_value(core: k8s.CoreV1Api, namespace: str, name: str, key: str) -> str:
    secret = core.read_namespaced_secret(name, namespace)
    return base64.b64decode(secret.data[key]).decode()


def _flux(conn: ConnectionInfo, token: str, query: str) -> httpx.Response:
    return httpx.post(
        f"{conn.influx_url}/api/v2/query",
        params={"org": conn.influx_org},
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/vnd.flux",
            "Accept": "application/csv",
        },
        content=query,
        timeout=10,
    )


def _dashboards_ready(custom: Custom, mission: str) -> dict[str, Any] | None:
    cond = custom.condition("missions", mission, "DashboardsReady") or {}
    return cond if cond.get("status") == "True" else None


def test_dashboards_follow_the_mission(
    kube_client: ApiClient, namespace: str, conn: ConnectionInfo, operator: object
) -> None:
    custom = Custom(kube_client, namespace)
    core = k8s.CoreV1Api(kube_client)
    docs = examples()
    for obj in docs:
        if obj["kind"] in ("GroundStation", "Mission"):
            custom.create(copy.deepcopy(obj))
    first_satellite = next(o for o in docs if o["kind"] == "Satellite")
    satellite = copy.deepcopy(first_satellite)
    satellite["spec"].setdefault("simulator", {})["enabled"] = False
    custom.create(satellite)
    other = copy.deepcopy(next(o for o in docs if o["kind"] == "Mission"))
    other["metadata"] = {"name": "other"}
    custom.create(other)
    custom.wait_phase("missions", "wildfire", "Ready", timeout_s=90)
    ready = eventually(lambda: _dashboards_ready(custom, "wildfire"), what="DashboardsReady")
    assert ready["reason"] == "Provisioned"

    # 1. One ConfigMap per dashboard, in the mission's folder, as the sidecar expects them.
    for slug in SLUGS:
        cm = _config_map(core, namespace, f"wildfire-dashboard-{slug}")
        assert cm is not None, slug
        assert cm.metadata.labels["grafana_dashboard"] == "1"
        assert cm.metadata.annotations["grafana_folder"] == f"MPCS {namespace}/wildfire"
        assert cm.metadata.owner_references[0].kind == "Mission"
        [(key, text)] = cm.data.items()
        assert key == f"mpcs-{namespace}-wildfire-{slug}.json"
        model = json.loads(text)
        assert model["uid"] == names.grafana_uid(namespace, "wildfire", slug)
        assert len(text.encode()) < 256 * 1024
    datasource_cm = _config_map(core, namespace, "wildfire-grafana-datasource")
    assert datasource_cm is not None
    assert datasource_cm.metadata.labels["grafana_datasource"] == "1"
    [source] = yaml.safe_load(datasource_cm.data["datasource.yaml"])["datasources"]
    assert source["jsonData"]["defaultBucket"] == names.bucket(namespace, "wildfire")

    # 2. The datasource's token reads its mission's bucket and nothing else.
    token = _secret_value(core, namespace, "wildfire-grafana-token", "token")
    assert token not in datasource_cm.data["datasource.yaml"]
    own = names.bucket(namespace, "wildfire")
    reading = _flux(conn, token, f'from(bucket: "{own}") |> range(start: -1h) |> limit(n: 1)')
    assert reading.status_code == 200, reading.text
    foreign = names.bucket(namespace, "other")
    eventually(lambda: _dashboards_ready(custom, "other"), what="other mission provisioned")
    refused = _flux(conn, token, f'from(bucket: "{foreign}") |> range(start: -1h)')
    assert refused.status_code in (401, 403, 404), refused.text
    write = httpx.post(
        f"{conn.influx_url}/api/v2/write",
        params={"org": conn.influx_org, "bucket": own},
        headers={"Authorization": f"Token {token}"},
        content=b"probe,satellite=x value=1",
        timeout=10,
    )
    assert write.status_code in (401, 403, 404), write.text
    ingest_token = _secret_value(core, namespace, "wildfire-influxdb", "token")
    assert ingest_token != token

    # 3. The station's predicted passes are in the bucket, for the dashboards' contact plan.
    passes_query = (
        f'from(bucket: "{own}") |> range(start: -1h, stop: 48h) '
        f'|> filter(fn: (r) => r._measurement == "{names.PASSES_MEASUREMENT}" '
        'and r._field == "visible")'
    )
    sat_name = satellite["metadata"]["name"]
    eventually(
        lambda: sat_name in _flux(conn, token, passes_query).text,
        timeout_s=60,
        what="predicted passes in the bucket",
    )

    # 4. grafana-operator installed: its objects appear and its real schemas accept them.
    api = k8s.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException):
        api.list_namespaced_custom_object(*GRAFANA, namespace, "grafanadashboards")
    _install_grafana_operator_crds(kube_client)

    def grafana_objects() -> dict[str, list[dict[str, Any]]] | None:
        found = {
            plural: api.list_namespaced_custom_object(*GRAFANA, namespace, plural)["items"]
            for plural in ("grafanadashboards", "grafanadatasources")
        }
        mine = {
            plural: [o for o in items if o["metadata"]["name"].startswith("wildfire-")]
            for plural, items in found.items()
        }
        complete = len(mine["grafanadashboards"]) == len(SLUGS) and mine["grafanadatasources"]
        return mine if complete else None

    objects = eventually(grafana_objects, timeout_s=60, what="GrafanaDashboard/Datasource")
    refs = sorted(d["spec"]["configMapRef"]["name"] for d in objects["grafanadashboards"])
    assert refs == sorted(f"wildfire-dashboard-{slug}" for slug in SLUGS)
    [datasource] = objects["grafanadatasources"]
    assert datasource["spec"]["valuesFrom"][0]["valueFrom"]["secretKeyRef"]["name"] == (
        "wildfire-grafana-token"
    )

    # 5. A moved station and a changed alert rule reach the dashboards.
    def overview_text() -> str:
        cm = _config_map(core, namespace, "wildfire-dashboard-overview")
        return str(next(iter(cm.data.values()))) if cm else ""

    assert "-133.5495" in overview_text()  # Inuvik's longitude, from its GroundStation
    custom.patch("groundstations", "inuvik", {"spec": {"longitudeDeg": -133.25}})
    eventually(lambda: "-133.25" in overview_text(), timeout_s=30, what="station moved")
    alerts = copy.deepcopy(next(o for o in docs if o["kind"] == "Mission")["spec"]["alerts"])
    alerts[0]["threshold"] = 17.5
    custom.patch("missions", "wildfire", {"spec": {"alerts": alerts}})
    eventually(lambda: "17.5" in overview_text(), timeout_s=30, what="alert threshold changed")

    # 6. Disabled: every Grafana child is gone, the token revoked, the Mission still Ready.
    custom.patch("missions", "wildfire", {"spec": {"dashboards": {"enabled": False}}})

    def removed() -> bool:
        left = [s for s in SLUGS if _config_map(core, namespace, f"wildfire-dashboard-{s}")]
        left += [
            o["metadata"]["name"]
            for plural in ("grafanadashboards", "grafanadatasources")
            for o in api.list_namespaced_custom_object(*GRAFANA, namespace, plural)["items"]
            if o["metadata"]["name"].startswith("wildfire-")
        ]
        return not left and not _config_map(core, namespace, "wildfire-grafana-datasource")

    eventually(removed, timeout_s=30, what="dashboards removed")
    cond = custom.condition("missions", "wildfire", "DashboardsReady") or {}
    assert (cond.get("status"), cond.get("reason")) == ("False", "Disabled")
    assert (custom.get("missions", "wildfire") or {})["status"]["phase"] == "Ready"
    deadline = time.monotonic() + 30
    while _flux(conn, token, f'from(bucket: "{own}") |> range(start: -1h)').status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still reads"
        time.sleep(0.5)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_secret("wildfire-grafana-token", namespace)
    assert gone.value.status == 404
