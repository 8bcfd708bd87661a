"""Telemetry channel catalogue and the versioned telemetry message (DESIGN §5).

The simulator produces these messages, the ingest validates them (an invalid one goes to the DLQ
with the reason) and writes one InfluxDB point per subsystem, the API and dashboards read channels
by name; `docs/telemetry.md` is generated from CHANNELS (`python -m mpcs.core.telemetry`).

Wire format (JSON, one object per satellite per sample; version 1):

    {"version": 1, "satellite": "sat-a", "time": "2025-03-01T12:00:00.000000000Z", "seq": 42,
     "mode": "NOMINAL", "orbit": {"lat_deg": 51.2, ...}, "power": {...}, "thermal": {...},
     "adcs": {...}, "comms": {...}, "obc": {...}, "payload": {...}}

Every subsystem of `mpcs.core.names.SUBSYSTEM_MEASUREMENTS` is present and holds exactly its
catalogued channels; values have the channel's type and lie within its range. `time` is written
by `mpcs.orbit.timeutil.format_time_ns` and read by its `parse_time_ns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from mpcs.core.commands import Mode
from mpcs.core.names import SUBSYSTEM_MEASUREMENTS
from mpcs.orbit.timeutil import parse_time_ns

SCHEMA_VERSION = 1
#: Kafka compression of telemetry batches (the topics keep what the producer sent). zstd: as
#: small as gzip at level 9 (aiokafka's gzip level), ~3.5× cheaper to compress and to decompress
#: (a one-message batch, what one simulator sends per sample: 13 µs vs 43 µs to compress, 11 µs
#: vs 35 µs to decompress).
KAFKA_COMPRESSION = "zstd"

ChannelType = Literal["float", "int", "bool", "str"]


@dataclass(frozen=True)
class Channel:
    """One telemetry channel: `subsystem.name`, stored as an InfluxDB field of that measurement."""

    subsystem: str
    name: str
    type: ChannelType
    unit: str
    minimum: float | None
    maximum: float | None
    description: str

    @property
    def key(self) -> str:
        """`subsystem.name`, the channel's unique name across the catalogue."""
        return f"{self.subsystem}.{self.name}"


def _f(sub: str, name: str, unit: str, lo: float, hi: float, desc: str) -> Channel:
    return Channel(
        subsystem=sub, name=name, type="float", unit=unit, minimum=lo, maximum=hi, description=desc
    )


def _i(sub: str, name: str, unit: str, lo: float, hi: float | None, desc: str) -> Channel:
    return Channel(
        subsystem=sub, name=name, type="int", unit=unit, minimum=lo, maximum=hi, description=desc
    )


def _b(sub: str, name: str, desc: str) -> Channel:
    return Channel(
        subsystem=sub, name=name, type="bool", unit="", minimum=None, maximum=None, description=desc
    )


def _s(sub: str, name: str, desc: str) -> Channel:
    return Channel(
        subsystem=sub, name=name, type="str", unit="", minimum=None, maximum=None, description=desc
    )


