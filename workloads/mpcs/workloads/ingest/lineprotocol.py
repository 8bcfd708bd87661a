r"""Telemetry message → InfluxDB line protocol (DESIGN §4), pure functions used by the ingest.

One validated telemetry message becomes one point per subsystem: measurement = subsystem
(`names.SUBSYSTEM_MEASUREMENTS`), tag `satellite`, one field per catalogued channel, timestamp =
the message `time` in nanoseconds. The `obc` point also carries the message header's `mode`
(string) and `seq` (integer), so the spacecraft mode is queryable beside the channels.

Field types follow the channel catalogue, not the JSON token: a `float` channel whose value arrives
as the JSON integer `0` is still written as a float (`0.0`), because InfluxDB refuses a field whose
type changes within a shard. Integers get the `i` suffix, booleans are `true`/`false`, strings are
double-quoted with `"` and `\` escaped.

Escaping is the kit's one rule set (`mpcs.kit.lineprotocol`): a satellite name line protocol
cannot carry raises `LineProtocolError` naming the field (the ingest sends that message to the
DLQ) instead of silently storing something else.

>>> format_field("payload.images_captured", 7)
'7i'
>>> format_field("power.battery_current_a", 0)
'0.0'
"""

from __future__ import annotations

import math
import operator
from typing import Any

import orjson
from mpcs_lineproto import TelemetryEncoder

from mpcs.core.commands import Mode
from mpcs.core.names import SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.core.telemetry import CHANNEL_INDEX, CHANNELS_BY_SUBSYSTEM, SCHEMA_VERSION
from mpcs.kit.lineprotocol import (
    LineProtocolError,
    escape_key,
    escape_measurement,
    escape_tag,
    format_string,
)
from mpcs.orbit.timeutil import parse_time_ns

#: Fields the `obc` point carries on top of its channels (from the message header).
HEADER_FIELDS_MEASUREMENT = "obc"


