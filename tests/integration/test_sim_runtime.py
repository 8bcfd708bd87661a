"""`mpcs sim run` against the real Kafka broker of the dev stack.

One simulator runtime per test, on topics of a fresh mission name: telemetry flows keyed by the
satellite, commands for it are executed and acknowledged, invalid commands go to the DLQ with the
reason, and a broker restart mid-run loses no sample (the sequence numbers have no gap).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from mpcs.core.commands import Command
from mpcs.core.names import Topic, topic
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.core.telemetry import decode
from mpcs.simulator.runtime import RuntimeSettings, SimulatorRuntime

pytestmark = pytest.mark.integration

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
NAMESPACE = "simtest"


def _spec() -> SimulatorConfig:
    return SimulatorConfig.model_validate(
        {
            "satellite": "sat-a",
            "spec": {
                "missionRef": {"name": "simtest"},
                "tle": {"line1": ISS_L1, "line2": ISS_L2},
                "telemetryIntervalSeconds": 0.2,
                "simulator": {"seed": 1, "timeScale": 50},
            },
            "groundStations": [
                {"name": "tls", "spec": {"latitudeDeg": 43.56, "longitudeDeg": 1.48}}
            ],
        }
    )


async def _create_topics(bootstrap: str, mission: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topic(NAMESPACE, mission, kind), num_partitions=3, replication_factor=1)
                for kind in Topic
            ]
        )
    finally:
        await admin.close()


@pytest.fixture
async def runtime(kafka_bootstrap: str) -> AsyncIterator[SimulatorRuntime]:
    mission = f"m{uuid.uuid4().hex[:8]}"
    await _create_topics(kafka_bootstrap, mission)
    settings = RuntimeSettings(
        kafka_bootstrap=kafka_bootstrap,
        namespace=NAMESPACE,
        mission=mission,
        satellite="sat-a",
        sim_request_timeout_ms=3000,
        metrics_port=0,  # a free port: tests may run several simulators at once
    )
    sim = SimulatorRuntime(settings, _spec())
    task = asyncio.create_task(sim.run())
    try:
        yield sim
    finally:
        sim.stop()
        await asyncio.wait_for(task, timeout=60)


async def _read(
    bootstrap: str, name: str, *, until: Any, timeout_s: float = 60.0
) -> list[tuple[bytes | None, bytes]]:
    """Read `name` from the beginning until `until(records)` is true."""
    consumer = AIOKafkaConsumer(name, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not until(records):
            assert time.monotonic() < deadline, f"timed out reading {name}: {len(records)} records"
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend((r.key, r.value) for r in part)
    finally:
        await consumer.stop()
    return records


async def _send(bootstrap: str, name: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(name, key=key, value=value)
    finally:
        await producer.stop()


async def test_telemetry_flows_keyed_by_satellite(
    runtime: SimulatorRuntime, kafka_bootstrap: str
) -> None:
    records = await _read(kafka_bootstrap, runtime.telemetry_topic, until=lambda r: len(r) >= 10)
    messages = [decode(value) for _, value in records]  # validates every message
    assert {key for key, _ in records} == {b"sat-a"}
    assert [m["seq"] for m in messages[:10]] == list(range(10))
    # 0.2 s of wall time is 10 s of spacecraft time at 50x.
    assert messages[1]["time"] > messages[0]["time"]


async def test_commands_are_executed_acked_and_invalid_ones_go_to_the_dlq(
    runtime: SimulatorRuntime, kafka_bootstrap: str
) -> None:
    await asyncio.wait_for(runtime.consumer_ready.wait(), timeout=60)
    ping = Command(satellite="sat-a", name="PING", issued_by="it")
    safe = Command(satellite="sat-a", name="SET_MODE", args={"mode": "SAFE"}, issued_by="it")
    other = Command(satellite="sat-b", name="PING", issued_by="it")
    bad_id = uuid.uuid4()
    bad = orjson.dumps(
        {
            "id": str(bad_id),
            "satellite": "sat-a",
            "name": "SET_MODE",
            "args": {"mode": "NAP"},
            "issued_by": "it",
        }
    )
    commands = runtime.commands_topic
    for key, value in [
        (b"sat-a", ping.model_dump_json().encode()),
        (b"sat-b", other.model_dump_json().encode()),
        (b"sat-a", bad),
        (b"sat-a", b"not json"),
        (b"sat-a", safe.model_dump_json().encode()),
    ]:
        await _send(kafka_bootstrap, commands, key, value)

    acks = await _read(kafka_bootstrap, runtime.acks_topic, until=lambda r: len(r) >= 5)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for key, value in acks:
        assert key == b"sat-a"
        ack = orjson.loads(value)
        by_id.setdefault(ack["command_id"], []).append(ack)
    assert [a["state"] for a in by_id[str(ping.id)]] == ["accepted", "executed"]
    assert [a["state"] for a in by_id[str(safe.id)]] == ["accepted", "executed"]
    rejected = by_id[str(bad_id)]
    assert [a["state"] for a in rejected] == ["rejected"]
    assert "args.mode" in rejected[0]["reason"] or "'mode'" in rejected[0]["reason"]
    assert str(other.id) not in by_id  # another satellite's command is not ours to answer

    dlq = await _read(kafka_bootstrap, runtime.dlq_topic, until=lambda r: len(r) >= 2)
    reasons = [orjson.loads(value)["reason"] for _, value in dlq]
    assert any("NAP" in r for r in reasons)
    assert any("json" in r.lower() for r in reasons)

    def safe_seen(records: list[tuple[bytes | None, bytes]]) -> bool:
        return any(orjson.loads(v)["mode"] == "SAFE" for _, v in records)

    await _read(kafka_bootstrap, runtime.telemetry_topic, until=safe_seen)


async def test_broker_restart_loses_no_sample(
    runtime: SimulatorRuntime,
    kafka_bootstrap: str,
    stack: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mpcs.simulator")
    await _read(kafka_bootstrap, runtime.telemetry_topic, until=lambda r: len(r) >= 5)
    await asyncio.to_thread(stack.kafka.stop)
    await asyncio.sleep(4.0)  # ~20 samples produced while the broker is down
    assert runtime.stats.samples > runtime.stats.produced
    await asyncio.to_thread(stack.kafka.start)
    if hasattr(stack.kafka, "wait_ready"):
        await asyncio.to_thread(stack.kafka.wait_ready)
    produced_during_outage = runtime.stats.samples
    target = produced_during_outage + 10

    def caught_up(records: list[tuple[bytes | None, bytes]]) -> bool:
        return len({orjson.loads(v)["seq"] for _, v in records}) >= target

    records = await _read(kafka_bootstrap, runtime.telemetry_topic, until=caught_up, timeout_s=120)
    seqs = sorted({orjson.loads(v)["seq"] for _, v in records})
    assert seqs == list(range(len(seqs))), "a sample was lost across the broker restart"
    assert runtime.stats.outages >= 1
    text = caplog.text
    assert "Kafka unreachable" in text
    assert "Kafka reachable again" in text


async def _get(port: int, path: str) -> tuple[int, bytes]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
        response = await http.get(path)
    return response.status_code, response.content


async def test_probes_and_metrics_are_served_on_the_metrics_port(
    runtime: SimulatorRuntime, kafka_bootstrap: str
) -> None:
    deadline = time.monotonic() + 60
    while not runtime.health.port:
        assert time.monotonic() < deadline, "the health server did not start"
        await asyncio.sleep(0.1)
    port = runtime.health.port
    assert await _get(port, "/healthz") == (200, b'{"status":"ok"}')
    status, body = await _get(port, "/readyz")
    while status != 200:  # ready once both producers deliver and the consumer is in its group
        assert status == 503
        assert b"not" in body  # the reason names what is not connected yet
        assert time.monotonic() < deadline, f"never ready: {body!r}"
        await asyncio.sleep(0.2)
        status, body = await _get(port, "/readyz")
    assert orjson.loads(body)["satellite"] == "sat-a"
    await _read(kafka_bootstrap, runtime.telemetry_topic, until=lambda r: len(r) >= 3)
    status, body = await _get(port, "/metrics")
    assert status == 200
    metrics = body.decode()
    assert "mpcs_sim_ready 1.0" in metrics
    samples = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("mpcs_sim_samples_total ")
    )
    assert samples >= 3
