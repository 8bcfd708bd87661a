"""The Parquet schema follows the telemetry catalogue; the per-measurement CSV InfluxDB returns is
typed from the catalogue and joined into one row per sample; a table survives a Parquet round
trip with its types, nulls and order."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from mpcs.core.telemetry import CHANNELS
from mpcs.lambdas.archive.handler import parquet_bytes
from mpcs.lambdas.archive.schema import SCHEMA, SCHEMA_NAME, split_by_satellite
from mpcs.lambdas.archive.source import assemble, measurement_query, parse_measurement
from mpcs.orbit.timeutil import parse_time_ns

T0 = parse_time_ns("2025-03-01T13:00:00Z")
EXPECTED_TYPES = {"float": "double", "int": "int64", "bool": "bool", "str": "string"}

# What InfluxDB answers a measurement query with (plain CSV, one header, CRLF line ends).
POWER = (
    b",result,table,_time,satellite,battery_soc_pct,battery_voltage_v,unknown_later_field\r\n"
    b",_result,0,2025-03-01T13:00:01Z,b,60,28.1,1\r\n"
    b",_result,0,2025-03-01T13:00:01Z,a,50.5,,2\r\n"
    b",_result,0,2025-03-01T13:00:00.5Z,a,51,27.9,3\r\n"
)
OBC = (
    b",result,table,_time,satellite,uptime_s,fdir_reason,fdir_latched,mode,seq\r\n"
    b',_result,0,2025-03-01T13:00:01Z,a,5,"low battery, SAFE",true,SAFE,9\r\n'
    b",_result,0,2025-03-01T13:00:02Z,a,6,,false,NOMINAL,10\r\n"
)


def test_one_column_per_catalogued_channel_in_catalogue_order_after_the_header() -> None:
    assert SCHEMA.names == ["time", "satellite", "mode", "seq", *(c.key for c in CHANNELS)]
    assert str(SCHEMA.field("time").type) == "timestamp[ns, tz=UTC]"
    assert str(SCHEMA.field("seq").type) == "int64"
    for channel in CHANNELS:
        field = SCHEMA.field(channel.key)
        assert str(field.type) == EXPECTED_TYPES[channel.type], channel.key
        assert field.metadata[b"unit"] == channel.unit.encode()
    assert SCHEMA.metadata[b"mpcs.schema"] == SCHEMA_NAME.encode()


def test_a_measurement_csv_is_typed_from_the_catalogue() -> None:
    power = parse_measurement("power", POWER)
    assert power.column_names == [
        "time",
        "satellite",
        "power.battery_soc_pct",
        "power.battery_voltage_v",
    ]  # a field the catalogue does not know is left out
    assert power.column("power.battery_soc_pct").type == pa.float64()  # "60" is still a float
    assert power.column("power.battery_voltage_v").to_pylist() == [28.1, None, 27.9]
    obc = parse_measurement("obc", OBC)
    assert obc.column("obc.fdir_reason").to_pylist() == ["low battery, SAFE", ""]
    assert obc.column("obc.fdir_latched").to_pylist() == [True, False]
    assert obc.column("mode").to_pylist() == ["SAFE", "NOMINAL"]
    assert obc.column("seq").type == pa.int64()


def test_an_empty_answer_is_an_empty_table_of_the_measurement() -> None:
    table = parse_measurement("comms", b"\r\n")
    assert table.num_rows == 0
    assert "comms.station" in table.column_names


def test_measurements_join_into_one_row_per_sample_sorted_by_satellite_and_time() -> None:
    measurements = {"power": POWER, "obc": OBC, "orbit": b""}
    table = assemble([parse_measurement(m, text) for m, text in measurements.items()])
    assert table.schema == SCHEMA
    rows = table.select(["satellite", "seq", "power.battery_soc_pct", "obc.uptime_s"])
    assert rows.to_pylist() == [
        {"satellite": "a", "seq": None, "power.battery_soc_pct": 51.0, "obc.uptime_s": None},
        {"satellite": "a", "seq": 9, "power.battery_soc_pct": 50.5, "obc.uptime_s": 5},
        {"satellite": "a", "seq": 10, "power.battery_soc_pct": None, "obc.uptime_s": 6},
        {"satellite": "b", "seq": None, "power.battery_soc_pct": 60.0, "obc.uptime_s": None},
    ]
    assert table.column("time").cast(pa.int64()).to_pylist() == [
        T0 + 500_000_000,
        T0 + 1_000_000_000,
        T0 + 2_000_000_000,
        T0 + 1_000_000_000,
    ]
    assert table.column("orbit.lat_deg").null_count == 4
    parts = split_by_satellite(table)
    assert {s: t.num_rows for s, t in parts.items()} == {"a": 3, "b": 1}
    assert set(parts["b"].column("satellite").to_pylist()) == {"b"}


def test_a_table_round_trips_through_parquet() -> None:
    table = assemble([parse_measurement("power", POWER), parse_measurement("obc", OBC)])
    back = pq.read_table(io.BytesIO(parquet_bytes(table)))
    assert back.schema.equals(SCHEMA, check_metadata=False)
    assert back.equals(table)


def test_the_measurement_query_is_half_open_and_groups_every_satellite() -> None:
    flux = measurement_query('b"x', T0, T0 + 3_600_000_000_000, "obc")
    assert 'from(bucket: "b\\"x")' in flux
    assert 'start: time(v: "2025-03-01T13:00:00.000000000Z")' in flux
    assert 'stop: time(v: "2025-03-01T14:00:00.000000000Z")' in flux
    assert 'r._measurement == "obc"' in flux
    assert flux.rstrip().endswith("|> group()")