def format_value(value: Any, *, kind: str, path: str) -> str:
    """One field value in the catalogue type `kind` ('float', 'int', 'bool', 'str')."""
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LineProtocolError(path, f"{value!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise LineProtocolError(path, f"{value!r} is not finite")
        return repr(number)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LineProtocolError(path, f"{value!r} is not an integer")
        if not -(2**63) <= value < 2**63:
            raise LineProtocolError(path, f"{value!r} does not fit a signed 64-bit integer")
        return f"{value}i"
    if kind == "bool":
        if not isinstance(value, bool):
            raise LineProtocolError(path, f"{value!r} is not a boolean")
        return "true" if value else "false"
    if kind == "str":
        if not isinstance(value, str):
            raise LineProtocolError(path, f"{value!r} is not a string")
        return format_string(value)
    raise LineProtocolError(path, f"unknown field type {kind!r}")


def format_field(channel_key: str, value: Any) -> str:
    """The value of catalogue channel `subsystem.name` in its catalogued type."""
    channel = CHANNEL_INDEX[channel_key]
    return format_value(value, kind=channel.type, path=channel_key)


# Per subsystem: (name, escaped measurement, ((channel name, escaped field key, type, path), …)).
_PLAN: tuple[tuple[str, str, tuple[tuple[str, str, str, str], ...]], ...] = tuple(
    (
        sub,
        escape_measurement(sub),
        tuple(
            (c.name, escape_key(c.name, path=c.key), c.type, c.key)
            for c in CHANNELS_BY_SUBSYSTEM[sub]
        ),
    )
    for sub in SUBSYSTEM_MEASUREMENTS
)
_SAT_KEY = escape_key(SATELLITE_TAG)


def encode_message_checked(message: dict[str, Any]) -> bytes:
    """The reference encoder: every value checked and formatted by `format_value`.

    `encode_message` gives the same points faster; this one is its oracle in the tests and its
    fallback for anything unusual.
    """
    satellite = escape_tag(message["satellite"], path=SATELLITE_TAG)
    try:
        stamp = parse_time_ns(message["time"])
    except (TypeError, ValueError) as exc:
        raise LineProtocolError("time", str(exc)) from None
    lines: list[str] = []
    for sub, measurement, channels in _PLAN:
        group = message[sub]
        fields = [
            f"{key}={format_value(group[name], kind=kind, path=path)}"
            for name, key, kind, path in channels
        ]
        if sub == HEADER_FIELDS_MEASUREMENT:
            fields.append(f"mode={format_value(message['mode'], kind='str', path='mode')}")
            fields.append(f"seq={format_value(message['seq'], kind='int', path='seq')}")
        lines.append(f"{measurement},{_SAT_KEY}={satellite} {','.join(fields)} {stamp}\n")
    return "".join(lines).encode()


def _build_template() -> tuple[list[str | None], tuple[int, ...], tuple[tuple[str, str], ...]]:
    """The seven lines of a message as constant text with value slots between the pieces.

    Returns the constants spread over even positions of a list whose odd positions take the
    values, and for each odd position the index of its value in `values + [satellite,
    timestamp, mode, seq]` (values in the catalogue's wire order).
    """
    order = [(sub, name) for sub, _m, channels in _PLAN for name, *_ in channels]
    sat, stamp, mode, seq = range(len(order), len(order) + 4)
    consts: list[str] = []
    slots: list[int] = []
    text = ""
    slot = 0
    for sub, measurement, channels in _PLAN:
        text += f"{measurement},{_SAT_KEY}="
        consts.append(text)
        slots.append(sat)
        text = " "
        for i, (_name, key, kind, _path) in enumerate(channels):
            text += ("," if i else "") + f"{key}="
            consts.append(text)
            slots.append(slot)
            slot += 1
            text = "i" if kind == "int" else ""
        if sub == HEADER_FIELDS_MEASUREMENT:
            consts.append(text + ",mode=")
            slots.append(mode)
            consts.append(",seq=")
            slots.append(seq)
            text = "i"
        consts.append(text + " ")
        slots.append(stamp)
        text = "\n"
    consts.append(text)
    spread: list[str | None] = [None] * (2 * len(consts) - 1)
    spread[0::2] = consts
    return spread, tuple(slots), tuple(order)


_SPREAD, _SLOTS, _ORDER = _build_template()
_PICK = operator.itemgetter(*_SLOTS)
_GROUPS = tuple(
    (sub, operator.itemgetter(*(name for name, *_ in channels))) for sub, _m, channels in _PLAN
)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "float": (float, int),
    "int": (int,),
    "bool": (bool,),
    "str": (str,),
}
_KINDS = tuple(CHANNEL_INDEX[f"{sub}.{name}"].type for sub, name in _ORDER)
#: Exact Python types (`type(v) in …`, so a bool is never taken for an int) allowed per slot.
_SLOT_TYPES = tuple(_PY_TYPES[kind] for kind in _KINDS)
#: The usual exact types (every float channel holding a float): checked in one comparison.
_USUAL_TYPES = tuple(_PY_TYPES[kind][0] for kind in _KINDS)
_STR_SLOTS = tuple(i for i, kind in enumerate(_KINDS) if kind == "str")
_NUMERIC_SLOTS = tuple(i for i, kind in enumerate(_KINDS) if kind in ("float", "int"))
_PICK_NUMERIC = operator.itemgetter(*_NUMERIC_SLOTS)
_INT64_MAX = 2**63 - 1


def _bound(value: float | None, default: float) -> float:
    return default if value is None else value


_CHANNELS_IN_ORDER = tuple(CHANNEL_INDEX[f"{sub}.{name}"] for sub, name in _ORDER)
_LOWS = tuple(_bound(_CHANNELS_IN_ORDER[i].minimum, -math.inf) for i in _NUMERIC_SLOTS)
_HIGHS = tuple(
    _bound(
        _CHANNELS_IN_ORDER[i].maximum,
        _INT64_MAX if _CHANNELS_IN_ORDER[i].type == "int" else math.inf,
    )
    for i in _NUMERIC_SLOTS
)
_MESSAGE_KEYS = frozenset(("version", "satellite", "time", "seq", "mode", *SUBSYSTEM_MEASUREMENTS))
_GROUP_KEYS = {sub: frozenset(name for name, *_ in channels) for sub, _m, channels in _PLAN}
_MODE_VALUES = frozenset(mode.value for mode in Mode)
_EPOCH_DAYS: dict[str, int] = {}