#: The catalogue, in wire order.
CHANNELS: tuple[Channel, ...] = (
    # orbit
    _f("orbit", "lat_deg", "deg", -90, 90, "Geodetic latitude (WGS84)."),
    _f("orbit", "lon_deg", "deg", -180, 180, "Longitude, east positive."),
    _f("orbit", "alt_km", "km", -100, 100_000, "Height above the WGS84 ellipsoid."),
    _f("orbit", "speed_km_s", "km/s", 0, 15, "Inertial (TEME) speed."),
    _b("orbit", "sunlit", "Centre of the sun visible (not behind the Earth)."),
    _f("orbit", "illumination", "1", 0, 1, "Fraction of the solar disc visible: 0 umbra, 1 full."),
    _f("orbit", "beta_deg", "deg", -90, 90, "Sun elevation above the orbit plane."),
    # power
    _f("power", "solar_power_w", "W", 0, 100_000, "Power delivered by the solar array."),
    _f("power", "load_power_w", "W", 0, 100_000, "Total consumption of the bus and payload."),
    _f("power", "battery_soc_pct", "%", 0, 100, "Battery state of charge."),
    _f("power", "battery_voltage_v", "V", 0, 60, "Battery terminal voltage."),
    _f("power", "battery_current_a", "A", -500, 500, "Battery current, positive when charging."),
    _f("power", "battery_capacity_wh", "Wh", 0, 100_000, "Usable capacity (drops with ageing)."),
    # thermal
    _f("thermal", "structure_temp_c", "°C", -150, 150, "External structure / panel node."),
    _f("thermal", "battery_temp_c", "°C", -100, 120, "Battery (internal) node."),
    _f("thermal", "payload_temp_c", "°C", -100, 120, "Payload (internal) node."),
    _b("thermal", "battery_heater_on", "Battery heater dissipating."),
    _b("thermal", "payload_heater_on", "Payload heater dissipating."),
    _f("thermal", "heater_power_w", "W", 0, 10_000, "Total heater power."),
    _b("thermal", "heater_fault", "A heater is commanded on but does not dissipate."),
    # adcs
    _s("adcs", "attitude", "Pointing target: SUN, NADIR or TARGET."),
    _f("adcs", "pointing_error_deg", "deg", 0, 180, "Angle between commanded and actual pointing."),
    _f("adcs", "wheel_x_rpm", "rpm", -10_000, 10_000, "Reaction wheel X speed."),
    _f("adcs", "wheel_y_rpm", "rpm", -10_000, 10_000, "Reaction wheel Y speed."),
    _f("adcs", "wheel_z_rpm", "rpm", -10_000, 10_000, "Reaction wheel Z speed."),
    _b("adcs", "wheel_fault", "A reaction wheel does not follow its commanded speed."),
    # comms
    _b("comms", "in_contact", "A ground station is above its minimum elevation and the radio up."),
    _s("comms", "station", "Best-placed ground station (highest elevation); empty if none."),
    _f("comms", "elevation_deg", "deg", -90, 90, "Elevation seen from that station (-90: none)."),
    _f("comms", "azimuth_deg", "deg", 0, 360, "Azimuth seen from that station, from north."),
    _f("comms", "range_km", "km", 0, 200_000, "Slant range to that station."),
    _f("comms", "range_rate_km_s", "km/s", -20, 20, "Range rate, positive when receding."),
    _f("comms", "doppler_hz", "Hz", -1_000_000, 1_000_000, "Downlink Doppler shift."),
    _f("comms", "rssi_dbm", "dBm", -200, 0, "Received signal strength at the station."),
    _b("comms", "radio_ok", "Transceiver healthy (false during a radio dropout)."),
    _f("comms", "downlink_rate_mbps", "Mbit/s", 0, 10_000, "Current downlink data rate."),
    # obc
    _f("obc", "cpu_load_pct", "%", 0, 100, "On-board computer CPU load."),
    _i("obc", "uptime_s", "s", 0, None, "Time since the last OBC boot (simulated)."),
    _i("obc", "boot_count", "1", 0, None, "OBC boots since launch."),
    _f("obc", "storage_used_mb", "MB", 0, 10_000_000, "Mass-memory occupancy."),
    _f("obc", "storage_used_pct", "%", 0, 100, "Mass-memory occupancy, percent of capacity."),
    _i("obc", "commands_executed", "1", 0, None, "Commands executed since boot."),
    _b("obc", "fdir_latched", "Fault protection has tripped and not been cleared."),
    _s("obc", "fdir_reason", "Why fault protection last tripped (empty if latch clear)."),
    # payload
    _b("payload", "payload_on", "Payload powered."),
    _f("payload", "payload_power_w", "W", 0, 10_000, "Payload consumption."),
    _i("payload", "images_captured", "1", 0, None, "Images captured since launch."),
    _f("payload", "data_rate_mbps", "Mbit/s", 0, 10_000, "Payload data production rate."),
)

CHANNELS_BY_SUBSYSTEM: dict[str, tuple[Channel, ...]] = {
    sub: tuple(c for c in CHANNELS if c.subsystem == sub) for sub in SUBSYSTEM_MEASUREMENTS
}
CHANNEL_INDEX: dict[str, Channel] = {c.key: c for c in CHANNELS}

_HEADER_KEYS = ("version", "satellite", "time", "seq", "mode")
#: InfluxDB's integers are signed 64-bit: an integer channel or `seq` beyond would be a point it
#: refuses (orjson reads integers up to 2**64 - 1).
INT64_MAX = 2**63 - 1
_MODES = frozenset(m.value for m in Mode)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "float": (float, int),
    "int": (int,),
    "bool": (bool,),
    "str": (str,),
}


