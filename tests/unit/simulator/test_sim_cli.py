"""`mpcs sim …` as an ops engineer runs it: JSON lines, UTC `Z` times, errors naming line/column."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from simdata import ISS, TOULOUSE
from typer.testing import CliRunner, Result
from utils.orbit import skyfield_windows

from mpcs.cli import app
from mpcs.core.telemetry import validate_message
from mpcs.orbit.timeutil import NS_PER_S, parse_time, parse_time_ns

runner = CliRunner()


@pytest.fixture
def tle_file(tmp_path: Path) -> Path:
    path = tmp_path / "iss.tle"
    path.write_text(ISS + "\n")
    return path


#: The epoch of the ISS TLE, as `--start`.
START = ("--start", "2008-09-20T12:00:00Z")


def _sim(command: str, tle: Path | str, *args: str, stdin: str | None = None) -> Result:
    """`mpcs sim <command> --tle <tle> <args>`; `tle` "-" reads `stdin`."""
    return runner.invoke(app, ["sim", command, "--tle", str(tle), *args], input=stdin)


def _lines(output: str) -> list[dict]:
    return [orjson.loads(line) for line in output.splitlines()]


def test_propagate(tle_file: Path) -> None:
    result = _sim("propagate", tle_file, *START, "--duration", "600", "--step", "60")
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
    result = _sim(
        "passes",
        "-",
        "--station",
        "43.56,1.48,150",
        "--min-elevation",
        "10",
        *START,
        "--duration",
        "86400",
        stdin=ISS,
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert rows
    for row in rows:
        assert set(row) == {"aos", "tca", "los", "max_elevation_deg"}
        assert parse_time_ns(row["aos"]) < parse_time_ns(row["tca"]) < parse_time_ns(row["los"])
        assert row["max_elevation_deg"] >= 10


def test_passes_default_minimum_elevation_is_the_ground_stations(tle_file: Path) -> None:
    default = _passes(tle_file)
    assert default == _passes(tle_file, "--min-elevation", "5")
    higher = _passes(tle_file, "--min-elevation", "10")
    assert parse_time_ns(default[0]["aos"]) < parse_time_ns(higher[0]["aos"])


def test_telemetry_is_what_goes_to_kafka(tle_file: Path) -> None:
    args = (
        *START,
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
    )
    result = _sim("telemetry", tle_file, *args)
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4]
    for row in rows:
        validate_message(row)
        assert row["satellite"] == "iss-zarya"
        assert row["comms"]["radio_ok"] is False
    again = _sim("telemetry", tle_file, *args)
    assert again.stdout == result.stdout  # deterministic


@pytest.mark.parametrize("command", ["propagate", "passes", "telemetry"])
def test_malformed_tle_exits_non_zero_naming_line_and_column(tmp_path: Path, command: str) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text(ISS[:-1] + "8\n")  # wrong checksum on line 3 of the file
    station = ("--station", "0,0,0") if command == "passes" else ()
    result = _sim(command, bad, *START, "--duration", "60", *station)
    assert result.exit_code == 2
    assert "TLE line 3, column 69: checksum is 8, the line sums to 7" in result.stderr


@pytest.mark.parametrize(
    ("command", "args", "explained"),
    [
        ("passes", ("--station", "north", "--start", "yesterday"), ""),
        ("propagate", ("--start", "2008-09-20T12:00:00"), "no timezone"),
        ("telemetry", (*START, "--fault", "gremlins"), "batteryAgeing"),
    ],
    ids=["station-and-start", "start-without-timezone", "unknown-fault"],
)
def test_bad_arguments_are_explained(
    tle_file: Path, command: str, args: tuple[str, ...], explained: str
) -> None:
    result = _sim(command, tle_file, *args, "--duration", "60")
    assert result.exit_code == 2
    assert explained in result.stderr


PASS_TIME_TOLERANCE_S = 5.0


def _passes(tle_file: Path, *extra: str) -> list[dict]:
    result = _sim(
        "passes", tle_file, "--station", "43.56,1.48,150", *START, "--duration", "86400", *extra
    )
    assert result.exit_code == 0, result.output
    return _lines(result.stdout)


@pytest.mark.parametrize(
    "mask",
    [
        # A 40° wall to the north-east and east, with a notch from 60° to 70° azimuth.
        "15:0,20:40,55:40,60:0,70:0,75:40,120:40,125:0",
        # A 30° block from 340° through north to 20°: the ring wraps through 0°/360°.
        "330:0,340:30,20:30,30:0",
    ],
    ids=["wall-with-gap", "wrap"],
)
def test_passes_over_a_horizon_mask_match_skyfield(tle_file: Path, mask: str) -> None:
    rows = _passes(tle_file, "--horizon-mask", mask)
    points = tuple(tuple(float(v) for v in item.split(":")) for item in mask.split(","))
    station = replace(TOULOUSE, horizon_mask=points)  # 5° minimum: the GroundStation default
    reference, (first, last) = skyfield_windows(
        ISS, station, parse_time("2008-09-20T12:00:00Z"), 86_400
    )
    ours = [
        (parse_time_ns(r["aos"]) / NS_PER_S, parse_time_ns(r["los"]) / NS_PER_S)
        for r in rows
        if first - 1 <= parse_time_ns(r["aos"]) / NS_PER_S <= last + 1
    ]
    assert len(ours) == len(reference) > len(_passes(tle_file))  # the mask splits a pass
    for (aos, los), ref in zip(ours, reference, strict=True):
        assert abs(aos - ref.aos) < PASS_TIME_TOLERANCE_S
        assert abs(los - ref.los) < PASS_TIME_TOLERANCE_S


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ("10:5,abc", "--horizon-mask item 2 'abc': expected AZ_DEG:EL_DEG"),
        ("10:5,20", "--horizon-mask item 2 '20': expected AZ_DEG:EL_DEG"),
        (
            "400:5",
            "--horizon-mask item 1 '400:5': azimuthDeg: Input should be less than or equal to 360",
        ),
        (
            "10:5,90:95",
            "--horizon-mask item 2 '90:95': elevationDeg: Input should be less than or equal to 89",
        ),
        ("0:5,360:6", "--horizon-mask: Value error, horizonMask azimuths must be unique"),
    ],
)
def test_bad_horizon_mask_names_the_item(tle_file: Path, mask: str, message: str) -> None:
    for command in ("passes", "telemetry"):
        result = _sim(
            command,
            tle_file,
            "--station",
            "43.56,1.48,150",
            *START,
            "--duration",
            "60",
            "--horizon-mask",
            mask,
        )
        assert result.exit_code == 2, result.output
        assert message in result.stderr
