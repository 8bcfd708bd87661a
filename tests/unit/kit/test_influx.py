"""The kit's InfluxDB adapter without a server: Flux CSV parsing, Flux quoting, and what an
unreachable InfluxDB looks like (a loopback port where nothing listens). Writes and queries against
the real InfluxDB are in tests/integration/workloads/."""

from __future__ import annotations

import socket

import pytest
from utils.doctests import run_doctests

from mpcs.kit import influx
from mpcs.kit.influx import InfluxBucket, InfluxUnavailable, flux_string, parse_annotated_csv


def test_doctests() -> None:
    run_doctests(influx)


def test_annotated_csv_is_parsed_with_types() -> None:
    text = (
        "#datatype,string,long,dateTime:RFC3339,double,boolean,string\r\n"
        ",result,table,_time,_value,ok,name\r\n"
        ",_result,0,2025-01-01T00:00:00Z,1.5,true,a\r\n"
        "\r\n"
        "#datatype,string,long,dateTime:RFC3339,long\r\n"
        ",result,table,_time,_value\r\n"
        ",_result,1,2025-01-01T00:00:01Z,7\r\n"
    )
    assert parse_annotated_csv(text) == [
        {"_time": "2025-01-01T00:00:00Z", "_value": 1.5, "ok": True, "name": "a"},
        {"_time": "2025-01-01T00:00:01Z", "_value": 7},
    ]


def test_without_annotations_every_table_keeps_its_own_header_and_strings() -> None:
    text = (
        ",result,table,_value\r\n,_result,0,1.5\r\n\r\n"
        ',result,table,fdir_reason\r\n,_result,1,"low battery, safe"\r\n\r\n'
    )
    assert parse_annotated_csv(text) == [{"_value": "1.5"}, {"fdir_reason": "low battery, safe"}]


def test_an_annotation_belongs_to_its_table_only() -> None:
    text = (
        "#datatype,string,long,double\r\n,result,table,_value\r\n,_result,0,1.5\r\n\r\n"
        ",result,table,_value\r\n,_result,1,2.5\r\n"
    )
    assert parse_annotated_csv(text) == [{"_value": 1.5}, {"_value": "2.5"}]


def test_empty_cells_are_none_when_typed() -> None:
    text = "#datatype,string,long,double\r\n,result,table,_value\r\n,_result,0,\r\n"
    assert parse_annotated_csv(text) == [{"_value": None}]


def test_flux_strings_cannot_escape_their_quotes() -> None:
    assert flux_string('x") |> drop()') == '"x\\") |> drop()"'
    assert flux_string("${secret}") == '"\\${secret}"'


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_influxdb_is_unavailable_not_rejected() -> None:
    bucket = InfluxBucket(
        url=f"http://127.0.0.1:{_closed_port()}", org="o", bucket="b", token="t", timeout_s=2.0
    )
    try:
        with pytest.raises(InfluxUnavailable) as info:
            await bucket.write(b"m,satellite=s v=1 1\n")
        assert info.value.kind == "unreachable"
        problem = await bucket.health()
        assert problem is not None
        assert problem.startswith("InfluxDB unreachable")
        with pytest.raises(InfluxUnavailable, match="unreachable"):
            await bucket.ping()
        with pytest.raises(InfluxUnavailable, match="unreachable"):
            await bucket.query("buckets()")
    finally:
        await bucket.close()


def test_quoted_cells_keep_their_commas() -> None:
    text = ',result,table,fdir_reason\r\n,_result,1,"low battery, safe"\r\n\r\n'
    assert parse_annotated_csv(text)[0]["fdir_reason"] == "low battery, safe"
