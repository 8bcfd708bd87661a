"""The command API's defences against the real dev stack: `mpcs api serve` as its own process,
real Kafka, InfluxDB and kube-apiserver.

Every refusal (401, 403, 413, 415, 422, 429, a refused CORS preflight) answers with its status
and reason, leaves an audit event on the mission's events topic and nothing on the telemetry or
commands topics; tokens never reach the log; telemetry posted over HTTP lands on the telemetry
topic keyed by satellite; a token rotated in the tokens folder (a mounted Secret) is honoured
by the running process, with no restart. The API's tokens come from a folder, as in a pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import httpx
import orjson
import pytest
import websockets
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from kubernetes.client import ApiClient
from utils.kube import EXAMPLES, Custom, install_crds, temporary_namespace
from utils.logs import register_log
from utils.waiting import eventually_async

from mpcs.core.names import Topic, bucket, topic
from mpcs.core.resources import MissionSpec, SatelliteSpec
from mpcs.core.telemetry import decode, encode
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import ConnectionInfo
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.simulator import Spacecraft

pytestmark = pytest.mark.integration

SAT = "firewatch-1"
TOKENS = {
    "viewer": "live-viewer-0123456789",
    "operator": "live-operator-0123456789",
    "admin": "live-admin-0123456789",
    "ingest": "live-ingest-0123456789",
}
#: A second viewer token, kept for the rate-limit test (each token has its own budget).
RATE_VIEWER = "live-rate-viewer-0123456789"
BURST = 40
MISSION_SPEC: dict[str, Any] = {
    "groundStations": [],
    "kafka": {"partitions": 1, "replicationFactor": 1, "retentionHours": 24},
}


@dataclass
class Api:
    url: str
    proc: Any
    log: Path
    tokens_dir: Path
    namespace: str
    mission: str
    bootstrap: str

    def topic(self, kind: Topic) -> str:
        return topic(self.namespace, self.mission, kind)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _satellite(mission: str) -> dict[str, Any]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Satellite"]
    source = next(d for d in docs if d["metadata"]["name"] == SAT)
    spec = {**source["spec"], "missionRef": {"name": mission}}
    return {
        "apiVersion": source["apiVersion"],
        "kind": "Satellite",
        "metadata": {"name": SAT},
        "spec": spec,
    }


def _write_tokens(folder: Path, tokens: dict[str, str]) -> None:
    """Replace the files as the kubelet updates a mounted Secret: whole, by a rename."""
    for role, text in tokens.items():
        temporary = folder / f".{role}.tmp"
        temporary.write_text(text)
        os.replace(temporary, folder / role)


@pytest.fixture(scope="module")
def hardening_namespace(kube_client: ApiClient) -> Iterator[str]:
    with temporary_namespace(kube_client, f"t-harden-{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="module")
async def api(
    kube_client: ApiClient,
    hardening_namespace: str,
    conn: ConnectionInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    namespace, mission = hardening_namespace, f"m{uuid.uuid4().hex[:8]}"
    install_crds(kube_client)
    custom = Custom(kube_client, namespace)
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": mission},
            "spec": MISSION_SPEC,
        }
    )
    custom.create(_satellite(mission))
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(
            mission_topics(namespace, mission, MissionSpec.model_validate(MISSION_SPEC).kafka)
        )
    finally:
        await topics.close()
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:
        state = await buckets.ensure_bucket(bucket(namespace, mission), retention_seconds=86_400)
    finally:
        await buckets.close()
    workdir = tmp_path_factory.mktemp("api-hardening")
    tokens_dir = workdir / "tokens"
    tokens_dir.mkdir()
    _write_tokens(tokens_dir, {**TOKENS, "viewer": f"{TOKENS['viewer']}\n{RATE_VIEWER}\n"})
    log = workdir / "api.log"
    register_log("api", log)
    port = free_port()
    env = {
        "KUBECONFIG": conn.kubeconfig,
        "MPCS_NAMESPACE": namespace,
        "MPCS_MISSION": mission,
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": state.token,
        "MPCS_METRICS_PORT": str(free_port()),
        "MPCS_EXECUTOR_ENABLED": "false",
        "MPCS_API_TOKENS_DIR": str(tokens_dir),
        "MPCS_API_TOKENS_RELOAD_S": "0.2",
        "MPCS_API_MAX_BODY_BYTES": "4096",
        "MPCS_API_TELEMETRY_MAX_BYTES": "65536",
        # Nearly no refill: how many requests pass depends on the burst only, not on timing.
        "MPCS_API_RATE_LIMIT_PER_S": "0.001",
        "MPCS_API_RATE_LIMIT_BURST": str(BURST),
        "MPCS_API_CONSOLE_ORIGIN": "https://console.example.org",
        "MPCS_LOG_LEVEL": "DEBUG",
    }
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
    proc = spawn(argv, log=log, env=env, die_with_parent=True)
    server = Api(
        url=f"http://127.0.0.1:{port}",
        proc=proc,
        log=log,
        tokens_dir=tokens_dir,
        namespace=namespace,
        mission=mission,
        bootstrap=conn.kafka_bootstrap_servers,
    )
    try:
        await _wait_ready(server)
        yield server
    finally:
        stop_group(proc.pid, proc=proc)


async def _wait_ready(api: Api, timeout_s: float = 90.0) -> None:
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


@pytest.fixture
async def http(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


async def _records(bootstrap: str, name: str) -> list[Any]:
    """Every record of a topic, from its beginning to its end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        if not partitions:
            await consumer._client.set_topics([name])
            partitions = [
                TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while True:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(p >= ends[tp] for p, tp in zip(positions, partitions, strict=True)):
                return records
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records += batch
    finally:
        await consumer.stop()


def _messages(count: int) -> list[dict[str, Any]]:
    spec = SatelliteSpec.model_validate(_satellite("m")["spec"])
    craft = Spacecraft(SAT, spec, start=time.time_ns())
    out = []
    for _ in range(count):
        craft.advance(10.0)
        out.append(decode(encode(craft.telemetry())))
    return out


# --- tests --------------------------------------------------------------------------------------


async def test_every_refusal_is_answered_audited_and_sends_nothing(
    api: Api, http: httpx.AsyncClient
) -> None:
    commands_url = f"/api/v1/satellites/{SAT}/commands"
    telemetry_url = f"/api/v1/satellites/{SAT}/telemetry"
    json_type = {"Content-Type": "application/json"}
    bad_batch = _messages(3)
    bad_batch[2]["power"]["battery_soc_pct"] = -5.0
    cases: list[tuple[int, str, str]] = []

    async def check(status: int, reason: str, response: httpx.Response, words: str) -> None:
        assert response.status_code == status, response.text
        assert words in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        cases.append((status, reason, response.request.url.path))

    await check(
        401, "unauthenticated", await http.get("/api/v1/satellites"), "bearer token is required"
    )
    await check(
        401,
        "unauthenticated",
        await http.get("/api/v1/satellites", headers=_auth("not-a-token")),
        "not valid",
    )
    await check(
        403,
        "forbidden",
        await http.post(commands_url, json={"name": "PING"}, headers=_auth(TOKENS["viewer"])),
        "needs the operator role",
    )
    await check(
        403,
        "forbidden",
        await http.get("/api/v1/satellites", headers=_auth(TOKENS["ingest"])),
        "needs the viewer role",
    )
    await check(
        413,
        "too_large",
        await http.post(
            commands_url,
            content=b'{"name": "PING", "x": "' + b"y" * 5000 + b'"}',
            headers={**_auth(TOKENS["operator"]), **json_type},
        ),
        "larger than 4096 bytes",
    )
    await check(
        413,
        "too_large",
        await http.post(
            telemetry_url,
            content=b"[" + b" " * 70_000 + b"]",
            headers={**_auth(TOKENS["ingest"]), **json_type},
        ),
        "larger than 65536 bytes",
    )
    await check(
        415,
        "unsupported_media_type",
        await http.post(
            telemetry_url,
            content=b"{}",
            headers={**_auth(TOKENS["ingest"]), "Content-Type": "text/csv"},
        ),
        "Content-Type",
    )
    await check(
        422,
        "invalid",
        await http.post(telemetry_url, json=bad_batch, headers=_auth(TOKENS["ingest"])),
        '"loc":["body",2,"power","battery_soc_pct"]',
    )
    await check(
        422,
        "invalid",
        await http.post(
            commands_url,
            content=b'{"name": "SET_HEATER", "args": {"heater": "battery", '
            b'"state": "AUTO", "setpoint_c": NaN}}',
            headers={**_auth(TOKENS["operator"]), **json_type},
        ),
        '"loc":["body","args","setpoint_c"]',
    )
    await check(
        400,
        "cors_origin",
        await http.options(
            "/api/v1/satellites",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        ),
        "Disallowed CORS origin",
    )
    # A WebSocket's token travels in its URL: refused, audited, and kept out of the log.
    stream = f"ws{api.url.removeprefix('http')}/api/v1/satellites/{SAT}/telemetry/stream"
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(f"{stream}?token=ws-not-a-token"):
            pass
    assert caught.value.response.status_code == 401
    cases.append((401, "unauthenticated", f"/api/v1/satellites/{SAT}/telemetry/stream"))
    async with websockets.connect(f"{stream}?token={TOKENS['viewer']}") as ws:
        await ws.close()

    async def audited() -> list[dict[str, Any]]:
        records = await _records(api.bootstrap, api.topic(Topic.EVENTS))
        events = [orjson.loads(r.value) for r in records]
        refused = [e for e in events if e.get("result") == "refused"]
        # Keyed by satellite or mission, the events sit on several partitions: their order is
        # the order they were stamped (the requests were made one after the other).
        refused.sort(key=lambda e: e["time"])
        return refused if len(refused) >= len(cases) else []

    events = await eventually_async(audited, timeout_s=30, what="an audit event per refusal")
    assert len(events) == len(cases)
    for (status, reason, path), event in zip(cases, events, strict=True):
        assert event["status"] == status
        assert event["result"] == "refused"
        if event["type"] == "command":  # the command route audits its own refusals
            assert event["command"]["name"] == "SET_HEATER"
            assert "setpoint_c" in event["reason"]
        else:
            assert event["reason"] == reason
            assert event["path"] == path
    assert [e["who"] for e in events[:4]] == ["anonymous", "anonymous", "viewer", "ingest"]
    # Nothing was sent: no command, no telemetry.
    assert await _records(api.bootstrap, api.topic(Topic.COMMANDS)) == []
    assert await _records(api.bootstrap, api.topic(Topic.TELEMETRY)) == []
    metrics = (await http.get("/metrics")).text
    assert 'mpcs_api_refusals_total{reason="too_large"} 2.0' in metrics
    assert 'mpcs_api_refusals_total{reason="unauthenticated"} 3.0' in metrics
    # Tokens never reach the log, not even the one that was wrong.
    text = api.log.read_text()
    assert "request refused" in text
    assert "token=[redacted]" in text  # uvicorn logged the WebSocket paths, redacted
    for token in [*TOKENS.values(), RATE_VIEWER, "not-a-token"]:
        assert token not in text


async def test_telemetry_posted_lands_on_the_topic_keyed_by_satellite(
    api: Api, http: httpx.AsyncClient
) -> None:
    batch = _messages(5)
    ndjson = gzip.compress(b"".join(orjson.dumps(m) + b"\n" for m in batch[:3]))
    response = await http.post(
        f"/api/v1/satellites/{SAT}/telemetry",
        content=ndjson,
        headers={
            **_auth(TOKENS["ingest"]),
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 3
    response = await http.post(
        f"/api/v1/satellites/{SAT}/telemetry",
        content=bytes(cramjam.zstd.compress(orjson.dumps(batch[3:]))),
        headers={
            **_auth(TOKENS["ingest"]),
            "Content-Type": "application/json",
            "Content-Encoding": "zstd",
        },
    )
    assert response.status_code == 202, response.text

    async def landed() -> list[Any]:
        records = await _records(api.bootstrap, api.topic(Topic.TELEMETRY))
        return records if len(records) >= 5 else []

    records = await eventually_async(landed, timeout_s=30, what="5 telemetry records")
    assert [r.key for r in records] == [SAT.encode()] * 5
    assert [decode(r.value) for r in records] == batch


async def test_a_token_over_its_rate_is_429_with_retry_after(
    api: Api, http: httpx.AsyncClient
) -> None:
    codes = [
        (await http.get("/api/v1/satellites", headers=_auth(RATE_VIEWER))).status_code
        for _ in range(BURST + 1)
    ]
    assert codes == [200] * BURST + [429]
    limited = await http.get("/api/v1/satellites", headers=_auth(RATE_VIEWER))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    # Another token of the same role keeps its own budget.
    ok = await http.get("/api/v1/satellites", headers=_auth(TOKENS["viewer"]))
    assert ok.status_code == 200

    async def audited() -> list[dict[str, Any]]:
        records = await _records(api.bootstrap, api.topic(Topic.EVENTS))
        return [e for e in map(orjson.loads, (r.value for r in records)) if e["status"] == 429]

    events = await eventually_async(audited, timeout_s=30, what="the 429 audited")
    # The second 429 is written on its own only if it came a second after the first.
    assert 1 <= len(events) <= 2
    event = events[0]
    assert (event["who"], event["reason"], event["path"]) == (
        "viewer",
        "rate_limited",
        "/api/v1/satellites",
    )
    metrics = (await http.get("/metrics")).text
    assert 'mpcs_api_refusals_total{reason="rate_limited"} 2.0' in metrics


async def test_a_rotated_token_is_honoured_without_a_restart(
    api: Api, http: httpx.AsyncClient
) -> None:
    pid = api.proc.pid
    new = "live-operator-rotated-9876543210"
    old = TOKENS["operator"]
    _write_tokens(api.tokens_dir, {"operator": f"{old}\n{new}\n"})  # both, while clients move

    async def accepted(token: str) -> bool:
        response = await http.get("/api/v1/commands/dictionary", headers=_auth(token))
        return response.status_code == 200

    await eventually_async(lambda: accepted(new), timeout_s=30, what="the new token accepted")
    assert await accepted(old)
    _write_tokens(api.tokens_dir, {"operator": f"{new}\n"})  # the old one withdrawn

    async def refused_old() -> bool:
        response = await http.get("/api/v1/commands/dictionary", headers=_auth(old))
        return response.status_code == 401

    await eventually_async(refused_old, timeout_s=30, what="the old token refused")
    assert await accepted(new)
    assert api.proc.poll() is None
    assert api.proc.pid == pid  # the same process: no restart
    metrics = (await http.get("/metrics")).text
    assert "mpcs_api_token_reloads_total 2.0" in metrics
    assert new not in api.log.read_text()
