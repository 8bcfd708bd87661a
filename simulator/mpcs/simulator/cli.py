"""`mpcs sim …`: the simulator's command line (ops tools and the runtime entry point).

Every tool prints JSON lines (one object per line, times UTC ISO-8601 with `Z`) so its output pipes
into `jq`, a file or another program. A TLE FILE holds two lines or three (a name line first);
`-` reads standard input. Errors a user can cause exit with status 2 and name what to fix.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.timeutil import NS_PER_S, format_time_ns, parse_time
from mpcs.orbit.tle import Tle, TleError, parse_tle
from mpcs.orbit.track import propagate as propagate_track
from mpcs.orbit.track import time_grid

from .spacecraft import Spacecraft
from .spec import FaultType, SatelliteSpec

app = typer.Typer(
    name="sim",
    help="Spacecraft simulator: propagate, predict passes, generate telemetry, run against Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

TleOption = Annotated[str, typer.Option("--tle", help="TLE file (2 or 3 lines); '-' for stdin.")]
StartOption = Annotated[
    str, typer.Option("--start", help="UTC start, ISO-8601 (e.g. 2025-01-01T00:00:00Z) or 'now'.")
]
DurationOption = Annotated[float, typer.Option("--duration", min=0, help="Seconds to cover.")]
StepOption = Annotated[float, typer.Option("--step", min=0.001, help="Seconds between samples.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")


def _read_tle(path: str) -> Tle:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read TLE file {path!r}: {exc}") from None
    try:
        return parse_tle(text)
    except TleError as exc:
        raise _fail(f"{path}: {exc}") from None


def _start(text: str) -> int:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise _fail(f"--start: {exc}") from None


def _station(text: str, min_elevation: float, name: str = "") -> Station:
    try:
        parts = [float(p) for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise ValueError("expected LAT,LON[,ALT_M]")
        alt = parts[2] if len(parts) == 3 else 0.0
        return Station(
            latitude_deg=parts[0],
            longitude_deg=parts[1],
            altitude_m=alt,
            min_elevation_deg=min_elevation,
            name=name or f"{parts[0]:g},{parts[1]:g}",
        )
    except ValueError as exc:
        raise _fail(f"--station {text!r}: {exc} (expected LAT_DEG,LON_DEG,ALT_M)") from None


@app.command()
def propagate(
    tle: TleOption,
    start: StartOption,
    duration: DurationOption,
    step: StepOption = 60.0,
) -> None:
    """Ground track: per step t, lat_deg, lon_deg (−180..180), alt_km, speed_km_s, sunlit."""
    parsed = _read_tle(tle)
    track = propagate_track(parsed, time_grid(_start(start), duration, step))
    for i, t in enumerate(track.times_ns.tolist()):
        if track.error[i]:
            raise _fail(f"SGP4 error {track.error[i]} at {format_time_ns(t)} (decayed orbit?)")
        _emit(
            {
                "t": format_time_ns(t),
                "lat_deg": round(float(track.lat_deg[i]), 6),
                "lon_deg": round(float(track.lon_deg[i]), 6),
                "alt_km": round(float(track.alt_km[i]), 4),
                "speed_km_s": round(float(track.speed_km_s[i]), 6),
                "sunlit": bool(track.sunlit[i]),
            }
        )


@app.command()
def passes(
    tle: TleOption,
    station: Annotated[str, typer.Option("--station", help="LAT_DEG,LON_DEG,ALT_M")],
    start: StartOption,
    duration: DurationOption,
    min_elevation: Annotated[
        float, typer.Option("--min-elevation", min=-90, max=89.9, help="Elevation mask (deg).")
    ] = 10.0,
) -> None:
    """Passes over a station: per pass aos, tca, los, max_elevation_deg."""
    parsed = _read_tle(tle)
    where = _station(station, min_elevation)
    for p in predict_passes(parsed, where, _start(start), duration):
        _emit(
            {
                "aos": format_time_ns(p.aos_ns),
                "tca": format_time_ns(p.tca_ns),
                "los": format_time_ns(p.los_ns),
                "max_elevation_deg": round(p.max_elevation_deg, 3),
            }
        )


def _fault(text: str) -> dict[str, Any]:
    kind, _, offset = text.partition("@")
    valid = [f.value for f in FaultType]
    if kind not in valid:
        raise _fail(f"--fault {text!r}: type must be one of {', '.join(valid)}")
    try:
        start_s = float(offset) if offset else 0.0
    except ValueError:
        raise _fail(f"--fault {text!r}: start after '@' must be seconds") from None
    return {"type": kind, "start": start_s}


@app.command()
def telemetry(
    tle: TleOption,
    start: StartOption,
    duration: DurationOption,
    step: StepOption = 10.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Noise seed.")] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="TYPE[@SECONDS]: batteryAgeing, stuckWheel, heaterFailure or radioDropout, "
            "starting SECONDS after --start (repeatable).",
        ),
    ] = None,
    station: Annotated[
        list[str] | None,
        typer.Option("--station", help="Ground station LAT_DEG,LON_DEG,ALT_M (repeatable)."),
    ] = None,
    min_elevation: Annotated[float, typer.Option("--min-elevation", min=0, max=89.9)] = 10.0,
    name: Annotated[str, typer.Option("--name", help="Satellite name (default: TLE name).")] = "",
) -> None:
    """Telemetry messages exactly as `mpcs sim run` sends them to Kafka, one per step."""
    parsed = _read_tle(tle)
    start_ns = _start(start)
    spec = SatelliteSpec.from_dict(
        {
            "tle": {"line1": parsed.line1, "line2": parsed.line2},
            "simulator": {"seed": seed, "faults": [_fault(f) for f in fault or []]},
        }
    )
    stations = [
        _station(s, min_elevation, name=f"station-{i + 1}") for i, s in enumerate(station or [])
    ]
    sat_name = name or re.sub(r"[^a-z0-9]+", "-", parsed.name.lower()).strip("-") or "sat"
    craft = Spacecraft(sat_name, spec, start=start_ns, stations=stations)
    end_ns = start_ns + int(duration * NS_PER_S)
    _emit(craft.telemetry())
    while craft.time_ns + int(step * NS_PER_S) <= end_ns:
        craft.advance(step)
        _emit(craft.telemetry())


@app.command()
def run(
    spec_file: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Satellite spec (YAML or JSON); default: $MPCS_SATELLITE_SPEC."
        ),
    ] = None,
) -> None:
    """Fly one satellite: telemetry to Kafka, commands from Kafka, acks back (until stopped)."""
    from .runtime import RuntimeSettings, load_spec, main

    try:
        settings = RuntimeSettings()
        spec = load_spec(spec_file)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    main(settings, spec)
