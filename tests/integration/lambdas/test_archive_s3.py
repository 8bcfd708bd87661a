"""The archive against the real servers: telemetry written to InfluxDB the way the ingest writes
it, the Lambda handler run on scheduled events, and what lands in moto's S3 (over HTTP) read back
as Parquet; a versioned bucket proves that no run, restart or catch-up writes an object twice.
Product events from the simulator become a PNG that decodes and its JSON metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest
from utils.orbit import ISS, TOULOUSE
from utils.png import read_gray_png

from mpcs.core.commands import Command
from mpcs.core.names import bucket
from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import CHANNELS
from mpcs.dev.stack import ConnectionInfo
from mpcs.lambdas.archive import handler as archive
from mpcs.lambdas.archive.handler import scheduled_event
from mpcs.lambdas.archive.layout import manifest_key, telemetry_key
from mpcs.lambdas.archive.products import decode, store_product
from mpcs.lambdas.archive.schema import SCHEMA
from mpcs.lambdas.archive.store import ArchiveStore
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.orbit.passes import predict_passes
from mpcs.orbit.timeutil import NS_PER_S, parse_time_ns
from mpcs.simulator import Spacecraft
from mpcs.workloads.ingest.lineprotocol import encode_message

pytestmark = pytest.mark.integration

NAMESPACE = "arch"
H12 = parse_time_ns("2008-09-20T12:00:00Z")  # the ISS element set's epoch day
HOUR = 3600 * NS_PER_S
INTERVAL_S = 10
#: sat-a flies 12:00–14:00, sat-b joins at 12:30: rows per satellite per hour.
EXPECTED_ROWS = {
    (H12, "sat-a"): 360,
    (H12 + HOUR, "sat-a"): 360,
    (H12, "sat-b"): 180,
    (H12 + HOUR, "sat-b"): 360,
}


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
async def mission(conn: ConnectionInfo, unique: str) -> AsyncIterator[tuple[str, str]]:
    """A mission bucket (kept forever: the samples are from 2008) and its read/write token."""
    name = f"m{unique}"
    buckets = InfluxBuckets(url=conn.influx_url, org=conn.influx_org, token=conn.influx_token)
    try:
        state = await buckets.ensure_bucket(bucket(NAMESPACE, name), retention_seconds=0)
        yield name, state.token
    finally:
        await buckets.close()


def make_craft(name: str = "sat-1") -> Spacecraft:
    """The ISS element set from its epoch day, over Toulouse."""
    line1, line2 = ISS.splitlines()[-2:]
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "wildfire"}, "tle": {"line1": line1, "line2": line2}}
    )
    return Spacecraft(name, spec, start=H12, stations=[TOULOUSE])


def fly(name: str, start_ns: int, stop_ns: int) -> list[dict[str, Any]]:
    craft = make_craft(name)
    messages = []
    while craft.time_ns < stop_ns:
        if craft.time_ns >= start_ns:
            messages.append(craft.telemetry())
        craft.advance(INTERVAL_S)
    return messages


@pytest.fixture(scope="module")
def telemetry() -> dict[str, list[dict[str, Any]]]:
    return {
        "sat-a": fly("sat-a", H12, H12 + 2 * HOUR),
        "sat-b": fly("sat-b", H12 + HOUR // 2, H12 + 2 * HOUR),
    }


@pytest.fixture
def archive_env(
    monkeypatch: pytest.MonkeyPatch,
    conn: ConnectionInfo,
    moto_endpoint: str,
    mission: tuple[str, str],
    unique: str,
) -> Iterator[str]:
    """The handler's environment, as the Lambda function (or the runner's Deployment) sets it."""
    name, token = mission
    archive_bucket = f"archive-{unique}"
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=archive_bucket)
    s3.put_bucket_versioning(Bucket=archive_bucket, VersioningConfiguration={"Status": "Enabled"})
    for key, value in {
        "MPCS_ARCHIVE_BUCKET": archive_bucket,
        "MPCS_ARCHIVE_MISSIONS": f'["{NAMESPACE}/{name}"]',
        "MPCS_ARCHIVE_MAX_CATCHUP_HOURS": "4",
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": token,  # the mission bucket's token, as the Deployment gets it
        "MPCS_AWS_ENDPOINT_URL": moto_endpoint,
        "MPCS_AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    archive.reset()
    yield archive_bucket
    archive.reset()


def write_points(
    conn: ConnectionInfo, name: str, token: str, messages: list[dict[str, Any]]
) -> None:
    body = b"".join(encode_message(m) for m in messages)
    response = httpx.post(
        f"{conn.influx_url}/api/v2/write",
        params={"org": conn.influx_org, "bucket": bucket(NAMESPACE, name), "precision": "ns"},
        headers={"Authorization": f"Token {token}"},
        content=body,
        timeout=60,
    )
    assert response.status_code == 204, response.text


def versions(s3: Any, archive_bucket: str) -> dict[str, list[tuple[str, str]]]:
    """Every version of every object but the high-water mark (which a run may rewrite)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=archive_bucket):
        for version in page.get("Versions", []):
            if not version["Key"].endswith("_archived_through.json"):
                found.setdefault(version["Key"], []).append((version["VersionId"], version["ETag"]))
    return found


def run(at: str) -> dict[str, Any]:
    return archive.handler(scheduled_event(parse_time_ns(at)), None)


