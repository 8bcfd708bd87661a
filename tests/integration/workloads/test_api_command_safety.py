"""Command authority and two-person approval against the live API (issue 17): two replicas of
`mpcs api serve` for one mission on the real Kafka, InfluxDB and kube-apiserver.

Each refusal is checked for its status, its reason, its audit event on the mission's events
topic, and that nothing reached the commands topic (read as every MPCS consumer reads it,
read_committed). The replicas must agree (both fold the events topic), a race for authority has
one winner, and a restarted replica still knows who holds what and which commands wait.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from aiokafka import AIOKafkaConsumer, TopicPartition
from kubernetes.client import ApiClient
from utils.kube import Custom, install_crds, temporary_namespace
from utils.logs import register_log
from utils.waiting import eventually_async

from mpcs.core.names import Topic, bucket, topic
from mpcs.core.resources import MissionSpec
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import ConnectionInfo
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics

pytestmark = pytest.mark.integration

L1 = "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992"
L2 = "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043"
ALICE, BOB = "it-alice-admin-token-1", "it-bob-admin-token-002"
CAROL, DAVE = "it-carol-operator-tok-1", "it-dave-operator-tok-02"
SHARED_ADMIN = "it-shared-admin-token"
USERS = f"alice:admin:{ALICE},bob:admin:{BOB},carol:operator:{CAROL},dave:operator:{DAVE}"
SATELLITES = ("sat-auth", "sat-race", "sat-crit", "sat-restart")
RESET = {"name": "RESET_SUBSYSTEM", "args": {"subsystem": "comms"}, "confirm": True}
MISSION_SPEC: dict[str, Any] = {
    "groundStations": [],
    "kafka": {"partitions": 3, "replicationFactor": 1, "retentionHours": 24},
}


@dataclass
class Replica:
    url: str
    env: dict[str, str]
    log: Path
    proc: Any = None

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        self.proc = spawn(
            [
                sys.executable,
                "-m",
                "mpcs.cli",
                "api",
                "serve",
                "--port",
                port,
                "--host",
                "127.0.0.1",
            ],
            log=self.log,
            env={**self.env, "MPCS_METRICS_PORT": str(free_port())},
            die_with_parent=True,
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc.pid, proc=self.proc)
            self.proc = None

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                assert self.proc.poll() is None, f"api exited: {self.log.read_text()[-3000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise AssertionError(f"API {self.url} not ready within {timeout_s} s")


@dataclass
class Setup:
    namespace: str
    mission: str
    bootstrap: str
    a: Replica
    b: Replica

    def topic(self, kind: Topic) -> str:
        return topic(self.namespace, self.mission, kind)


@pytest.fixture(scope="module")
def safety_namespace(kube_client: ApiClient) -> Iterator[str]:
    with temporary_namespace(kube_client, f"t-safety-{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="module")
async def setup(
    kube_client: ApiClient,
    safety_namespace: str,
    conn: ConnectionInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Setup]:
    mission = f"m{uuid.uuid4().hex[:8]}"
    install_crds(kube_client)
    custom = Custom(kube_client, safety_namespace)
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": mission},
            "spec": MISSION_SPEC,
        }
    )
    for name in SATELLITES:
        custom.create(
            {
                "apiVersion": "mpcs.io/v1alpha1",
                "kind": "Satellite",
                "metadata": {"name": name},
                "spec": {
                    "missionRef": {"name": mission},
                    "noradId": 63201,
                    "tle": {"line1": L1, "line2": L2},
                    "simulator": {"enabled": False},
                },
            }
        )
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:  # the API restores its command history from the mission bucket
        await buckets.ensure_bucket(bucket(safety_namespace, mission), retention_seconds=86_400)
    finally:
        await buckets.close()
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(
            mission_topics(
                safety_namespace, mission, MissionSpec.model_validate(MISSION_SPEC).kafka
            )
        )
    finally:
        await topics.close()
    env = {
        "KUBECONFIG": conn.kubeconfig,
        "MPCS_NAMESPACE": safety_namespace,
        "MPCS_MISSION": mission,
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": conn.influx_token,
        "MPCS_API_TOKEN_ADMIN": SHARED_ADMIN,
        "MPCS_API_USERS": USERS,
        "MPCS_API_TWO_PERSON": "true",
        "MPCS_EXECUTOR_ENABLED": "false",
    }
    logs = tmp_path_factory.mktemp("api-safety")
    register_log("setup", logs / "api-a.log")
    # The approval deadline is the issuing replica's setting: b's is short (the expiry test
    # issues there), a's long enough for a restart on a busy machine.
    replicas = [
        Replica(
            url=f"http://127.0.0.1:{free_port()}",
            env={**env, "MPCS_API_APPROVAL_TIMEOUT_S": timeout},
            log=logs / f"api-{n}.log",
        )
        for n, timeout in (("a", "300"), ("b", "3"))
    ]
    for replica in replicas:
        replica.start()
    try:
        for replica in replicas:
            await replica.wait_ready()
        yield Setup(
            namespace=safety_namespace,
            mission=mission,
            bootstrap=conn.kafka_bootstrap_servers,
            a=replicas[0],
            b=replicas[1],
        )
    finally:
        await asyncio.gather(*(asyncio.to_thread(replica.stop) for replica in replicas))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _call(
    replica: Replica, method: str, path: str, token: str, json: Any = None
) -> httpx.Response:
    """One request; a 503 while the replica still reads the events topic is retried."""
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as http:
        for _ in range(120):
            response = await http.request(method, path, json=json, headers=_auth(token))
            if response.status_code != 503 or "still reading" not in response.text:
                return response
            await asyncio.sleep(0.25)
    return response


async def _read(setup: Setup, kind: Topic) -> list[dict[str, Any]]:
    """Every record of a mission topic, read_committed, up to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=setup.bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        name = setup.topic(kind)
        partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        if not partitions:
            await consumer._client.set_topics([name])
            partitions = [
                TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                found += [orjson.loads(r.value) for r in records]
        return found
    finally:
        await consumer.stop()


async def _commands_to(setup: Setup, satellite: str) -> list[dict[str, Any]]:
    return [c for c in await _read(setup, Topic.COMMANDS) if c["satellite"] == satellite]


async def _events(setup: Setup, **match: Any) -> list[dict[str, Any]]:
    return [
        e for e in await _read(setup, Topic.EVENTS) if all(e.get(k) == v for k, v in match.items())
    ]


async def _holder(replica: Replica, satellite: str) -> str | None:
    response = await _call(replica, "GET", f"/api/v1/satellites/{satellite}/authority", DAVE)
    holder: str | None = response.json()["holder"]
    return holder


def _ping(satellite: str) -> str:
    return f"/api/v1/satellites/{satellite}/commands"


# --- authority ----------------------------------------------------------------------------------


async def test_authority_refuses_others_with_423_on_every_replica(setup: Setup) -> None:
    sat = "sat-auth"
    claimed = await _call(setup.a, "POST", f"/api/v1/satellites/{sat}/authority", CAROL)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["holder"] == "carol"

    async def b_knows() -> bool:
        return await _holder(setup.b, sat) == "carol"

    await eventually_async(b_knows, timeout_s=30, what="replica b folds carol's claim")
    refused = await _call(setup.b, "POST", _ping(sat), DAVE, json={"name": "PING"})
    assert refused.status_code == 423
    assert "held by carol" in refused.json()["detail"]
    claim = await _call(setup.b, "POST", f"/api/v1/satellites/{sat}/authority", DAVE)
    assert claim.status_code == 423
    release = await _call(setup.b, "DELETE", f"/api/v1/satellites/{sat}/authority", DAVE)
    assert release.status_code == 423
    sent = await _call(setup.a, "POST", _ping(sat), CAROL, json={"name": "PING"})
    assert sent.status_code == 202, sent.text

    taken = await _call(
        setup.b, "POST", f"/api/v1/satellites/{sat}/authority", ALICE, json={"takeover": True}
    )
    assert taken.status_code == 200
    assert taken.json()["holder"] == "alice"
    # Replica a folds the take-over before its own later intent: carol's release is refused.
    old = await _call(setup.a, "DELETE", f"/api/v1/satellites/{sat}/authority", CAROL)
    assert old.status_code == 423
    assert "held by alice" in old.json()["detail"]
    freed = await _call(setup.a, "DELETE", f"/api/v1/satellites/{sat}/authority", ALICE)
    assert freed.status_code == 200

    assert [c["issued_by"] for c in await _commands_to(setup, sat)] == ["carol"]

    async def audited() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        refusal = await _events(setup, type="command", result="refused", who="dave")
        outcomes = await _events(setup, type="authority", phase="outcome", satellite=sat)
        return (refusal, outcomes) if refusal and len(outcomes) >= 6 else None

    refusal, outcomes = await eventually_async(audited, timeout_s=30, what="the audit events")
    assert refusal[0]["status"] == 423
    assert refusal[0]["command"]["satellite"] == sat
    # Audit events of two replicas: in the topic in the order each replica wrote them.
    assert sorted((o["action"], o["who"], o["status"]) for o in outcomes) == sorted(
        [
            ("claim", "carol", 200),
            ("claim", "dave", 423),
            ("release", "dave", 423),
            ("takeover", "alice", 200),
            ("release", "carol", 423),
            ("release", "alice", 200),
        ]
    )
    assert [o["previous"] for o in outcomes if o["action"] == "takeover"] == ["carol"]


async def test_a_race_for_authority_has_one_winner_both_replicas_agree_on(setup: Setup) -> None:
    sat = "sat-race"
    path = f"/api/v1/satellites/{sat}/authority"
    first, second = await asyncio.gather(
        _call(setup.a, "POST", path, CAROL), _call(setup.b, "POST", path, DAVE)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 423]
    winner = "carol" if first.status_code == 200 else "dave"

    async def agreed() -> bool:
        return await _holder(setup.a, sat) == winner == await _holder(setup.b, sat)

    await eventually_async(agreed, timeout_s=30, what=f"both replicas name {winner}")


# --- two-person approval ------------------------------------------------------------------------


async def test_a_critical_command_is_sent_once_a_second_admin_approves(setup: Setup) -> None:
    sat = "sat-crit"
    issued = await _call(setup.a, "POST", _ping(sat), ALICE, json=RESET)
    assert issued.status_code == 202, issued.text
    assert issued.json()["state"] == "awaiting_approval"
    cid = issued.json()["id"]
    shared = await _call(setup.a, "POST", _ping(sat), SHARED_ADMIN, json=RESET)
    assert shared.status_code == 403
    assert "personal admin token" in shared.json()["detail"]

    own = await _call(setup.b, "POST", f"/api/v1/commands/{cid}/approve", ALICE)
    assert own.status_code == 403
    assert "different admin" in own.json()["detail"]
    operator = await _call(setup.b, "POST", f"/api/v1/commands/{cid}/approve", CAROL)
    assert operator.status_code == 403
    assert await _commands_to(setup, sat) == []

    approved = await _call(setup.b, "POST", f"/api/v1/commands/{cid}/approve", BOB)
    assert approved.status_code == 202, approved.text
    assert approved.json()["state"] == "sent"
    again = await _call(setup.a, "POST", f"/api/v1/commands/{cid}/approve", BOB)
    assert again.status_code == 409
    sent = await _commands_to(setup, sat)
    assert [(c["id"], c["issued_by"]) for c in sent] == [(cid, "alice")]

    async def audited() -> list[dict[str, Any]]:
        found = await _events(setup, type="approval", phase="outcome", satellite=sat)
        return found if len(found) >= 5 else []

    outcomes = await eventually_async(audited, timeout_s=30, what="the approval audit")
    assert sorted((o["action"], o["who"], o["status"]) for o in outcomes) == sorted(
        [
            ("request", "alice", 202),
            ("approve", "alice", 403),
            ("approve", "carol", 403),
            ("approve", "bob", 202),
            ("approve", "bob", 409),
        ]
    )
    refused = await _events(setup, type="command", result="refused", who="admin")
    assert [e["status"] for e in refused if e["command"]["satellite"] == sat] == [403]


async def test_an_approval_not_given_in_time_expires_and_is_never_sent(setup: Setup) -> None:
    sat = "sat-crit"
    issued = await _call(setup.b, "POST", _ping(sat), ALICE, json=RESET)
    assert issued.status_code == 202, issued.text
    cid = issued.json()["id"]

    async def expired() -> bool:
        listed = await _call(setup.b, "GET", "/api/v1/approvals?state=expired", DAVE)
        return cid in [a["command"]["id"] for a in listed.json()["data"]]

    await eventually_async(expired, timeout_s=30, what="the approval expires")
    late = await _call(setup.a, "POST", f"/api/v1/commands/{cid}/approve", BOB)
    assert late.status_code == 410
    assert "expired" in late.json()["detail"]
    assert cid not in [c["id"] for c in await _commands_to(setup, sat)]
    expiries = await _events(setup, type="approval", action="expire", commandId=cid)
    assert expiries
    assert expiries[0]["issuer"] == "alice"


# --- restart ------------------------------------------------------------------------------------


async def test_a_restarted_replica_keeps_authority_and_pending_approvals(setup: Setup) -> None:
    sat = "sat-restart"
    claimed = await _call(setup.a, "POST", f"/api/v1/satellites/{sat}/authority", ALICE)
    assert claimed.status_code == 200
    issued = await _call(setup.a, "POST", _ping(sat), ALICE, json=RESET)
    assert issued.status_code == 202, issued.text
    cid = issued.json()["id"]

    setup.a.stop()
    setup.a.start()
    await setup.a.wait_ready()

    async def restored() -> bool:
        return await _holder(setup.a, sat) == "alice"

    await eventually_async(restored, timeout_s=60, what="the restarted replica's authority")
    refused = await _call(setup.a, "POST", _ping(sat), DAVE, json={"name": "PING"})
    assert refused.status_code == 423
    approved = await _call(setup.a, "POST", f"/api/v1/commands/{cid}/approve", BOB)
    assert approved.status_code == 202, approved.text
    assert [c["id"] for c in await _commands_to(setup, sat)] == [cid]
