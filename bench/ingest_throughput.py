"""Ingest throughput: channel values/s Kafka → InfluxDB vs direct batched writes; freshness.

One run starts its own Kafka and InfluxDB (the dev stack's servers; the control plane and moto
are not started, so they take no CPU from the path being measured) and then, in interleaved rounds
on fresh buckets and topics, measures with the same simulator telemetry (each round starts with
another path and every path waits until InfluxDB is idle, so no path pays for the background
work of the one before; CPU seconds of InfluxDB, Kafka, the ingest and the bench are recorded
per path, which shows where the two cores went):

- direct/httpx:  the messages' line protocol (encoded beforehand, not timed) POSTed to
  `/api/v2/write` in batches of the ingest's size, one request in flight — the ingest's own writer;
- direct/influxdb-client:  the same batches through `influxdb-client`'s async write API;
- ingest:  the messages pre-loaded into the mission topic (compressed as `mpcs sim run` sends
  them), then `mpcs ingest run` as a subprocess drains the backlog: from /readyz green
  (partitions assigned) until `mpcs_ingest_channel_values_total` reaches the total — decoding,
  validation, encoding, writes and commits included;
- freshness:  a producer at a fixed rate for a while, with the ingest running; a poller asks
  InfluxDB (Flux `last()` of `obc.seq` per satellite) every 100 ms which samples are queryable;
  freshness = first poll that sees a sample − the moment it was handed to the producer.

Writes bench/results/ingest_throughput.json and .md (ingest_report.py summarises and renders).
Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/ingest_throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaProducer
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from ingest_report import render, summarise
from machine import machine
from profiling import start_py_spy, stop_py_spy

from mpcs.core.names import Topic, bucket, topic
from mpcs.core.resources import KafkaSettings, SatelliteSpec
from mpcs.core.telemetry import CHANNELS, KAFKA_COMPRESSION, encode
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import DevStack
from mpcs.kit.influx import InfluxBucket
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.simulator import Spacecraft
from mpcs.workloads.ingest.lineprotocol import encode_message

RESULTS = Path(__file__).parent / "results"
NAMESPACE = "bench"
ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
VALUES_PER_MESSAGE = len(CHANNELS)
BATCH_POINTS = 5_000  # the ingest's default MPCS_INGEST_BATCH_POINTS
MESSAGES_PER_BATCH = BATCH_POINTS // 7
WRITE_CONCURRENCY = 2  # the ingest's default MPCS_INGEST_WRITE_CONCURRENCY


# --------------------------------------------------------------------------- data
def telemetry(satellites: int, steps: int) -> list[dict[str, Any]]:
    """`satellites × steps` real telemetry messages (two simulated craft, renamed per satellite)."""
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
    )
    start = (time.time_ns() // 10**9 - 12 * 3600) * 10**9
    base = []
    for seed_name in ("base-a", "base-b"):
        craft = Spacecraft(seed_name, spec, start=start)
        series = []
        for _ in range(steps):
            series.append(craft.telemetry())
            craft.advance(1.0)
        base.append(series)
    messages = []
    for step in range(steps):
        for i in range(satellites):
            message = dict(base[i % 2][step])
            message["satellite"] = f"sat-{i:03d}"
            messages.append(message)
    return messages


# --------------------------------------------------------------------------- set-up helpers
def cpu_seconds(pid: int | None, *, children: bool = True) -> float:
    """User+system CPU of a process (and its children) so far (0 once it is gone)."""
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if children else ())]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class Env:
    def __init__(self, stack: DevStack) -> None:
        self.conn = stack.connection_info()
        self.counter = 0
        self.pids = {"kafka": stack.kafka.pid, "influxdb": stack.influx.pid, "bench": os.getpid()}

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each server and by this process (diffed around a path).

        The servers are this process's children: the bench counts itself alone.
        """
        return {name: cpu_seconds(pid, children=name != "bench") for name, pid in self.pids.items()}

    async def settle(self, timeout_s: float = 20.0) -> None:
        """Wait until InfluxDB is idle (the previous path's compactions done) before a path.

        Without it whichever path comes after a large write pays for that write's background
        work, which biased the comparison by the order of the paths.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            before = cpu_seconds(self.pids["influxdb"])
            await asyncio.sleep(0.5)
            if cpu_seconds(self.pids["influxdb"]) - before < 0.05:  # under 10% of a core
                return

    def cpu_since(self, before: dict[str, float]) -> dict[str, float]:
        """CPU seconds used by each server and by this process since `before = cpu()`."""
        now = self.cpu()
        return {name: now[name] - before[name] for name in before}

    def next_mission(self) -> str:
        self.counter += 1
        return f"r{self.counter}x{os.getpid()}"

    async def bucket(self, name: str) -> str:
        """Create a bucket; returns its bucket-scoped token."""
        buckets = InfluxBuckets(
            url=self.conn.influx_url, org=self.conn.influx_org, token=self.conn.influx_token
        )
        try:
            state = await buckets.ensure_bucket(name, retention_seconds=7 * 86400)
        finally:
            await buckets.close()
        return state.token

    async def topics(self, mission: str) -> None:
        admin = KafkaTopics(self.conn.kafka_bootstrap_servers)
        try:
            await admin.ensure_topics(
                mission_topics(NAMESPACE, mission, KafkaSettings(partitions=3))
            )
        finally:
            await admin.close()

    def client(self, name: str, token: str | None = None) -> InfluxBucket:
        """The kit's InfluxDB client for bucket `name` (what the ingest writes and reads with)."""
        return InfluxBucket(
            url=self.conn.influx_url,
            org=self.conn.influx_org,
            bucket=name,
            token=token or self.conn.influx_token,
            timeout_s=60.0,
        )

    async def query(self, name: str, flux: str) -> list[dict[str, Any]]:
        """The typed rows of a Flux query on bucket `name`."""
        client = self.client(name)
        try:
            return await client.query(flux)
        finally:
            await client.close()

    async def count(self, name: str) -> int:
        """Stored channel values (mode/seq excluded) in bucket `name`."""
        query = (
            f'from(bucket: "{name}") |> range(start: 1970-01-01T00:00:00Z) '
            '|> filter(fn: (r) => r._field != "mode" and r._field != "seq") '
            "|> group() |> count()"
        )
        rows = await self.query(name, query)
        return int(rows[0]["_value"]) if rows else 0


