"""The Parquet schema follows the telemetry catalogue, and a table survives a Parquet round trip
with its types, nulls and time order; pivoted InfluxDB rows merge into one row per sample."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from mpcs.core.telemetry import CHANNELS
from mpcs.lambdas.archive.handler import parquet_bytes
from mpcs.lambdas.archive.schema import SCHEMA, SCHEMA_NAME, build_table
from mpcs.lambdas.archive.source import hour_query, merge_rows
from mpcs.orbit.timeutil import parse_time_ns

T0 = parse_time_ns("2025-03-01T13:00:00Z")
EXPECTED_TYPES = {"float": "double", "int": "int64", "bool": "bool", "str": "string"}


def test_one_column_per_catalogued_channel_in_catalogue_order_after_the_header() -> None:
    assert SCHEMA.names == ["time", "satellite", "mode", "seq", *(c.key for c in CHANNELS)]
    assert str(SCHEMA.field("time").type) == "timestamp[ns, tz=UTC]"
    assert str(SCHEMA.field("seq").type) == "int64"
    for channel in CHANNELS:
        field = SCHEMA.field(channel.key)
        assert str(field.type) == EXPECTED_TYPES[channel.type], channel.key
        assert field.metadata[b"unit"] == channel.unit.encode()
    assert SCHEMA.metadata[b"mpcs.schema"] == SCHEMA_NAME.encode()


def test_a_table_round_trips_through_parquet_in_time_order_with_nulls() -> None:
    samples = {
        T0 + 2_000_000_000: {"mode": "SAFE", "seq": 2, "power.battery_soc_pct": 55.5},
        T0 + 1_000_000_001: {
            "mode": "NOMINAL",
            "seq": 1,
            "power.battery_soc_pct": 56.0,
            "obc.uptime_s": 12,
            "comms.in_contact": True,
            "adcs.attitude": "NADIR",
            "not.a_column": 1,
        },
    }
    table = pq.read_table(io.BytesIO(parquet_bytes(build_table("sat-a", samples))))
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.column("time").cast(pa.int64()).to_pylist() == [
        T0 + 1_000_000_001,
        T0 + 2_000_000_000,
    ]
    rows = table.drop_columns(["time"]).to_pylist()  # ns times do not fit a datetime
    assert [r["seq"] for r in rows] == [1, 2]
    first, second = rows
    assert first["satellite"] == second["satellite"] == "sat-a"
    assert first["obc.uptime_s"] == 12
    assert first["comms.in_contact"] is True
    assert first["adcs.attitude"] == "NADIR"
    assert second["obc.uptime_s"] is None  # not in InfluxDB: null, not zero
    assert second["power.battery_soc_pct"] == 55.5


def test_pivoted_rows_merge_per_sample_with_header_fields_as_their_own_columns() -> None:
    rows = [
        {"_measurement": "power", "satellite": "a", "_time": "2025-03-01T13:00:01Z",
         "battery_soc_pct": 50.0},
        {"_measurement": "obc", "satellite": "a", "_time": "2025-03-01T13:00:01Z",
         "uptime_s": 5, "mode": "NOMINAL", "seq": 9},
        {"_measurement": "power", "satellite": "b", "_time": "2025-03-01T13:00:01.5Z",
         "battery_soc_pct": 60.0},
    ]  # fmt: skip
    samples = merge_rows(rows)
    assert samples == {
        "a": {
            T0 + 1_000_000_000: {
                "power.battery_soc_pct": 50.0,
                "obc.uptime_s": 5,
                "mode": "NOMINAL",
                "seq": 9,
            }
        },
        "b": {T0 + 1_500_000_000: {"power.battery_soc_pct": 60.0}},
    }


def test_the_hour_query_is_half_open_and_names_the_measurements() -> None:
    flux = hour_query('b"x', T0, T0 + 3_600_000_000_000, ["orbit", "obc"])
    assert 'from(bucket: "b\\"x")' in flux
    assert 'start: time(v: "2025-03-01T13:00:00.000000000Z")' in flux
    assert 'stop: time(v: "2025-03-01T14:00:00.000000000Z")' in flux
    assert 'r._measurement == "orbit" or r._measurement == "obc"' in flux
