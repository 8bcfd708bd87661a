"""`mpcs ingest run` as a real subprocess against the dev stack's Kafka and InfluxDB.

Each test provisions a fresh mission the way the operator does (topics through the Kafka admin
API with the operator's topic specs, a bucket and its bucket-scoped token through the InfluxDB
API), produces simulator telemetry keyed by satellite, and checks what InfluxDB holds with Flux:
exact counts per satellite and measurement, every sequence number present once (a re-written
point overwrites itself, so counts of writes come from the ingest's metrics, not from storage).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from utils.logs import register_log
from utils.waiting import eventually_async

from mpcs.core.names import SUBSYSTEM_MEASUREMENTS, Topic, bucket, topic
from mpcs.core.resources import KafkaSettings, SatelliteSpec
from mpcs.core.telemetry import CHANNELS, encode
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import ConnectionInfo, DevStack
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.simulator import Spacecraft

pytestmark = pytest.mark.integration

NAMESPACE = "ingt"
ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
#: Fields per stored message: the catalogued channels plus `mode` and `seq` on the obc point.
FIELDS_PER_MESSAGE = len(CHANNELS) + 2


# --------------------------------------------------------------------------- mission set-up
@dataclass
class Mission:
    name: str
    bucket: str
    token: str
    conn: ConnectionInfo

    @property
    def telemetry(self) -> str:
        return topic(NAMESPACE, self.name, Topic.TELEMETRY)

    @property
    def dlq(self) -> str:
        return topic(NAMESPACE, self.name, Topic.DLQ)

    def env(self, metrics_port: int, **extra: str) -> dict[str, str]:
        return {
            "MPCS_NAMESPACE": NAMESPACE,
            "MPCS_MISSION": self.name,
            "MPCS_KAFKA_BOOTSTRAP": self.conn.kafka_bootstrap_servers,
            "MPCS_INFLUX_URL": self.conn.influx_url,
            "MPCS_INFLUX_ORG": self.conn.influx_org,
            "MPCS_INFLUX_BUCKET": self.bucket,
            "MPCS_INFLUX_TOKEN": self.token,  # bucket-scoped, as the operator's Secret holds
            "MPCS_METRICS_PORT": str(metrics_port),
            "MPCS_INGEST_PROBE_INTERVAL_S": "0.5",
            **extra,
        }


@pytest.fixture
async def mission(conn: ConnectionInfo, unique: str) -> AsyncIterator[Mission]:
    name = f"m{unique}"
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(mission_topics(NAMESPACE, name, KafkaSettings(partitions=3)))
    finally:
        await topics.close()
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:
        state = await buckets.ensure_bucket(bucket(NAMESPACE, name), retention_seconds=30 * 86400)
        yield Mission(name=name, bucket=state.name, token=state.token, conn=conn)
    finally:
        await buckets.close()


# --------------------------------------------------------------------------- the ingest process
@dataclass
class IngestProcess:
    mission: Mission
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: Any = None

    def start(self) -> None:
        self.proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "ingest", "run"],
            log=self.log,
            env=self.mission.env(self.port, **self.extra_env),
            die_with_parent=True,
        )

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        stop_group(self.proc.pid, proc=self.proc, timeout_s=30)
        return int(self.proc.returncode)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_group(self.proc.pid, proc=self.proc, timeout_s=30)

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=3.0) as client:
            return await client.get(f"http://127.0.0.1:{self.port}{path}")

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            response = await self.get("/readyz")
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()

    async def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        async def ready() -> dict[str, Any] | None:
            status, body = await self.readyz()
            return body if status == 200 and body.get("partitions") else None

        return await eventually_async(
            ready, timeout_s=timeout_s, what=f"ingest ready (log {self.log})"
        )

    async def metric(self, name: str) -> float:
        text = (await self.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"metric {name} not in /metrics")


@pytest.fixture
def ingests(mission: Mission) -> Iterator[list[IngestProcess]]:
    """The ingest processes a test started (`new_ingest` appends); all stopped at the end."""
    started: list[IngestProcess] = []
    yield started
    for proc in started:
        proc.stop()


def new_ingest(
    started: list[IngestProcess], mission: Mission, tmp_path: Path, **env: str
) -> IngestProcess:
    log = tmp_path / f"ingest-{len(started)}.log"
    register_log("ingests", log)
    process = IngestProcess(mission=mission, log=log, extra_env=env)
    process.start()
    started.append(process)
    return process


# --------------------------------------------------------------------------- telemetry
class Fleet:
    """Simulated satellites producing real telemetry messages, one per `advance`."""

    def __init__(self, names: list[str]) -> None:
        spec = SatelliteSpec.model_validate(
            {"missionRef": {"name": "m"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
        )
        start = (time.time_ns() // 10**9 - 6 * 3600) * 10**9  # inside the bucket's retention
        self.crafts = [Spacecraft(n, spec, start=start) for n in names]
        self.sent: dict[str, list[int]] = {n: [] for n in names}

    def messages(self) -> list[dict[str, Any]]:
        """The next message of every satellite."""
        batch = []
        for craft in self.crafts:
            message = craft.telemetry()
            craft.advance(1.0)
            batch.append(message)
        return batch


class Producer:
    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=10
        )

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, name: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        await self._producer.send(name, key=key, value=value, partition=partition)

    async def flush(self) -> None:
        await self._producer.flush()


async def produce(
    producer: Producer, mission: Mission, fleet: Fleet, rounds: int, *, partitions: bool = False
) -> None:
    for _ in range(rounds):
        for i, message in enumerate(fleet.messages()):
            fleet.sent[message["satellite"]].append(message["seq"])
            await producer.send(
                mission.telemetry,
                key=message["satellite"].encode(),
                value=encode(message),
                partition=i % 3 if partitions else None,
            )
    await producer.flush()


# --------------------------------------------------------------------------- InfluxDB
async def flux(mission: Mission, query: str) -> list[dict[str, str]]:
    async with httpx.AsyncClient(
        base_url=mission.conn.influx_url,
        headers={"Authorization": f"Token {mission.conn.influx_token}", "Accept": "text/csv"},
        timeout=30.0,
    ) as client:
        response = await client.post(
            "/api/v2/query",
            params={"org": mission.conn.influx_org},
            json={"query": query, "dialect": {"annotations": [], "header": True}},
        )
    assert response.status_code == 200, response.text
    rows = [r for r in csv.DictReader(io.StringIO(response.text)) if r.get("_value") is not None]
    return rows


async def stored_seqs(mission: Mission) -> dict[str, list[int]]:
    """Sequence numbers stored per satellite (obc.seq): one per distinct (series, time)."""
    rows = await flux(
        mission,
        f'from(bucket: "{mission.bucket}") |> range(start: 1970-01-01T00:00:00Z) '
        '|> filter(fn: (r) => r._measurement == "obc" and r._field == "seq") '
        '|> keep(columns: ["satellite", "_value", "_time"])',
    )
    result: dict[str, list[int]] = {}
    for row in rows:
        result.setdefault(row["satellite"], []).append(int(row["_value"]))
    return {k: sorted(v) for k, v in result.items()}


async def field_counts(mission: Mission) -> dict[tuple[str, str], int]:
    """Stored field values per (measurement, satellite)."""
    rows = await flux(
        mission,
        f'from(bucket: "{mission.bucket}") |> range(start: 1970-01-01T00:00:00Z) '
        '|> group(columns: ["_measurement", "satellite"]) |> count()',
    )
    return {(r["_measurement"], r["satellite"]): int(r["_value"]) for r in rows}


async def wait_stored(mission: Mission, fleet: Fleet, timeout_s: float = 120.0) -> None:
    want = {name: sorted(seqs) for name, seqs in fleet.sent.items()}

    async def check() -> bool:
        return await stored_seqs(mission) == want

    try:
        await eventually_async(check, timeout_s=timeout_s, what="every produced message stored")
    except AssertionError:
        got = await stored_seqs(mission)
        summary = {k: (len(v), len(got.get(k, []))) for k, v in want.items()}
        raise AssertionError(f"(produced, stored) per satellite: {summary}") from None


async def assert_exact(mission: Mission, fleet: Fleet) -> None:
    """Every produced message stored exactly once: seqs and per-measurement field counts."""
    seqs = await stored_seqs(mission)
    assert seqs == {name: sorted(sent) for name, sent in fleet.sent.items()}
    counts = await field_counts(mission)
    per_sub = {sub: 0 for sub in SUBSYSTEM_MEASUREMENTS}
    for channel in CHANNELS:
        per_sub[channel.subsystem] += 1
    per_sub["obc"] += 2  # mode, seq
    expected = {
        (sub, name): n * len(sent)
        for name, sent in fleet.sent.items()
        for sub, n in per_sub.items()
    }
    assert counts == expected
    assert sum(expected.values()) == FIELDS_PER_MESSAGE * sum(len(s) for s in fleet.sent.values())


async def read_dlq(mission: Mission, count: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        mission.dlq,
        bootstrap_servers=mission.conn.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(orjson.loads(r.value) for r in part)
    finally:
        await consumer.stop()
    return records


# --------------------------------------------------------------------------- tests
async def test_every_message_of_two_satellites_is_stored_once(
    mission: Mission, ingests: list[IngestProcess], tmp_path: Path
) -> None:
    fleet = Fleet(["sat-a", "sat-b"])
    async with Producer(mission.conn.kafka_bootstrap_servers) as producer:
        await produce(producer, mission, fleet, rounds=600)
    ingest = new_ingest(ingests, mission, tmp_path)
    ready = await ingest.wait_ready()
    assert ready["topic"] == mission.telemetry
    assert ready["bucket"] == mission.bucket
    await wait_stored(mission, fleet)
    await assert_exact(mission, fleet)

    # Values arrive with their types: spot-check the last message of sat-b against Flux.
    last = fleet.crafts[1]
    rows = await flux(
        mission,
        f'from(bucket: "{mission.bucket}") |> range(start: 1970-01-01T00:00:00Z) '
        '|> filter(fn: (r) => r._measurement == "obc" and r.satellite == "sat-b") '
        '|> filter(fn: (r) => r._field == "seq" or r._field == "mode" or '
        'r._field == "boot_count") |> last()',
    )
    by_field = {r["_field"]: r["_value"] for r in rows}
    assert by_field["seq"] == str(599)
    assert by_field["mode"] == last.mode.value
    assert by_field["boot_count"] == "1"

    # Metrics: exact totals; lag drops to zero once everything is committed.
    messages = 2 * 600
    assert await ingest.metric('mpcs_ingest_messages_total{result="stored"}') == messages
    assert await ingest.metric("mpcs_ingest_points_total") == messages * 7
    assert await ingest.metric("mpcs_ingest_channel_values_total") == messages * len(CHANNELS)
    assert await ingest.metric("mpcs_ingest_batch_latency_seconds_count") >= 1

    async def lag_zero() -> bool:
        return await ingest.metric("mpcs_ingest_consumer_lag_total") == 0

    await eventually_async(lag_zero, timeout_s=30, what="consumer lag 0")
    assert ingest.terminate() == 0  # SIGTERM: flush, commit, clean exit


async def test_invalid_messages_go_to_the_dlq_and_valid_ones_keep_flowing(
    mission: Mission, ingests: list[IngestProcess], tmp_path: Path
) -> None:
    fleet = Fleet(["sat-a", "sat-b"])
    ingest = new_ingest(ingests, mission, tmp_path)
    await ingest.wait_ready()
    template = fleet.messages()[0]  # never sent as is: the base of the invalid variants

    def variant(change: Any) -> bytes:
        message = orjson.loads(encode(template))
        change(message)
        return encode(message)

    invalid = [
        (b"{this is not json", "$", "not JSON"),
        (variant(lambda m: m.update(version=7)), "version", "7 is not 1"),
        (
            variant(lambda m: m["power"].update(flux_capacitor_w=1.21e9)),
            "power.flux_capacitor_w",
            "unknown channel",
        ),
        (
            variant(lambda m: m["power"].update(battery_soc_pct=140.0)),
            "power.battery_soc_pct",
            "outside 0..100",
        ),
    ]
    async with Producer(mission.conn.kafka_bootstrap_servers) as producer:
        await produce(producer, mission, fleet, rounds=100)
        for payload, _field, _reason in invalid:
            await producer.send(mission.telemetry, key=b"sat-a", value=payload)
        await produce(producer, mission, fleet, rounds=100)

        dlq = await read_dlq(mission, len(invalid))
        assert len(dlq) == len(invalid)
        by_field = {d["field"]: d for d in dlq}
        for payload, field_path, reason in invalid:
            record = by_field[field_path]
            assert reason in record["reason"]
            assert record["value"] == payload.decode()
            assert record["topic"] == mission.telemetry
            assert record["key"] == "sat-a"
            assert isinstance(record["partition"], int)
            assert isinstance(record["offset"], int)
            assert record["source"] == "ingest"
        # The consumer never stopped: later valid messages are stored too.
        await produce(producer, mission, fleet, rounds=50)
    await wait_stored(mission, fleet)
    await assert_exact(mission, fleet)
    assert await ingest.metric("mpcs_ingest_dlq_total") == len(invalid)


async def test_kill_9_mid_stream_then_restart_loses_nothing_and_stores_each_sample_once(
    mission: Mission,
    ingests: list[IngestProcess],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """At-least-once across a kill -9, told apart by the messages' sequence numbers.

    InfluxDB overwrites a point written again with the same series and time, so what is stored
    cannot show a re-written message; the sequence numbers can count them. The seqs stored when
    the first process died are what it wrote; the second process must then write at least every
    other message (nothing lost), and whatever it wrote beyond those is a re-delivery of what the
    first wrote but had not committed. Storage holds each seq once, at its own time: a re-delivery
    stored under another time (a second point) would repeat a seq in `stored_seqs`.
    """
    fleet = Fleet(["sat-a", "sat-b"])
    small_batches = {"MPCS_INGEST_BATCH_POINTS": "700", "MPCS_INGEST_LINGER_MS": "50"}
    first = new_ingest(ingests, mission, tmp_path, **small_batches)
    await first.wait_ready()
    async with Producer(mission.conn.kafka_bootstrap_servers) as producer:

        async def stream() -> None:
            for _ in range(30):
                await produce(producer, mission, fleet, rounds=50)
                await asyncio.sleep(0.1)

        streaming = asyncio.create_task(stream())

        async def some_stored() -> bool:
            return await first.metric('mpcs_ingest_messages_total{result="stored"}') >= 600

        await eventually_async(some_stored, timeout_s=60, what="first ingest stored some messages")
        first.kill9()  # no flush, no commit, no leaving the group
        assert not streaming.done()
        by_first = sum(len(v) for v in (await stored_seqs(mission)).values())
        second = new_ingest(ingests, mission, tmp_path, **small_batches)
        await streaming
    await second.wait_ready(timeout_s=90)  # the dead member's session must expire first
    await wait_stored(mission, fleet)
    await assert_exact(mission, fleet)
    produced = sum(len(s) for s in fleet.sent.values())
    assert produced == 2 * 30 * 50
    assert 600 <= by_first < produced
    by_second = await second.metric('mpcs_ingest_messages_total{result="stored"}')
    # Nothing lost: the second process wrote everything the first had not.
    assert by_second >= produced - by_first, (by_second, produced, by_first)
    # Re-deliveries are expected (at-least-once) and harmless (same points); how many, recorded.
    record_property("re-delivered messages after kill -9", int(by_second - (produced - by_first)))


async def test_influxdb_outage_turns_unready_then_catches_up_without_loss(
    stack: DevStack, mission: Mission, ingests: list[IngestProcess], tmp_path: Path
) -> None:
    fleet = Fleet(["sat-a", "sat-b"])
    ingest = new_ingest(ingests, mission, tmp_path, MPCS_INGEST_RETRY_MAX_MS="1000")
    await ingest.wait_ready()
    async with Producer(mission.conn.kafka_bootstrap_servers) as producer:
        await produce(producer, mission, fleet, rounds=100)
        await wait_stored(mission, fleet)

        stop = asyncio.Event()

        async def stream() -> None:
            while not stop.is_set():
                await produce(producer, mission, fleet, rounds=10)
                await asyncio.sleep(0.2)

        streaming = asyncio.create_task(stream())
        await asyncio.to_thread(stack.influx.stop)
        try:

            async def unready() -> dict[str, Any] | None:
                status, body = await ingest.readyz()
                return body if status == 503 else None

            body = await eventually_async(
                unready, timeout_s=20, what="/readyz 503 while InfluxDB is down"
            )
            assert body["status"] == "unready"
            assert "InfluxDB" in body["reason"]
            assert body["kafka"] == "ok"
            await asyncio.sleep(20)
            status, body = await ingest.readyz()
            assert status == 503, body
        finally:
            stack.influx.start()  # from this (the spawning) thread: parent-death signal
            await asyncio.to_thread(stack.influx.wait_ready)
        await asyncio.sleep(3)
        stop.set()
        await streaming
    await ingest.wait_ready(timeout_s=60)
    await wait_stored(mission, fleet, timeout_s=180)
    await assert_exact(mission, fleet)
    assert await ingest.metric('mpcs_ingest_write_errors_total{kind="unreachable"}') > 0


async def test_two_ingests_in_one_group_split_the_partitions(
    mission: Mission, ingests: list[IngestProcess], tmp_path: Path
) -> None:
    fleet = Fleet([f"sat-{i}" for i in range(6)])  # satellite i → partition i % 3
    first = new_ingest(ingests, mission, tmp_path)
    await first.wait_ready()
    second = new_ingest(ingests, mission, tmp_path)

    async def split() -> tuple[list[int], list[int]] | None:
        # Until the rebalance settles, the first member may still report all partitions.
        (s1, b1), (s2, b2) = await first.readyz(), await second.readyz()
        if s1 != 200 or s2 != 200:
            return None
        mine, theirs = b1["partitions"], b2["partitions"]
        if not mine or not theirs or set(mine) & set(theirs):
            return None
        return mine, theirs

    mine, theirs = await eventually_async(
        split, timeout_s=90, what="both ingests own disjoint partitions"
    )
    assert sorted(mine + theirs) == [0, 1, 2]
    async with Producer(mission.conn.kafka_bootstrap_servers) as producer:
        await produce(producer, mission, fleet, rounds=200, partitions=True)
    await wait_stored(mission, fleet)
    await assert_exact(mission, fleet)
    stored = [
        await p.metric('mpcs_ingest_messages_total{result="stored"}') for p in (first, second)
    ]
    assert all(n > 0 for n in stored), stored
    assert sum(stored) >= 6 * 200  # at least once: a late rebalance may re-deliver a batch
