"""The test InfluxDB is a real InfluxDB 2: retention, line protocol, Flux, scoped tokens."""

from __future__ import annotations

import time

import pytest
from influxdb_client import BucketRetentionRules, InfluxDBClient, Permission, PermissionResource
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from mpcs.dev.stack import ConnectionInfo

pytestmark = pytest.mark.integration


async def test_bucket_write_query_and_scoped_token(influx: ConnectionInfo, unique: str) -> None:
    with InfluxDBClient(
        url=influx.influx_url, token=influx.influx_token, org=influx.influx_org
    ) as admin:
        org_id = admin.organizations_api().find_organizations(org=influx.influx_org)[0].id
        mine = admin.buckets_api().create_bucket(
            bucket_name=f"smoke.{unique}.a",
            retention_rules=BucketRetentionRules(type="expire", every_seconds=7 * 86400),
            org=influx.influx_org,
        )
        other = admin.buckets_api().create_bucket(
            bucket_name=f"smoke.{unique}.b", org=influx.influx_org
        )
        auth = admin.authorizations_api().create_authorization(
            org_id=org_id,
            permissions=[
                Permission(
                    action=action,
                    resource=PermissionResource(type="buckets", id=mine.id, org_id=org_id),
                )
                for action in ("read", "write")
            ],
        )
    assert mine.retention_rules[0].every_seconds == 7 * 86400

    async with InfluxDBClientAsync(
        url=influx.influx_url, token=auth.token, org=influx.influx_org
    ) as scoped:
        now_ns = time.time_ns()
        assert await scoped.write_api().write(
            bucket=mine.name, record=f"power,satellite=sat-1 battery_soc_pct=87.5 {now_ns}"
        )
        # Retention is enforced by the server: a point older than 7 days is refused.
        with pytest.raises(InfluxDBError) as old:
            await scoped.write_api().write(
                bucket=mine.name, record=f"power,satellite=sat-1 v=1 {now_ns - 8 * 86400 * 10**9}"
            )
        assert "retention policy" in old.value.message
        tables = await scoped.query_api().query(
            f'from(bucket: "{mine.name}") |> range(start: -1h) '
            '|> filter(fn: (r) => r._measurement == "power")'
        )
        values = [
            (r.values["satellite"], r.get_field(), r.get_value()) for t in tables for r in t.records
        ]
        assert values == [("sat-1", "battery_soc_pct", 87.5)]

        # The token is scoped to one bucket: writing to or reading another is refused.
        with pytest.raises(InfluxDBError) as exc:
            await scoped.write_api().write(bucket=other.name, record=f"power v=1 {now_ns}")
        assert exc.value.response.status in (401, 403, 404)
        with pytest.raises(InfluxDBError):
            await scoped.query_api().query(f'from(bucket: "{other.name}") |> range(start: 0)')