def test_closed_hours_land_once_as_parquet_across_runs_and_restarts(
    archive_env: str,
    conn: ConnectionInfo,
    mission: tuple[str, str],
    moto_endpoint: str,
    telemetry: dict[str, list[dict[str, Any]]],
) -> None:
    name, token = mission
    write_points(conn, name, token, telemetry["sat-a"] + telemetry["sat-b"])
    s3 = s3_client(moto_endpoint)

    # 13:10: hours 09–12 are closed (a 4-hour window); only 12:00 holds telemetry.
    first = run("2008-09-20T13:10:00Z")
    assert [(h["hour"][11:13], h["written"]) for h in first["hours"]] == [
        ("09", {}),
        ("10", {}),
        ("11", {}),
        ("12", {"sat-a": 360, "sat-b": 180}),
    ]
    # A restarted process (nothing cached) at 14:10 catches up on 13:00 only.
    archive.reset()
    second = run("2008-09-20T14:10:00Z")
    assert [(h["hour"][11:13], h["written"]) for h in second["hours"]] == [
        ("13", {"sat-a": 360, "sat-b": 360})
    ]
    for (hour, satellite), rows in EXPECTED_ROWS.items():
        key = telemetry_key(NAMESPACE, name, hour, satellite)
        body = s3.get_object(Bucket=archive_env, Key=key)["Body"].read()
        table = pq.read_table(pa.BufferReader(body))
        assert table.num_rows == rows, key
        assert table.schema.equals(SCHEMA, check_metadata=False), key
        assert set(table.column("satellite").to_pylist()) == {satellite}
        times = table.column("time").cast(pa.int64()).to_pylist()
        assert times == sorted(times)
        assert times[0] >= hour
        assert times[-1] < hour + HOUR
        sent = [m for m in telemetry[satellite] if hour <= parse_time_ns(m["time"]) < hour + HOUR]
        assert table.column("seq").to_pylist() == [m["seq"] for m in sent]
        assert table.column("mode").to_pylist() == [m["mode"] for m in sent]
        for channel in CHANNELS:
            assert table.column(channel.key).to_pylist() == [
                m[channel.subsystem][channel.name] for m in sent
            ], channel.key
    before = versions(s3, archive_env)
    assert all(len(v) == 1 for v in before.values()), before
    assert manifest_key(NAMESPACE, name, H12) in before

    # The mission's prefix reads as one Hive-partitioned dataset (docs/archive.md's example);
    # the manifests and the high-water mark, named with a leading `_`, are skipped.
    host, port = moto_endpoint.removeprefix("http://").split(":")
    filesystem = pa_fs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=f"{host}:{port}",
        scheme="http",
    )
    dataset = ds.dataset(
        f"{archive_env}/telemetry/{NAMESPACE}/{name}/",
        filesystem=filesystem,
        format="parquet",
        partitioning="hive",
    )
    sat_b = dataset.to_table(filter=ds.field("satellite") == "sat-b", columns=["seq", "hour"])
    assert sat_b.num_rows == 180 + 360
    assert sorted(set(sat_b.column("hour").to_pylist())) == [12, 13]

    # Again in the same process, again after a restart, and a late event: nothing is rewritten.
    assert run("2008-09-20T14:10:00Z") == {"hours": []}
    archive.reset()
    assert run("2008-09-20T14:10:00Z") == {"hours": []}
    archive.reset()
    assert run("2008-09-20T13:10:00Z") == {"hours": []}
    assert versions(s3, archive_env) == before


def test_a_product_event_from_the_simulator_lands_as_png_and_json_once(
    moto_endpoint: str, unique: str
) -> None:
    craft = make_craft()
    steps = [
        ("SET_MODE", {"mode": "PAYLOAD"}),
        ("CAPTURE_IMAGE", {"count": 2}),
        ("SET_MODE", {"mode": "NOMINAL"}),  # the payload would drain the battery before the pass
    ]
    for name, args in steps:
        craft.execute(Command(satellite="sat-1", name=name, args=args, issued_by="test"))
    nxt = predict_passes(craft.engine.tles[0], TOULOUSE, craft.time_ns, 86_400)[0]
    craft.advance((nxt.tca_ns - craft.time_ns) / NS_PER_S)
    craft.execute(Command(satellite="sat-1", name="START_DOWNLINK", args={}, issued_by="test"))
    events = [p.event() for p in craft.take_products()]
    assert len(events) == 2

    s3 = s3_client(moto_endpoint)
    store = ArchiveStore(s3, f"products-{unique}")
    store.ensure_bucket()
    s3.put_bucket_versioning(Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"})
    stored = [store_product(store, NAMESPACE, "wildfire", decode(e)) for e in events]  # type: ignore[arg-type]
    assert all(s.png_written and s.json_written for s in stored)
    for result in stored:
        png = s3.get_object(Bucket=store.bucket, Key=result.png_key)
        assert png["ContentType"] == "image/png"
        image = read_gray_png(png["Body"].read())
        assert (image.width, image.height) == (64, 64)
        metadata = s3.get_object(Bucket=store.bucket, Key=result.json_key)["Body"].read()
        assert b'"station": "tls"' in metadata
        assert result.png_key.startswith("products/arch/wildfire/sat-1/20080920T")
    before = versions(s3, store.bucket)
    redelivered = [store_product(store, NAMESPACE, "wildfire", decode(e)) for e in events]  # type: ignore[arg-type]
    assert not any(s.png_written or s.json_written for s in redelivered)
    assert versions(s3, store.bucket) == before
    assert len(before) == 4
