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
from pydantic import ValidationError

from mpcs.core.resources.groundstation import GroundStationSpec
from mpcs.core.resources.satellite import FaultType, SatelliteSpec
from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.timeutil import NS_PER_S, format_time_ns, parse_time
from mpcs.orbit.tle import Tle, TleError, parse_tle
from mpcs.orbit.track import propagate as propagate_track
from mpcs.orbit.track import time_grid

from .spacecraft import Spacecraft

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
MinElevationOption = Annotated[
    float | None,
    typer.Option(
        "--min-elevation",
        help="Minimum elevation (deg) of the station(s); default: the GroundStation default.",
    ),
]
HorizonMaskOption = Annotated[
    str | None,
    typer.Option(
        "--horizon-mask",
        help="Terrain mask AZ_DEG:EL_DEG,... (e.g. 0:10,90:25,180:5): the usable sky at an "
        "azimuth is the larger of this ring (linear between points, through north) and "
        "--min-elevation.",
    ),
]


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


def _horizon_mask(text: str | None) -> list[dict[str, float]]:
    """`AZ:EL,AZ:EL,...` as GroundStation horizonMask points (ranges checked by the model)."""
    if text is None:
        return []
    points = []
    for number, item in enumerate(text.split(","), start=1):
        azimuth, colon, elevation = item.partition(":")
        try:
            if not colon:
                raise ValueError
            points.append({"azimuthDeg": float(azimuth), "elevationDeg": float(elevation)})
        except ValueError:
            raise _fail(
                f"--horizon-mask item {number} {item!r}: expected AZ_DEG:EL_DEG (e.g. 90:15)"
            ) from None
    return points


def _station(
    text: str,
    *,
    min_elevation: float | None,
    horizon_mask: str | None = None,
    name: str = "",
) -> Station:
    """A station from the command line, through the GroundStation model (its bounds, defaults)."""
    try:
        parts = [float(p) for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise ValueError("expected LAT,LON[,ALT_M]")
    except ValueError as exc:
        raise _fail(f"--station {text!r}: {exc} (expected LAT_DEG,LON_DEG,ALT_M)") from None
    mask_items = (horizon_mask or "").split(",")
    spec: dict[str, Any] = {
        "latitudeDeg": parts[0],
        "longitudeDeg": parts[1],
        "altitudeM": parts[2] if len(parts) == 3 else 0.0,
        "horizonMask": _horizon_mask(horizon_mask),
    }
    if min_elevation is not None:
        spec["minElevationDeg"] = min_elevation
    try:
        model = GroundStationSpec.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        field, *where = error["loc"]
        if field == "horizonMask" and where:
            index = int(where[0])
            option = f"--horizon-mask item {index + 1} {mask_items[index]!r}: {where[-1]}"
        elif field == "horizonMask":
            option = "--horizon-mask"
        elif field == "minElevationDeg":
            option = "--min-elevation"
        else:
            option = f"--station {text!r}: {field}"
        raise _fail(f"{option}: {error['msg']}") from None
    return model.station(name or f"{parts[0]:g},{parts[1]:g}")


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
    min_elevation: MinElevationOption = None,
    horizon_mask: HorizonMaskOption = None,
) -> None:
    """Passes over a station: per pass aos, tca, los, max_elevation_deg.

    A pass is a stretch of time above the usable sky (--min-elevation, raised by --horizon-mask):
    a wall in the mask can split one overhead pass into two.
    """
    parsed = _read_tle(tle)
    where = _station(station, min_elevation=min_elevation, horizon_mask=horizon_mask)
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
    return {"type": kind, "startOffsetSeconds": start_s}


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
    min_elevation: MinElevationOption = None,
    horizon_mask: HorizonMaskOption = None,
    name: Annotated[str, typer.Option("--name", help="Satellite name (default: TLE name).")] = "",
) -> None:
    """Telemetry messages exactly as `mpcs sim run` sends them to Kafka, one per step."""
    parsed = _read_tle(tle)
    start_ns = _start(start)
    try:
        spec = SatelliteSpec.model_validate(
            {
                # The model belongs to a Mission; on the command line there is none to name.
                "missionRef": {"name": "cli"},
                "tle": {"line1": parsed.line1, "line2": parsed.line2},
                "simulator": {"seed": seed, "faults": [_fault(f) for f in fault or []]},
            }
        )
    except ValidationError as exc:
        raise _fail(f"invalid satellite: {exc}") from None
    stations = [
        _station(s, min_elevation=min_elevation, horizon_mask=horizon_mask, name=f"station-{i + 1}")
        for i, s in enumerate(station or [])
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
            "--spec",
            help="SimulatorConfig or Satellite manifest (YAML or JSON); "
            "default: $MPCS_SATELLITE_SPEC.",
        ),
    ] = None,
) -> None:
    """Fly one satellite: telemetry to Kafka, commands from Kafka, acks back (until stopped)."""
    from .runtime import RuntimeSettings, load_spec, main

    try:
        settings = RuntimeSettings()
        config = load_spec(spec_file, settings.satellite_spec)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    main(settings, config)


@app.command()
def pool(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="PoolConfig (YAML or JSON); default: the ConfigMap $MPCS_SIM_POOL_CONFIGMAP "
            "in $MPCS_NAMESPACE, re-read while running.",
        ),
    ] = None,
) -> None:
    """Fly a pooled simulator pod's shard of Satellites in one engine (until stopped)."""
    from .pool import PoolSettings, configmap_reader, file_reader, main

    try:
        settings = PoolSettings()
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if config_file is not None:
        reader = file_reader(config_file)
    elif settings.sim_pool_configmap:
        reader = configmap_reader(settings.namespace, settings.sim_pool_configmap)
    else:
        raise _fail("no shard: pass --config FILE or set MPCS_SIM_POOL_CONFIGMAP")
    main(settings, reader)