class TelemetryError(ValueError):
    """A telemetry message does not follow the schema; `path` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def validate_message(message: dict[str, Any]) -> None:
    """Raise TelemetryError (naming the field) unless `message` follows schema version 1."""
    if not isinstance(message, dict):
        raise TelemetryError("$", "message must be a JSON object")
    version = message.get("version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise TelemetryError("version", f"{version!r} is not {SCHEMA_VERSION}")
    satellite = message.get("satellite")
    if not isinstance(satellite, str) or not satellite or not _is_utf8(satellite):
        raise TelemetryError("satellite", f"{satellite!r} is not a non-empty string")
    stamp = message.get("time")
    try:
        parse_time_ns(stamp)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise TelemetryError("time", str(exc)) from None
    seq = message.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= INT64_MAX:
        raise TelemetryError("seq", f"{seq!r} is not an integer in 0..2**63-1")
    mode = message.get("mode")
    if not isinstance(mode, str) or mode not in _MODES:  # a list or dict is not hashable
        raise TelemetryError("mode", f"{mode!r} is not one of {sorted(_MODES)}")
    extra = set(message) - set(_HEADER_KEYS) - set(SUBSYSTEM_MEASUREMENTS)
    if extra:
        raise TelemetryError(sorted(extra)[0], "unknown field")
    for sub, channels in CHANNELS_BY_SUBSYSTEM.items():
        _validate_group(sub, channels, message.get(sub))


def _validate_group(sub: str, channels: tuple[Channel, ...], group: Any) -> None:
    if not isinstance(group, dict):
        raise TelemetryError(sub, "missing or not an object")
    if len(group) != len(channels):
        unknown = set(group) - {c.name for c in channels}
        if unknown:
            raise TelemetryError(f"{sub}.{sorted(unknown)[0]}", "unknown channel")
    for channel in channels:
        path = f"{sub}.{channel.name}"
        if channel.name not in group:
            raise TelemetryError(path, "missing")
        _check_value(channel, path, group[channel.name])


def _is_utf8(text: str) -> bool:
    """False for a string with a lone surrogate, which no UTF-8 encoder (orjson) can write."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_value(channel: Channel, path: str, value: float | str) -> None:
    if not isinstance(value, _PY_TYPES[channel.type]) or (
        channel.type != "bool" and isinstance(value, bool)
    ):
        raise TelemetryError(path, f"{value!r} is not of type {channel.type}")
    if isinstance(value, str) and not _is_utf8(value):
        raise TelemetryError(path, f"{value!r} is not valid UTF-8 (a lone surrogate)")
    if channel.type in ("float", "int"):
        if value != value:
            raise TelemetryError(path, "is NaN")
        if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise TelemetryError(path, f"{value!r} does not fit a signed 64-bit integer")
        number = float(value)  # bool/str excluded above; int and float compare as float
        if (channel.minimum is not None and number < channel.minimum) or (
            channel.maximum is not None and number > channel.maximum
        ):
            lo = "…" if channel.minimum is None else channel.minimum
            hi = "…" if channel.maximum is None else channel.maximum
            raise TelemetryError(path, f"{value!r} outside {lo}..{hi} {channel.unit}")


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message for Kafka (compact JSON, UTF-8)."""
    return orjson.dumps(message)


def decode(payload: bytes | str) -> dict[str, Any]:
    """Parse and validate a message; raises TelemetryError with the reason (for the DLQ)."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise TelemetryError("$", f"not JSON: {exc}") from None
    validate_message(message)
    result: dict[str, Any] = message
    return result


def render_markdown() -> str:
    """docs/telemetry.md, generated from CHANNELS (`python -m mpcs.core.telemetry`)."""
    out = [
        "# Telemetry",
        "",
        "<!-- Generated from core/mpcs/core/telemetry.py by `python -m mpcs.core.telemetry > "
        "docs/telemetry.md`; do not edit by hand (a unit test fails when this file is stale). -->",
        "",
        f"Schema version **{SCHEMA_VERSION}**. One JSON object per satellite per sample on "
        "`mpcs.<namespace>.<mission>.telemetry`, keyed by satellite name (per-satellite order), "
        f"in `{KAFKA_COMPRESSION}`-compressed record batches.",
        "",
        "| Field | Type | Meaning |",
        "| --- | --- | --- |",
        f"| `version` | int | Schema version, `{SCHEMA_VERSION}`; a consumer rejects others (DLQ). "
        "|",
        "| `satellite` | string | Satellite name (the Kafka key). |",
        "| `time` | string | Sample time, UTC ISO-8601 with 9 fractional digits and `Z` (the "
        "simulated spacecraft clock). |",
        "| `seq` | int | Sample sequence number, +1 per sample, per satellite; a restarted "
        "simulator continues after the last one published (docs/simulator.md#checkpoints). "
        "Stored as the field `seq` of the `obc` measurement, so gaps and repeats can be "
        "counted. (`satellite`, `time`) identifies a sample. |",
        "| `mode` | string | SAFE, NOMINAL, PAYLOAD or DOWNLINK. |",
        "| `orbit`, `power`, `thermal`, `adcs`, `comms`, `obc`, `payload` | object | Channel "
        "values of that subsystem (InfluxDB measurement), below. |",
        "",
        "Every channel is always present, has the listed type and lies within the range; anything "
        "else makes the message invalid (`mpcs.core.telemetry.validate_message`). Integers "
        "(channels and `seq`) fit a signed 64-bit integer, as InfluxDB stores them; numbers are "
        "finite (JSON has no NaN or Infinity).",
        "",
        "Besides the simulator, ground stations and other sources may post messages over HTTP "
        "(`POST /api/v1/satellites/{sat}/telemetry`, role ingest, `docs/api.md`): the same "
        "validator checks them, a batch is taken whole or not at all, and they go to the same "
        "topic.",
    ]
    for sub, channels in CHANNELS_BY_SUBSYSTEM.items():
        out += ["", f"## {sub}", "", "| Channel | Type | Unit | Range | Description |"]
        out.append("| --- | --- | --- | --- | --- |")
        for c in channels:
            if c.type in ("bool", "str"):
                bounds = "—"
            else:
                lo = "…" if c.minimum is None else f"{c.minimum:g}"
                hi = "…" if c.maximum is None else f"{c.maximum:g}"
                bounds = f"{lo} .. {hi}"
            out.append(f"| `{c.name}` | {c.type} | {c.unit} | {bounds} | {c.description} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