def _canonical_time_ns(text: str) -> int | None:
    """Nanoseconds of `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (ASCII digits), else None.

    Every such string matches `parse_time_ns`'s pattern, and gives the same number (the date part
    goes through `parse_time_ns` itself, cached per day).
    """
    if (
        len(text) != 30
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or text[19] != "."
        or text[29] != "Z"
        or not text.isascii()
    ):
        return None
    digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    fraction = text[20:29]
    if not (digits.isdigit() and fraction.isdigit()):
        return None
    day = text[:10]
    days = _EPOCH_DAYS.get(day)
    if days is None:
        try:
            days = parse_time_ns(day + "T00:00:00Z") // 86_400_000_000_000
        except ValueError:  # e.g. month 13: let the caller's slow path report it
            return None
        if len(_EPOCH_DAYS) > 10_000:
            _EPOCH_DAYS.clear()
        _EPOCH_DAYS[day] = days
    clock = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    return (days * 86_400 + clock) * 1_000_000_000 + int(fraction)


def time_ns(text: str) -> int:
    """`parse_time_ns` with a fast path for the canonical 9-digit form.

    >>> time_ns("2023-11-14T22:13:20.123456789Z")
    1700000000123456789
    """
    stamp = _canonical_time_ns(text)
    return parse_time_ns(text) if stamp is None else stamp


def _render(values: list[Any], satellite_tag: str, stamp: int, mode: str, seq: int) -> bytes | None:
    """The seven lines from the channel values in wire order (types already checked)."""
    strings = [values[slot] for slot in _STR_SLOTS]
    for slot in _STR_SLOTS:
        values[slot] = 0
    try:
        rendered = orjson.dumps(values)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return None
    if b"null" in rendered:  # NaN or infinity
        return None
    parts = rendered[1:-1].decode().split(",")
    for slot, text in zip(_STR_SLOTS, strings, strict=True):
        parts[slot] = format_string(text)
    parts += (satellite_tag, str(stamp), format_string(mode), str(seq))
    buffer = _SPREAD.copy()
    buffer[1::2] = _PICK(parts)
    return "".join(buffer).encode()  # type: ignore[arg-type]


def encode_if_valid(message: Any) -> bytes | None:
    """Line protocol of a message that certainly passes `validate_message`; None otherwise.

    The ingest's fast path: one pass over the message checks the exact key sets, the exact value
    types, the catalogue ranges (in C-level `map` calls) and the header, and encodes. It only
    ever *accepts*; whatever it does not vouch for (including unusual but valid messages, such as
    a float channel holding a JSON integer) returns None, and the caller asks the authority,
    `mpcs.core.telemetry.validate_message`, for the verdict and the reason. A property test checks
    that every message accepted here passes `validate_message` and encodes exactly as
    `encode_message_checked` does.
    """
    if type(message) is not dict or message.keys() != _MESSAGE_KEYS:
        return None
    version, satellite, seq, mode = (
        message["version"],
        message["satellite"],
        message["seq"],
        message["mode"],
    )
    if (
        type(version) is not int
        or version != SCHEMA_VERSION
        or type(satellite) is not str
        or not satellite
        or type(seq) is not int
        or seq < 0
        or seq > _INT64_MAX
        or type(mode) is not str
        or mode not in _MODE_VALUES
        or type(message["time"]) is not str
    ):
        return None
    stamp = _canonical_time_ns(message["time"])
    if stamp is None:
        return None
    values: list[Any] = []
    for sub, pick in _GROUPS:
        group = message[sub]
        if type(group) is not dict or group.keys() != _GROUP_KEYS[sub]:
            return None
        values.extend(pick(group))
    if tuple(map(type, values)) != _USUAL_TYPES:
        return None
    numeric = _PICK_NUMERIC(values)
    # Comparisons with NaN are false, so NaN fails here as validate_message wants.
    if not (all(map(operator.ge, numeric, _LOWS)) and all(map(operator.le, numeric, _HIGHS))):
        return None
    try:
        satellite_tag = escape_tag(satellite, path=SATELLITE_TAG)
    except LineProtocolError:
        return None
    return _render(values, satellite_tag, stamp, mode, seq)


