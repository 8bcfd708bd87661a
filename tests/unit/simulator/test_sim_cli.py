"""`mpcs sim …` as an ops engineer runs it: JSON lines, UTC `Z` times, errors naming line/column."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest
from simdata import ISS
from typer.testing import CliRunner

from mpcs.cli import app
from mpcs.core.telemetry import validate_message
from mpcs.orbit.timeutil import parse_time_ns

runner = CliRunner()


@pytest.fixture
def tle_file(tmp_path: Path) -> Path:
    path = tmp_path / "iss.tle"
    path.write_text(ISS + "\n")
    return path


def _lines(output: str) -> list[dict]:
    return [orjson.loads(line) for line in output.splitlines()]


def test_propagate(tle_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "sim",
            "propagate",
            "--tle",
            str(tle_file),
            "--start",
            "2008-09-20T12:00:00Z",
            "--duration",
            "600",
            "--step",
            "60",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert len(rows) == 11
    assert set(rows[0]) == {"t", "lat_deg", "lon_deg", "alt_km", "speed_km_s", "sunlit"}
    assert rows[0]["t"] == "2008-09-20T12:00:00.000000000Z"
    assert all(r["t"].endswith("Z") and -180 <= r["lon_deg"] < 180 for r in rows)
    assert isinstance(rows[0]["sunlit"], bool)
    steps = {parse_time_ns(b["t"]) - parse_time_ns(a["t"]) for a, b in itertools.pairwise(rows)}
    assert steps == {60_000_000_000}


def test_passes_from_stdin() -> None:
    result = runner.invoke(
        app,
        [
            "sim",
            "passes",
            "--tle",
            "-",
            "--station",
            "43.56,1.48,150",
            "--min-elevation",
            "10",
            "--start",
            "2008-09-20T12:00:00Z",
            "--duration",
            "86400",
        ],
        input=ISS,
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert rows
    for row in rows:
        assert set(row) == {"aos", "tca", "los", "max_elevation_deg"}
        assert parse_time_ns(row["aos"]) < parse_time_ns(row["tca"]) < parse_time_ns(row["los"])
        assert row["max_elevation_deg"] >= 10


def test_telemetry_is_what_goes_to_kafka(tle_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "sim",
            "telemetry",
            "--tle",
            str(tle_file),
            "--start",
            "2008-09-20T12:00:00Z",
            "--duration",
            "120",
            "--step",
            "30",
            "--seed",
            "3",
            "--fault",
            "radioDropout@0",
            "--station",
            "43.56,1.48,150",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4]
    for row in rows:
        validate_message(row)
        assert row["satellite"] == "iss-zarya"
        assert row["comms"]["radio_ok"] is False
    again = runner.invoke(
        app,
        [
            "sim",
            "telemetry",
            "--tle",
            str(tle_file),
            "--start",
            "2008-09-20T12:00:00Z",
            "--duration",
            "120",
            "--step",
            "30",
            "--seed",
            "3",
            "--fault",
            "radioDropout@0",
            "--station",
            "43.56,1.48,150",
        ],
    )
    assert again.stdout == result.stdout  # deterministic


@pytest.mark.parametrize("command", ["propagate", "passes", "telemetry"])
def test_malformed_tle_exits_non_zero_naming_line_and_column(tmp_path: Path, command: str) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text(ISS[:-1] + "8\n")  # wrong checksum on line 3 of the file
    args = [
        "sim",
        command,
        "--tle",
        str(bad),
        "--start",
        "2008-09-20T12:00:00Z",
        "--duration",
        "60",
    ]
    if command == "passes":
        args += ["--station", "0,0,0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "TLE line 3, column 69: checksum is 8, the line sums to 7" in result.stderr


def test_bad_arguments_are_explained(tle_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "sim",
            "passes",
            "--tle",
            str(tle_file),
            "--station",
            "north",
            "--start",
            "yesterday",
            "--duration",
            "60",
        ],
    )
    assert result.exit_code == 2
    result = runner.invoke(
        app,
        [
            "sim",
            "propagate",
            "--tle",
            str(tle_file),
            "--start",
            "2008-09-20T12:00:00",
            "--duration",
            "60",
        ],
    )
    assert result.exit_code == 2
    assert "no timezone" in result.stderr
    result = runner.invoke(
        app,
        [
            "sim",
            "telemetry",
            "--tle",
            str(tle_file),
            "--start",
            "2008-09-20T12:00:00Z",
            "--duration",
            "60",
            "--fault",
            "gremlins",
        ],
    )
    assert result.exit_code == 2
    assert "batteryAgeing" in result.stderr