def batches(lines: list[bytes]) -> list[bytes]:
    return [
        b"".join(lines[i : i + MESSAGES_PER_BATCH])
        for i in range(0, len(lines), MESSAGES_PER_BATCH)
    ]


# --------------------------------------------------------------------------- measurements
async def direct_httpx(
    env: Env, bodies: list[bytes], values: int, concurrency: int
) -> dict[str, Any]:
    name = f"{NAMESPACE}.direct-httpx-{env.next_mission()}"
    writer = env.client(name, await env.bucket(name))
    todo = list(reversed(bodies))

    async def worker() -> None:
        while todo:
            await writer.write(todo.pop())

    try:
        cpu0, started = env.cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - started, env.cpu_since(cpu0)
    finally:
        await writer.close()
    return await direct_result(env, name, values, seconds, cpu)


async def direct_influxdb_client(env: Env, bodies: list[bytes], values: int) -> dict[str, Any]:
    name = f"{NAMESPACE}.direct-client-{env.next_mission()}"
    token = await env.bucket(name)
    async with InfluxDBClientAsync(
        url=env.conn.influx_url, token=token, org=env.conn.influx_org, timeout=60_000
    ) as client:
        write_api = client.write_api()
        cpu0, started = env.cpu(), time.perf_counter()
        for body in bodies:
            await write_api.write(bucket=name, record=body)
        seconds, cpu = time.perf_counter() - started, env.cpu_since(cpu0)
    return await direct_result(env, name, values, seconds, cpu)


async def direct_result(
    env: Env, name: str, values: int, seconds: float, cpu: dict[str, float]
) -> dict[str, Any]:
    """A direct path's rate, what its bucket `name` holds afterwards, and CPU by process."""
    stored = await env.count(name)
    return {
        "seconds": seconds,
        "values_per_s": values / seconds,
        "stored_values": stored,
        "cpu_s": cpu,
    }