# --------------------------------------------------------------------------------------------
# The raw fast path: line protocol straight from the Kafka payload's bytes, in native code.
#
# The simulator writes every message with `orjson.dumps` in one canonical shape: the header keys,
# then each subsystem's channels in catalogue order, no whitespace. `mpcs_lineproto` (Rust,
# workloads/lineproto/src/lib.rs) walks exactly that shape with the JSON grammar of each value's
# catalogue type (floats must look like floats, integers of at most 18 digits, `true`/`false`,
# printable-ASCII strings whose only escapes are `\"` and `\\`, a known mode, the canonical
# 9-digit UTC time, a satellite name that needs no tag escaping) and the catalogue ranges. Such
# value tokens are already valid line protocol with the same value, so the points are the
# message's own bytes slotted between the constant text. Anything else — another key order,
# whitespace, unusual escapes, non-ASCII text, a float channel holding an integer — is not
# rejected, just left to `encode_if_valid` and, after it, `validate_message`. The catalogue it
# checks against is handed over here, from CHANNELS: nothing about it is written in Rust.

RAW_ENCODER = TelemetryEncoder(
    version=SCHEMA_VERSION,
    modes=[mode.value for mode in Mode],
    tag_key=_SAT_KEY,
    groups=[
        (
            sub,
            measurement,
            sub == HEADER_FIELDS_MEASUREMENT,
            [
                (
                    name,
                    key,
                    kind,
                    CHANNEL_INDEX[path].minimum,
                    CHANNEL_INDEX[path].maximum,
                )
                for name, key, kind, path in channels
            ],
        )
        for sub, measurement, channels in _PLAN
    ],
)


def encode_raw_if_valid(payload: bytes) -> bytes | None:
    """Line protocol of a canonical telemetry payload that certainly passes `validate_message`.

    None for anything this path does not vouch for (the caller then parses the JSON); like
    `encode_if_valid` it only ever accepts. A property test checks that whatever it accepts
    also passes `validate_message` and gives the same points as `encode_message_checked`.

    >>> encode_raw_if_valid(b'{"version": 1}') is None
    True
    """
    return RAW_ENCODER.encode(payload)


def encode_raw_many(payloads: list[bytes | None]) -> list[bytes | None]:
    """`encode_raw_if_valid` of every payload of a fetch, in one native call."""
    return RAW_ENCODER.encode_many(payloads)


def encode_message(message: dict[str, Any]) -> bytes:
    """The line-protocol lines (newline-terminated) of one *validated* telemetry message.

    Numbers and booleans are rendered in one `orjson.dumps` call (JSON renders a float, and a
    float channel's integer, exactly as line protocol reads a float; booleans as `true`/`false`),
    strings are re-quoted for line protocol, and the values are slotted between precomputed
    constant text. Anything this path cannot vouch for (NaN/∞, a wrong type, a huge integer, a
    missing key) is encoded by `encode_message_checked`, which names the field in a
    LineProtocolError.
    """
    try:
        values: list[Any] = []
        for sub, pick in _GROUPS:
            values.extend(pick(message[sub]))
        if tuple(map(type, values)) != _USUAL_TYPES:
            for value, allowed in zip(values, _SLOT_TYPES, strict=True):
                if type(value) not in allowed:
                    return encode_message_checked(message)
        satellite, mode, seq = message["satellite"], message["mode"], message["seq"]
    except (KeyError, TypeError):
        return encode_message_checked(message)
    if type(mode) is not str or type(seq) is not int or type(satellite) is not str:
        return encode_message_checked(message)
    try:
        stamp = time_ns(message["time"])
    except (TypeError, ValueError) as exc:
        raise LineProtocolError("time", str(exc)) from None
    lines = _render(values, escape_tag(satellite, path=SATELLITE_TAG), stamp, mode, seq)
    return encode_message_checked(message) if lines is None else lines


def points_per_message() -> int:
    """Points one telemetry message becomes (one per subsystem)."""
    return len(SUBSYSTEM_MEASUREMENTS)


def channel_values_per_message() -> int:
    """Catalogued channel values in one telemetry message (header fields not counted)."""
    return sum(len(channels) for channels in CHANNELS_BY_SUBSYSTEM.values())
