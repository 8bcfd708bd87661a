"""`mpcs lambdas run-archive` as a real subprocess against Kafka, InfluxDB and moto's S3: it
archives the last closed hour on its own schedule, stores the product events it consumes (and
counts the invalid one), and after a SIGKILL and a restart writes nothing a second time."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer
from utils.logs import register_log
from utils.orbit import ISS
from utils.png import read_gray_png
from utils.waiting import eventually_async

from mpcs.core.names import Topic, bucket, topic
from mpcs.core.products import Product, encode_png_gray
from mpcs.core.resources import KafkaSettings, SatelliteSpec
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import ConnectionInfo
from mpcs.lambdas.archive.layout import HOUR_NS, hour_start, product_key, telemetry_key
from mpcs.operator.builders import mission_topics
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.orbit.timeutil import NS_PER_S, format_time_ns
from mpcs.simulator import Spacecraft
from mpcs.workloads.ingest.lineprotocol import encode_message

pytestmark = pytest.mark.integration

NAMESPACE = "archr"
SAMPLES = 120  # one every 30 s: the last closed hour


@dataclass
class Mission:
    name: str
    token: str
    archive_bucket: str


@pytest.fixture
async def mission(conn: ConnectionInfo, moto_endpoint: str, unique: str) -> Mission:
    name = f"m{unique}"
    topics = KafkaTopics(conn.kafka_bootstrap_servers)
    try:
        await topics.ensure_topics(mission_topics(NAMESPACE, name, KafkaSettings(partitions=2)))
    finally:
        await topics.close()
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:
        state = await buckets.ensure_bucket(bucket(NAMESPACE, name), retention_seconds=7 * 86400)
    finally:
        await buckets.close()
    s3 = s3_client(moto_endpoint)
    archive_bucket = f"archive-{unique}"
    s3.create_bucket(Bucket=archive_bucket)
    s3.put_bucket_versioning(Bucket=archive_bucket, VersioningConfiguration={"Status": "Enabled"})
    return Mission(name=name, token=state.token, archive_bucket=archive_bucket)


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def last_hour_messages(hour_ns: int) -> list[dict[str, Any]]:
    """Simulated samples re-stamped into `hour_ns` (the element set is from 2008; the contents
    are not what this test is about, their count and their hour are)."""
    line1, line2 = ISS.splitlines()[-2:]
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": line1, "line2": line2}}
    )
    craft = Spacecraft("sat-a", spec, start="2008-09-20T12:00:00Z")
    messages = []
    for k in range(SAMPLES):
        message = craft.telemetry()
        message["time"] = format_time_ns(hour_ns + k * 30 * NS_PER_S)
        messages.append(message)
        craft.advance(30)
    return messages


@dataclass
class Runner:
    env: dict[str, str]
    log: Path
    port: int
    proc: Any = None

    def start(self) -> None:
        self.proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "lambdas", "run-archive"],
            log=self.log,
            env=self.env,
            die_with_parent=True,
        )

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_group(self.proc.pid, proc=self.proc, timeout_s=30)

    async def get(self, path: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                return await client.get(f"http://127.0.0.1:{self.port}{path}")
        except httpx.HTTPError:
            return None

    async def metric(self, line_prefix: str) -> float:
        response = await self.get("/metrics")
        assert response is not None
        for line in response.text.splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.split()[-1])
        return 0.0


@pytest.fixture
def runner(
    conn: ConnectionInfo, moto_endpoint: str, mission: Mission, tmp_path: Path
) -> Iterator[Runner]:
    port = free_port()
    env = {
        **os.environ,
        "MPCS_NAMESPACE": NAMESPACE,
        "MPCS_MISSION": mission.name,
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": mission.token,
        "MPCS_ARCHIVE_BUCKET": mission.archive_bucket,
        "MPCS_ARCHIVE_INTERVAL_S": "1",
        "MPCS_ARCHIVE_CLOSE_DELAY_S": "0",
        "MPCS_ARCHIVE_MAX_CATCHUP_HOURS": "2",
        "MPCS_AWS_ENDPOINT_URL": moto_endpoint,
        "MPCS_AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MPCS_METRICS_PORT": str(port),
    }
    log = tmp_path / "archive-runner.log"
    register_log("runner", log)
    proc = Runner(env=env, log=log, port=port)
    try:
        yield proc
    finally:
        proc.stop()


def product(number: int) -> Product:
    return Product(
        satellite="sat-a",
        image_number=number,
        capture_time_ns=time.time_ns(),
        lat_deg=43.6,
        lon_deg=1.44,
        sun_elevation_deg=40.0,
        downlink_time_ns=time.time_ns(),
        station="tls",
        width=8,
        height=8,
        png=encode_png_gray(width=8, height=8, pixels=bytes(range(0, 256, 4))),
    )


def object_versions(s3: Any, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for version in page.get("Versions", []):
            if not version["Key"].endswith("_archived_through.json"):
                found.setdefault(version["Key"], []).append(version["VersionId"])
    return found


async def test_the_runner_archives_on_schedule_stores_products_and_survives_a_kill(
    conn: ConnectionInfo, moto_endpoint: str, mission: Mission, runner: Runner
) -> None:
    last_hour = hour_start(time.time_ns()) - HOUR_NS
    body = b"".join(encode_message(m) for m in last_hour_messages(last_hour))
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{conn.influx_url}/api/v2/write",
            params={"org": conn.influx_org, "bucket": bucket(NAMESPACE, mission.name)},
            headers={"Authorization": f"Token {mission.token}"},
            content=body,
        )
    assert response.status_code == 204, response.text
    s3 = s3_client(moto_endpoint)
    key = telemetry_key(NAMESPACE, mission.name, last_hour, "sat-a")

    runner.start()

    async def ready() -> bool:
        response = await runner.get("/readyz")
        return response is not None and response.status_code == 200

    await eventually_async(ready, timeout_s=60, what=f"runner ready (log {runner.log})")

    async def archived() -> bool:
        return key in object_versions(s3, mission.archive_bucket)

    await eventually_async(archived, timeout_s=60, what=f"{key} archived (log {runner.log})")
    table = pq.read_table(
        pa.BufferReader(s3.get_object(Bucket=mission.archive_bucket, Key=key)["Body"].read())
    )
    assert table.num_rows == SAMPLES

    events = topic(NAMESPACE, mission.name, Topic.EVENTS)
    good = [product(1), product(2)]
    producer = AIOKafkaProducer(bootstrap_servers=conn.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(events, b'{"version": 1, "type": "command"}', key=b"sat-a")
        await producer.send_and_wait(events, b'{"version": 1, "type": "product"}', key=b"sat-a")
        for p in good:
            await producer.send_and_wait(events, p.event(), key=b"sat-a")
    finally:
        await producer.stop()
    keys = [
        product_key(NAMESPACE, mission.name, "sat-a", p.product_id, ext)
        for p in good
        for ext in ("png", "json")
    ]

    async def stored() -> bool:
        return set(keys) <= set(object_versions(s3, mission.archive_bucket))

    await eventually_async(stored, timeout_s=30, what=f"products stored (log {runner.log})")
    png = s3.get_object(Bucket=mission.archive_bucket, Key=keys[0])["Body"].read()
    assert read_gray_png(png).pixels == bytes(range(0, 256, 4))
    metadata = orjson.loads(
        s3.get_object(Bucket=mission.archive_bucket, Key=keys[1])["Body"].read()
    )
    assert metadata["satellite"] == "sat-a"
    assert metadata["station"] == "tls"
    assert await runner.metric('mpcs_archive_products_total{outcome="invalid"}') == 1.0
    assert await runner.metric('mpcs_archive_products_total{outcome="stored"}') == 2.0
    before = object_versions(s3, mission.archive_bucket)
    assert all(len(v) == 1 for v in before.values()), before

    # Killed and restarted: it runs the schedule again and finds nothing left to write.
    runner.kill9()
    runner.start()
    await eventually_async(ready, timeout_s=60, what=f"runner ready again (log {runner.log})")

    async def ran_twice() -> bool:
        return await runner.metric('mpcs_archive_runs_total{outcome="ok"}') >= 2

    await eventually_async(ran_twice, timeout_s=30, what="two archive runs after the restart")
    assert await runner.metric("mpcs_archive_objects_total") == 0.0
    assert object_versions(s3, mission.archive_bucket) == before
