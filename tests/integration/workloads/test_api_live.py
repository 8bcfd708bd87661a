"""`mpcs api serve` against the real dev stack: Kafka, InfluxDB and kube-apiserver.

One test mission per module: CRDs installed, a Mission with two GroundStations and two Satellite
objects in a fresh namespace, the mission's topics and bucket (with its bucket-scoped token)
created the way the operator does. A real simulator flies `firewatch-1` (telemetry every second),
the real ingest stores its telemetry, and the API runs as its own process (`python -m
mpcs.cli api serve`). `firewatch-2` has no simulator: its telemetry is written to InfluxDB by
the test, so its latest values must come from the InfluxDB fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from kubernetes.client import ApiClient
from utils.kube import EXAMPLES, Custom, install_crds, temporary_namespace
from utils.logs import register_log
from utils.waiting import eventually_async

from mpcs.core.names import Topic, bucket, topic
from mpcs.core.resources import MissionSpec
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import AWS_TEST_KEY, ConnectionInfo, provision_alerts
from mpcs.kit.influx import parse_annotated_csv
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics

pytestmark = pytest.mark.integration

VIEWER, OPERATOR, ADMIN = "it-viewer-token", "it-operator-token", "it-admin-token"
MISSION_SPEC: dict[str, Any] = {
    "groundStations": ["svalbard", "inuvik"],
    "kafka": {"partitions": 3, "replicationFactor": 1, "retentionHours": 24},
}


def _examples(kind: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    return docs


def _satellite(name: str, mission: str) -> dict[str, Any]:
    """A Satellite of examples/20-satellites.yaml, renamed, flying a 1 s telemetry interval."""
    source = next(s for s in _examples("Satellite") if s["metadata"]["name"] == name)
    spec = dict(source["spec"])
    spec["missionRef"] = {"name": mission}
    spec["telemetryIntervalSeconds"] = 1
    return {
        "apiVersion": source["apiVersion"],
        "kind": "Satellite",
        "metadata": {"name": name},
        "spec": spec,
    }


@dataclass
class Mission:
    namespace: str
    name: str
    conn: ConnectionInfo
    bucket_token: str
    env: dict[str, str]
    logs: Path

    @property
    def bucket(self) -> str:
        return bucket(self.namespace, self.name)

    def topic(self, kind: Topic) -> str:
        return topic(self.namespace, self.name, kind)


@dataclass
class Api:
    url: str
    metrics_url: str
    proc: Any
    argv: list[str]
    env: dict[str, str]
    log: Path


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_namespace(kube_client: ApiClient) -> Iterator[str]:
    with temporary_namespace(kube_client, f"t-api-{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="module")
async def mission(
    kube_client: ApiClient,
    api_namespace: str,
    conn: ConnectionInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Mission:
    name = f"m{uuid.uuid4().hex[:8]}"
    install_crds(kube_client)
    custom = Custom(kube_client, api_namespace)
    for station in _examples("GroundStation"):
        custom.create(
            {
                "apiVersion": station["apiVersion"],
                "kind": "GroundStation",
                "metadata": {"name": station["metadata"]["name"]},
                "spec": station["spec"],
            }
        )
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": name},
            "spec": MISSION_SPEC,
        }
    )
    for sat in ("firewatch-1", "firewatch-2"):
        custom.create(_satellite(sat, name))
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(
            mission_topics(api_namespace, name, MissionSpec.model_validate(MISSION_SPEC).kafka)
        )
    finally:
        await topics.close()
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:
        state = await buckets.ensure_bucket(bucket(api_namespace, name), retention_seconds=86_400)
    finally:
        await buckets.close()
    alerts = provision_alerts(conn.moto_endpoint_url)
    env = {
        "KUBECONFIG": conn.kubeconfig,
        "MPCS_NAMESPACE": api_namespace,
        "MPCS_MISSION": name,
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": state.token,
        "MPCS_API_TOKEN_VIEWER": VIEWER,
        "MPCS_API_TOKEN_OPERATOR": OPERATOR,
        "MPCS_API_TOKEN_ADMIN": ADMIN,
        # The alerts routes' table, as the operator configures a command API (its moto here).
        "MPCS_ALERTS_TABLE": alerts.table,
        "MPCS_AWS_REGION": alerts.region,
        "MPCS_AWS_ENDPOINT_URL": alerts.endpoint_url,
        "AWS_ACCESS_KEY_ID": AWS_TEST_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_TEST_KEY,
    }
    return Mission(
        namespace=api_namespace,
        name=name,
        conn=conn,
        bucket_token=state.token,
        env=env,
        logs=tmp_path_factory.mktemp("api-live"),
    )


@pytest.fixture(scope="module")
def simulator(mission: Mission) -> Iterator[None]:
    """A real `mpcs sim run` for firewatch-1, telemetry every second."""
    # A Satellite manifest is flown as it is (without ground stations).
    manifest = _satellite("firewatch-1", mission.name)
    log = mission.logs / "simulator.log"
    register_log("simulator", log)
    proc = spawn(
        [sys.executable, "-m", "mpcs.cli", "sim", "run"],
        log=log,
        env={
            **mission.env,
            "MPCS_SATELLITE": "firewatch-1",
            "MPCS_SATELLITE_SPEC": orjson.dumps(manifest).decode(),
            "MPCS_METRICS_PORT": str(free_port()),
        },
        die_with_parent=True,
    )
    try:
        yield
    finally:
        stop_group(proc.pid, proc=proc)


@pytest.fixture(scope="module")
def ingest(mission: Mission) -> Iterator[None]:
    """The real `mpcs ingest run`: telemetry into the mission bucket."""
    log = mission.logs / "ingest.log"
    register_log("ingest", log)
    proc = spawn(
        [sys.executable, "-m", "mpcs.cli", "ingest", "run"],
        log=log,
        env={**mission.env, "MPCS_METRICS_PORT": str(free_port())},
        die_with_parent=True,
    )
    try:
        yield
    finally:
        stop_group(proc.pid, proc=proc)


def _start_api(mission: Mission, port: int, metrics_port: int) -> Api:
    log = mission.logs / "api.log"
    register_log("api", log)
    argv = [
        sys.executable,
        "-m",
        "mpcs.cli",
        "api",
        "serve",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    env = {**mission.env, "MPCS_METRICS_PORT": str(metrics_port)}
    proc = spawn(argv, log=log, env=env, die_with_parent=True)
    return Api(
        url=f"http://127.0.0.1:{port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}",
        proc=proc,
        argv=argv,
        env=env,
        log=log,
    )


async def _wait_ready(api: Api, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        while time.monotonic() < deadline:
            assert api.proc.poll() is None, f"api exited: {api.log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                response = await http.get("/readyz")
                if response.status_code == 200:
                    return
                last = response.text
            await asyncio.sleep(0.25)
    raise AssertionError(f"API not ready within {timeout_s} s: {last}")


@pytest.fixture(scope="module")
async def api(mission: Mission, simulator: None, ingest: None) -> AsyncIterator[Api]:
    server = _start_api(mission, free_port(), free_port())
    try:
        await _wait_ready(server)
        yield server
    finally:
        stop_group(server.proc.pid, proc=server.proc)


@pytest.fixture
async def http(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


# --- tests --------------------------------------------------------------------------------------


async def test_probes_on_both_ports(api: Api, http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json()["status"] == "ok"
    ready = (await http.get("/readyz")).json()
    assert ready["checks"] == {"kafka": "ok", "influxdb": "ok"}
    async with httpx.AsyncClient(base_url=api.metrics_url) as probe:
        assert (await probe.get("/readyz")).status_code == 200
        assert "mpcs_api_requests_total" in (await probe.get("/metrics")).text
    assert (await http.get("/docs")).status_code == 200


async def test_satellites_and_passes_from_the_kubernetes_api(
    http: httpx.AsyncClient, mission: Mission
) -> None:
    body = (await http.get("/api/v1/satellites", headers=_auth(VIEWER))).json()
    assert [s["name"] for s in body["data"]] == ["firewatch-1", "firewatch-2"]
    assert body["count"] == 2
    assert all(s["mission"] == mission.name for s in body["data"])
    one = (await http.get("/api/v1/satellites/firewatch-1", headers=_auth(VIEWER))).json()
    assert one["tle"]["line1"].startswith("1 63201U")
    passes = (
        await http.get(
            "/api/v1/satellites/firewatch-1/passes", params={"hours": 24}, headers=_auth(VIEWER)
        )
    ).json()
    assert passes["count"] > 5
    assert {p["station"] for p in passes["data"]} == {"svalbard", "inuvik"}


async def test_set_mode_round_trip_to_the_simulator(
    http: httpx.AsyncClient, mission: Mission
) -> None:
    latest_url = "/api/v1/satellites/firewatch-1/telemetry/latest"

    async def latest() -> dict[str, Any] | None:
        response = await http.get(latest_url, headers=_auth(VIEWER))
        return response.json() if response.status_code == 200 else None

    before = await eventually_async(latest, timeout_s=60, what="first telemetry")
    assert before["source"] == "stream"
    assert "power.battery_soc_pct" in before["channels"]
    target = "SAFE" if before["mode"] != "SAFE" else "NOMINAL"

    response = await http.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "SET_MODE", "args": {"mode": target}},
        headers=_auth(OPERATOR),
    )
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["state"] == "sent"
    command_id = sent["id"]

    done = (
        await http.get(f"/api/v1/commands/{command_id}", params={"wait": 20}, headers=_auth(VIEWER))
    ).json()
    assert done["state"] == "executed", done
    states = [e["state"] for e in done["history"]]
    assert states == ["sent", "accepted", "executed"]
    times = [e["time"] for e in done["history"]]
    assert times == sorted(times)

    async def mode_changed() -> bool:
        now = await latest()
        return bool(now and now["mode"] == target)

    await eventually_async(mode_changed, timeout_s=15, what=f"telemetry mode {target}")

    listed = (
        await http.get(
            "/api/v1/commands", params={"satellite": "firewatch-1"}, headers=_auth(VIEWER)
        )
    ).json()
    assert command_id in [c["id"] for c in listed["data"]]

    # Audited: an event on the events topic and points in the `commands` measurement.
    events = await _read_topic(
        mission, mission.topic(Topic.EVENTS), lambda e: _is_event(e, command_id)
    )
    assert any(e["who"] == "operator" and e["result"] == "sent" for e in events)

    async def audit_points() -> list[dict[str, Any]]:
        flux = (
            f'from(bucket: "{mission.bucket}") |> range(start: -1h) '
            f'|> filter(fn: (r) => r._measurement == "commands" and r.id == "{command_id}" '
            'and r._field == "who")'
        )
        rows = await _flux(mission, flux)
        return rows if {r["state"] for r in rows} >= {"sent", "accepted", "executed"} else []

    rows = await eventually_async(audit_points, timeout_s=15, what="audit points")
    assert {r["_value"] for r in rows} == {"operator"}


def _is_event(event: dict[str, Any], command_id: str) -> bool:
    return bool(event.get("command", {}).get("id") == command_id)


async def _read_topic(mission: Mission, name: str, match: Any) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        name, bootstrap_servers=mission.conn.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    try:
        while not found and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [m for m in (orjson.loads(r.value) for r in records) if match(m)]
    finally:
        await consumer.stop()
    return found


async def _flux(mission: Mission, flux: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=mission.conn.influx_url, timeout=10) as client:
        response = await client.post(
            "/api/v2/query",
            params={"org": mission.conn.influx_org},
            headers={
                "Authorization": f"Token {mission.conn.influx_token}",
                "Accept": "application/csv",
            },
            json={"query": flux, "type": "flux", "dialect": {"annotations": ["datatype"]}},
        )
    assert response.status_code == 200, response.text
    return parse_annotated_csv(response.text)


async def test_errors_are_4xx_with_reasons(http: httpx.AsyncClient) -> None:
    url = "/api/v1/satellites/firewatch-1/commands"
    response = await http.post(url, json={"name": "PING"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await http.post(url, json={"name": "PING"}, headers=_auth("wrong"))
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]
    response = await http.post(url, json={"name": "PING"}, headers=_auth(VIEWER))
    assert response.status_code == 403
    assert "needs the operator role" in response.json()["detail"]
    response = await http.post(
        url,
        json={"name": "UPDATE_TLE", "args": {"line1": "x", "line2": "y"}, "confirm": True},
        headers=_auth(OPERATOR),
    )
    assert response.status_code == 403
    assert "critical" in response.json()["detail"]
    response = await http.post(
        "/api/v1/satellites/nope/commands", json={"name": "PING"}, headers=_auth(OPERATOR)
    )
    assert response.status_code == 404
    assert "'nope'" in response.json()["detail"]
    response = await http.post(
        url, json={"name": "RESET_SUBSYSTEM", "args": {"subsystem": "comms"}}, headers=_auth(ADMIN)
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("confirm:")
    response = await http.post(
        url, json={"name": "SET_MODE", "args": {"mode": "SLEEP"}}, headers=_auth(OPERATOR)
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "args", "mode"]
    assert "'SLEEP' is not one of SAFE" in response.json()["detail"][0]["msg"]
    response = await http.get(
        "/api/v1/satellites/firewatch-1/telemetry",
        params={"channel": "power.soc"},
        headers=_auth(VIEWER),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "channel", 0]


async def test_idempotency_key_survives_a_restart(
    api: Api, http: httpx.AsyncClient, mission: Mission
) -> None:
    headers = {**_auth(OPERATOR), "Idempotency-Key": f"it-{uuid.uuid4()}"}
    url = "/api/v1/satellites/firewatch-1/commands"
    first = await http.post(url, json={"name": "PING"}, headers=headers)
    again = await http.post(url, json={"name": "PING"}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    command_id = first.json()["id"]
    done = await http.get(
        f"/api/v1/commands/{command_id}", params={"wait": 20}, headers=_auth(VIEWER)
    )
    assert done.json()["state"] == "executed"
    await asyncio.sleep(1.5)  # the audit writer flushes at once; leave it a moment

    # Restart the service: history and the key come back from InfluxDB.
    port = int(api.url.rsplit(":", 1)[1])
    stop_group(api.proc.pid, proc=api.proc)
    restarted = _start_api(mission, port, int(api.metrics_url.rsplit(":", 1)[1]))
    api.proc = restarted.proc
    await _wait_ready(restarted)

    async def restored() -> dict[str, Any] | None:
        response = await http.get(f"/api/v1/commands/{command_id}", headers=_auth(VIEWER))
        return response.json() if response.status_code == 200 else None

    body = await eventually_async(restored, timeout_s=20, what="restored command")
    assert [e["state"] for e in body["history"]] == ["sent", "accepted", "executed"]
    replay = await http.post(url, json={"name": "PING"}, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["id"] == command_id


async def test_telemetry_series_and_the_influxdb_fallback(
    http: httpx.AsyncClient, mission: Mission
) -> None:
    async def series() -> list[dict[str, Any]]:
        response = await http.get(
            "/api/v1/satellites/firewatch-1/telemetry",
            params={
                "channel": ["power.battery_soc_pct", "obc.fdir_latched"],
                "start": "-10m",
                "every": "5s",
            },
            headers=_auth(VIEWER),
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data if all(len(c["points"]) >= 2 for c in data) else []

    data = await eventually_async(series, timeout_s=60, what="stored telemetry series")
    assert data[0]["unit"] == "%"
    assert all(0 <= p["value"] <= 100 for p in data[0]["points"])
    assert data[1]["fn"] == "last"

    # firewatch-2 has no simulator: its latest values can only come from InfluxDB.
    stamp = time.time_ns()
    lines = [
        f"power,satellite=firewatch-2 battery_soc_pct=42.5,battery_voltage_v=7.9 {stamp}",
        f'obc,satellite=firewatch-2 mode="SAFE",seq=7i,uptime_s=12i {stamp}',
    ]
    async with httpx.AsyncClient(base_url=mission.conn.influx_url) as client:
        response = await client.post(
            "/api/v2/write",
            params={"org": mission.conn.influx_org, "bucket": mission.bucket, "precision": "ns"},
            headers={"Authorization": f"Token {mission.bucket_token}"},
            content="\n".join(lines),
        )
        assert response.status_code == 204, response.text
    body = (
        await http.get("/api/v1/satellites/firewatch-2/telemetry/latest", headers=_auth(VIEWER))
    ).json()
    assert body["source"] == "influxdb"
    assert body["mode"] == "SAFE"
    assert body["seq"] == 7
    assert body["channels"]["power.battery_soc_pct"] == 42.5
    assert body["channels"]["obc.uptime_s"] == 12


async def test_websocket_stream(api: Api) -> None:
    import websockets

    base = api.url.replace("http://", "ws://") + "/api/v1/satellites/firewatch-1/telemetry/stream"
    async with websockets.connect(f"{base}?token={VIEWER}") as ws:
        seqs = []
        for _ in range(3):
            message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            assert message["satellite"] == "firewatch-1"
            seqs.append(message["seq"])
    assert seqs == sorted(seqs)
    assert seqs[-1] > seqs[0]
    async with websockets.connect(base, additional_headers=_auth(VIEWER)) as ws:
        assert orjson.loads(await asyncio.wait_for(ws.recv(), timeout=15))["seq"] >= 0
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(f"{base}?token=wrong"):
            pass
    assert caught.value.response.status_code == 401


def test_schemathesis_finds_no_server_error(api: Api) -> None:
    """Property-based requests from the live OpenAPI (admin token): no 5xx, responses conform."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # Name the live satellite so that the satellite routes get past their 404 to the real logic.
    config = api.log.parent / "schemathesis.toml"
    config.write_text('[parameters]\n"path.sat" = "firewatch-1"\n')
    argv = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{api.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {ADMIN}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--max-examples",
        "15",
        "--max-failures",
        "5",
        "--request-timeout",
        "30",
        "--seed",
        "1",
        "--exclude-path",
        "/metrics",
        "--no-color",
    ]
    import subprocess

    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    (api.log.parent / "schemathesis.log").write_text(output)
    assert result.returncode == 0, output[-6000:]
