"""Every panel of every dashboard the operator provisions answers, with the whole pipeline real.

The examples are applied; the operator provisions the dashboards as ConfigMaps; the local runner
runs the three simulators, the ingest and the command API as the operator's Deployments describe
them, each announced to the dev stack's Prometheus; one command goes through the API, and a
Satellite naming a Mission that does not exist makes the operator count reconcile errors (a quiet
fleet has none, and their panel must be shown to answer too). Then the
dashboards are read back from their ConfigMaps (what Grafana's sidecar would load), and each query
(panels, template variables, annotations) is substituted as Grafana does and run: Flux against
InfluxDB with the datasource's own read-only token, PromQL against Prometheus. Each must return
rows. The list of queries comes from the dashboards themselves, so a new panel is covered (and
must be proven) without touching this test.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import Custom, eventually, examples, temporary_namespace

from mpcs.core import names
from mpcs.core.resources import GroundStationSpec, MissionSpec
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import ConnectionInfo
from mpcs.grafana.catalog import dashboards, render
from mpcs.grafana.context import MissionContext
from mpcs.grafana.queries import PanelQuery, panel_queries, substitute
from mpcs.kit.influx import parse_annotated_csv

pytestmark = pytest.mark.integration

MISSION = "wildfire"
SATELLITES = ("firewatch-1", "firewatch-2", "firewatch-3")
_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhdw]))?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _relative_time(text: str, now: dt.datetime) -> dt.datetime:
    """A dashboard's `now-6h`-style time as an absolute time."""
    match = _RELATIVE.match(text)
    assert match, f"unsupported dashboard time {text!r}"
    sign, amount, unit = match.groups()
    offset = dt.timedelta(seconds=int(amount or 0) * _UNIT_S.get(unit or "s", 1))
    return now + offset if sign == "+" else now - offset


class Stack:
    """Runs substituted queries the way each datasource would."""

    def __init__(self, conn: ConnectionInfo, influx_token: str) -> None:
        self.conn = conn
        self.influx_token = influx_token

    def flux(self, text: str) -> list[dict[str, str]]:
        response = httpx.post(
            f"{self.conn.influx_url}/api/v2/query",
            params={"org": self.conn.influx_org},
            headers={
                "Authorization": f"Token {self.influx_token}",
                "Content-Type": "application/vnd.flux",
                "Accept": "application/csv",
            },
            content=text,
            timeout=30,
        )
        assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
        return parse_annotated_csv(response.text)

    def promql(self, text: str, *, start: dt.datetime, stop: dt.datetime) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.conn.prometheus_url}/api/v1/query_range",
            params={
                "query": text,
                "start": start.timestamp(),
                "end": stop.timestamp(),
                "step": "5s",
            },
            timeout=30,
        )
        body = response.json()
        assert response.status_code == 200, f"{response.status_code}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@pytest.fixture(scope="module")
def namespace(kube_client: ApiClient) -> Iterator[str]:
    """One namespace for the module: every parametrized case reads the same flying mission."""
    with temporary_namespace(kube_client, f"dash-{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="module")
def provisioned(
    kube_client: ApiClient, namespace: str, conn: ConnectionInfo, runner: LocalRunner
) -> tuple[dict[str, dict[str, Any]], Stack]:
    """The examples flying, a command sent, and the dashboards as their ConfigMaps hold them."""
    custom = Custom(kube_client, namespace)
    for obj in examples():
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Satellite":
            obj["spec"]["telemetryIntervalSeconds"] = 2
        if obj["kind"] != "CommandPlan":
            custom.create(obj)
    orphan = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    orphan["metadata"] = {"name": "orphan-1"}
    orphan["spec"]["missionRef"] = {"name": "no-such-mission"}
    custom.create(orphan)
    custom.wait_phase("missions", MISSION, "Ready", timeout_s=90)
    core = k8s.CoreV1Api(kube_client)
    token = base64.b64decode(
        core.read_namespaced_secret(f"{MISSION}-grafana-token", namespace).data["token"]
    ).decode()
    stack = Stack(conn, token)
    bucket = names.bucket(namespace, MISSION)

    def stored(measurement: str) -> set[str]:
        rows = stack.flux(
            f'from(bucket: "{bucket}") |> range(start: -1h, stop: 48h) '
            f'|> filter(fn: (r) => r._measurement == "{measurement}") '
            '|> keep(columns: ["satellite"]) |> distinct(column: "satellite")'
        )
        return {row["_value"] for row in rows if row.get("_value")}

    eventually(lambda: stored("power") >= set(SATELLITES), timeout_s=120, what="telemetry")
    eventually(lambda: stored(names.PASSES_MEASUREMENT), timeout_s=60, what="predicted passes")
    _send_a_command(kube_client, namespace, runner)
    eventually(lambda: stored(names.COMMANDS_MEASUREMENT), timeout_s=60, what="command audit")
    # Prometheus needs two scrapes of each service after traffic for rate() to have a value.
    eventually(
        lambda: stack.promql(
            'sum(mpcs_ingest_messages_total{component="ingest"})',
            start=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30),
            stop=dt.datetime.now(dt.UTC),
        ),
        timeout_s=60,
        what="ingest scraped by Prometheus",
    )
    eventually(
        lambda: stack.promql(
            'sum(mpcs_operator_reconcile_errors_total{component="operator"})',
            start=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30),
            stop=dt.datetime.now(dt.UTC),
        ),
        timeout_s=60,
        what="the orphan Satellite's reconcile errors scraped",
    )
    models = {}
    for kind in dashboards():
        cm = core.read_namespaced_config_map(f"{MISSION}-dashboard-{kind.slug}", namespace)
        models[kind.slug] = json.loads(next(iter(cm.data.values())))
    return models, stack