class IngestProc:
    def __init__(self, env: Env, mission: str, token: str, log: Path) -> None:
        self.port = free_port()
        self.proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "ingest", "run"],
            log=log,
            env={
                "MPCS_NAMESPACE": NAMESPACE,
                "MPCS_MISSION": mission,
                "MPCS_KAFKA_BOOTSTRAP": env.conn.kafka_bootstrap_servers,
                "MPCS_INFLUX_URL": env.conn.influx_url,
                "MPCS_INFLUX_ORG": env.conn.influx_org,
                "MPCS_INFLUX_TOKEN": token,
                "MPCS_METRICS_PORT": str(self.port),
                "MPCS_INGEST_PROBE_INTERVAL_S": "0.5",
                "MPCS_INGEST_WRITE_CONCURRENCY": str(WRITE_CONCURRENCY),
            },
            die_with_parent=True,
        )
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=5.0)

    async def ready(self) -> bool:
        try:
            response = await self.http.get("/readyz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("partitions"))

    async def metrics(self) -> dict[str, float]:
        text = (await self.http.get("/metrics")).text
        out = {}
        for line in text.splitlines():
            if line.startswith("mpcs_ingest_") and " " in line:
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    async def stop(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(stop_group, self.proc.pid, proc=self.proc, timeout_s=30)


def make_producer(env: Env, **extra: Any) -> AIOKafkaProducer:
    """A telemetry producer configured as `mpcs sim run`'s (idempotent, zstd, 20 ms linger)."""
    return AIOKafkaProducer(
        bootstrap_servers=env.conn.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        compression_type=KAFKA_COMPRESSION,
        linger_ms=20,
        **extra,
    )


async def produce_all(env: Env, mission: str, payloads: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(env, max_batch_size=256 * 1024)
    await producer.start()
    try:
        name = topic(NAMESPACE, mission, Topic.TELEMETRY)
        for key, value in payloads:
            await producer.send(name, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {what}")
        await asyncio.sleep(0.05)


async def ingest_backlog(
    env: Env, payloads: list[tuple[bytes, bytes]], values: int, logs: Path
) -> dict[str, Any]:
    mission = env.next_mission()
    await env.topics(mission)
    token = await env.bucket(bucket(NAMESPACE, mission))
    await produce_all(env, mission, payloads)
    proc = IngestProc(env, mission, token, logs / f"ingest-{mission}.log")
    try:
        await wait_for(proc.ready, 120, "ingest ready")
        # Kept after the run (the work directory is not): /tmp/ingest-<mission>.pyspy.txt
        profile = Path(tempfile.gettempdir()) / f"ingest-{mission}.pyspy.txt"
        profiler = start_py_spy(proc.proc.pid, profile, rate=100)
        started, servers_cpu0 = time.perf_counter(), env.cpu()
        ingest_cpu0 = cpu_seconds(proc.proc.pid, children=False)
        # The ingest starts fetching as soon as its partitions are assigned, a poll or so before
        # /readyz is seen green: count only what it stored after the clock started.
        stored_before = (await proc.metrics()).get("mpcs_ingest_channel_values_total", 0)
        last = await wait_drained(proc, values, started)
        seconds, servers_cpu = time.perf_counter() - started, env.cpu_since(servers_cpu0)
        cpu_s = cpu_seconds(proc.proc.pid, children=False) - ingest_cpu0
        batches = last.get("mpcs_ingest_batches_total", 0)
        write_s = last.get("mpcs_ingest_write_seconds_sum", 0)
        await asyncio.to_thread(stop_py_spy, profiler, profile)
    finally:
        await proc.stop()
    stored = await env.count(bucket(NAMESPACE, mission))
    return {
        "seconds": seconds,
        "values_per_s": (values - stored_before) / seconds,
        "stored_before_clock": stored_before,
        "stored_values": stored,
        "batches": int(batches),
        "mean_write_ms": 1000 * write_s / max(1, batches),
        "cpu_us_per_message": 1e6 * cpu_s / (len(payloads) * (1 - stored_before / values)),
        "cpu_s": servers_cpu | {"ingest": cpu_s},
    }


async def wait_drained(proc: IngestProc, values: int, started: float) -> dict[str, float]:
    """Poll the ingest's /metrics until it stored `values`; returns the last scrape.

    Polls sparsely while much is left and every 20 ms near the end: scraping at a fixed 20 Hz
    cost the ingest (serving) and the bench (parsing) ~0.1 CPU s per million values, CPU that
    the direct paths do not spend.
    """
    deadline = time.monotonic() + 600
    while True:
        last = await proc.metrics()
        stored = last.get("mpcs_ingest_channel_values_total", 0)
        if stored >= values:
            return last
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: backlog ingested ({stored:,.0f} of {values:,})")
        rate = stored / max(1e-3, time.perf_counter() - started)
        left_s = (values - stored) / rate if rate > 0 else 0.5
        await asyncio.sleep(min(0.5, max(0.02, left_s / 2)))


async def freshness(
    env: Env, messages: list[dict[str, Any]], rate: float, duration_s: float, logs: Path
) -> dict[str, Any]:
    mission = env.next_mission()
    await env.topics(mission)
    name = bucket(NAMESPACE, mission)
    token = await env.bucket(name)
    proc = IngestProc(env, mission, token, logs / f"ingest-{mission}-fresh.log")
    producer = make_producer(env)
    produced_at: dict[tuple[str, int], float] = {}
    seen_at: dict[tuple[str, int], float] = {}
    stop = asyncio.Event()
    try:
        await wait_for(proc.ready, 120, "ingest ready")
        await producer.start()
        count = min(len(messages), int(rate * duration_s))

        async def send() -> None:
            name_topic = topic(NAMESPACE, mission, Topic.TELEMETRY)
            t0 = time.monotonic()
            for i, message in enumerate(messages[:count]):
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                produced_at[(message["satellite"], message["seq"])] = time.monotonic()
                await producer.send(
                    name_topic, key=message["satellite"].encode(), value=encode(message)
                )
            await producer.flush()

        async def poll() -> None:
            query = (
                f'from(bucket: "{name}") |> range(start: -7d) '
                '|> filter(fn: (r) => r._measurement == "obc" and r._field == "seq") '
                '|> last() |> keep(columns: ["satellite", "_value"])'
            )
            latest: dict[str, int] = {}
            while not stop.is_set():
                rows = await env.query(name, query)
                now = time.monotonic()
                for row in rows:
                    sat, seq = row["satellite"], int(row["_value"])
                    previous = latest.get(sat, -1)
                    for s in range(previous + 1, seq + 1):
                        seen_at.setdefault((sat, s), now)
                    latest[sat] = max(previous, seq)
                await asyncio.sleep(0.1)

        poller = asyncio.create_task(poll())
        await send()
        keys = list(produced_at)

        async def all_seen() -> bool:
            return all(k in seen_at for k in keys)

        try:
            await wait_for(all_seen, 120, "every sample queryable")
        finally:
            stop.set()
            await poller
        metrics = await proc.metrics()
    finally:
        await producer.stop()
        await proc.stop()
    lags = sorted(seen_at[k] - produced_at[k] for k in keys)

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))]

    return {
        "rate_messages_per_s": rate,
        "rate_values_per_s": rate * VALUES_PER_MESSAGE,
        "messages": len(keys),
        "p50_s": pct(0.50),
        "p90_s": pct(0.90),
        "p99_s": pct(0.99),
        "max_s": lags[-1],
        "ingest_mean_freshness_s": metrics.get("mpcs_ingest_freshness_seconds_sum", 0)
        / max(1, metrics.get("mpcs_ingest_freshness_seconds_count", 1)),
    }


async def main_async(quick: bool, workdir: Path) -> dict[str, Any]:
    satellites, steps = (10, 300) if quick else (40, 1000)
    rounds = 1 if quick else 4  # with 4 paths, each path takes each place in the order once
    load_before = os.getloadavg()[0]
    print(f"generating {satellites * steps:,} telemetry messages", flush=True)
    messages = telemetry(satellites, steps)
    values = len(messages) * VALUES_PER_MESSAGE
    lines = [encode_message(m) for m in messages]
    bodies = batches(lines)
    payloads = [(m["satellite"].encode(), encode(m)) for m in messages]

    stack = DevStack(workdir / "stack", die_with_parent=True)
    stack.kafka.prepare()
    stack.kafka.start()
    stack.influx.start()
    try:
        stack.kafka.wait_ready()
        stack.influx.wait_ready()
        env = Env(stack)
        measures = {
            "direct_httpx_1": lambda: direct_httpx(env, bodies, values, 1),
            "direct_httpx_2": lambda: direct_httpx(env, bodies, values, 2),
            "direct_influxdb_client": lambda: direct_influxdb_client(env, bodies, values),
            "ingest": lambda: ingest_backlog(env, payloads, values, workdir),
        }
        runs: dict[str, list[dict[str, Any]]] = {key: [] for key in measures}
        keys = list(measures)
        for r in range(rounds):
            load = os.getloadavg()[0]
            # Each round starts with another path, so that no path always follows the same one.
            for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
                await env.settle()
                result = await measures[key]()
                # CPU seconds per million channel values, by process, while the clock ran.
                result["cpu_s_per_million_values"] = {
                    name: round(1e6 * cpu_s / values, 3) for name, cpu_s in result["cpu_s"].items()
                }
                result["load_1min"] = load
                runs[key].append(result)
                print(f"round {r + 1} {key}: {result['values_per_s']:,.0f} values/s", flush=True)
        summary = summarise(runs)
        ingest_msgs_per_s = summary["ingest"] / VALUES_PER_MESSAGE
        rate = min(1_000.0, 0.5 * ingest_msgs_per_s)
        duration = 10.0 if quick else 30.0
        fresh_messages = telemetry(50, int(rate * duration / 50) + 1)
        fresh = await freshness(env, fresh_messages, rate, duration, workdir)
        print(f"freshness p99 {fresh['p99_s']:.3f} s at {rate:,.0f} messages/s", flush=True)
    finally:
        stack.stop()
    return {
        "messages": len(messages),
        "values": values,
        "rounds": rounds,
        "batch_points": BATCH_POINTS,
        "write_concurrency": WRITE_CONCURRENCY,
        "runs": runs,
        "summary": summary,
        "freshness": fresh,
        "machine": {
            **machine(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpcs-bench-ingest-") as tmp:
        result = asyncio.run(main_async(args.quick, Path(tmp)))
    RESULTS.mkdir(exist_ok=True)
    name = "ingest_throughput" + ("_quick" if args.quick else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    report = render(result)
    (RESULTS / f"{name}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