def _send_a_command(kube_client: ApiClient, namespace: str, runner: LocalRunner) -> None:
    secret = k8s.CoreV1Api(kube_client).read_namespaced_secret(f"{MISSION}-api-tokens", namespace)
    operator_token = base64.b64decode(secret.data["operator"]).decode()
    port = eventually(
        lambda: runner.endpoints().get(f"{namespace}/{MISSION}-command-api/0", {}).get("http"),
        timeout_s=60,
        what="command API running",
    )
    base = f"http://127.0.0.1:{port}"

    def sent() -> bool:
        try:
            response = httpx.post(
                f"{base}/api/v1/satellites/{SATELLITES[0]}/commands",
                json={"name": "PING"},
                headers={"Authorization": f"Bearer {operator_token}"},
                timeout=10,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 202

    eventually(sent, timeout_s=60, what="a command accepted by the API")


def _all_queries() -> list[tuple[str, str]]:
    """(dashboard slug, panel) of every query, from the dashboards the code renders for the
    example mission (its alert rules shape some panels)."""
    docs = examples()
    mission = MissionSpec.model_validate(next(o for o in docs if o["kind"] == "Mission")["spec"])
    stations = {
        o["metadata"]["name"]: GroundStationSpec.model_validate(o["spec"])
        for o in docs
        if o["kind"] == "GroundStation"
    }
    context = MissionContext.of("e2e", MISSION, mission, stations)
    found = []
    for slug, model in render(context).items():
        found += [(slug, f"{q.panel} [{q.ref_id}]") for q in panel_queries(model)]
    return found


def _variables(
    model: dict[str, Any], stack: Stack, *, start: dt.datetime, stop: dt.datetime
) -> dict[str, str]:
    """What Grafana selects by default: each query variable's first value, in dashboard order."""
    values: dict[str, str] = {}
    for variable in (model.get("templating") or {}).get("list") or []:
        name = variable["name"]
        if variable.get("type") == "datasource":
            values[name] = str(variable.get("query", ""))
            continue
        if variable.get("type") != "query":
            current = (variable.get("current") or {}).get("value")
            values[name] = str(current if current is not None else "")
            continue
        listed = panel_queries({"templating": {"list": [variable]}})
        assert len(listed) == 1, f"variable {name} has no query this test can run"
        query = listed[0]
        text = substitute(query.text, values, start=start, stop=stop, interval_s=10)
        rows = stack.flux(text) if query.datasource_type == "influxdb" else []
        options = sorted({row["_value"] for row in rows if row.get("_value")})
        assert options, f"variable {name}: no values"
        values[name] = options[0]
    return values


@pytest.mark.parametrize(("slug", "panel"), _all_queries())
def test_every_panel_query_returns_rows(
    provisioned: tuple[dict[str, dict[str, Any]], Stack], slug: str, panel: str
) -> None:
    models, stack = provisioned
    model = models[slug]
    now = dt.datetime.now(dt.UTC)
    start = _relative_time(model["time"]["from"], now)
    stop = _relative_time(model["time"]["to"], now)
    variables = _variables(model, stack, start=start, stop=stop)
    queries: dict[str, PanelQuery] = {f"{q.panel} [{q.ref_id}]": q for q in panel_queries(model)}
    query = queries[panel]
    text = substitute(query.text, variables, start=start, stop=stop, interval_s=10)
    if query.datasource_type == "influxdb":
        rows = stack.flux(text)
        assert rows, f"no rows for {panel}:\n{text}"
        columns = set(rows[0])
        assert columns & {"_value", "_time"} or len(columns) > 3, (panel, columns)
    else:
        series = stack.promql(text, start=now - dt.timedelta(minutes=5), stop=now)
        assert series, f"no series for {panel}:\n{text}"
