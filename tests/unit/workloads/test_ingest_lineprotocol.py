"""Line-protocol encoding of telemetry: field types, every subsystem, fast == checked, and the
native encoder escaping as the kit's one rule set does (the rules themselves: tests/unit/kit)."""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcs_lineproto import TelemetryEncoder

from mpcs.core.names import SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import (
    CHANNELS,
    CHANNELS_BY_SUBSYSTEM,
    decode,
    encode,
    validate_message,
)
from mpcs.kit.lineprotocol import LineProtocolError, escape_tag, format_string
from mpcs.orbit.timeutil import format_time_ns, parse_time_ns
from mpcs.simulator import Spacecraft
from mpcs.workloads.ingest.lineprotocol import (
    channel_values_per_message,
    encode_if_valid,
    encode_message,
    encode_message_checked,
    encode_raw_if_valid,
    format_value,
    points_per_message,
    time_ns,
)

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
START_NS = 1_700_000_000_123_456_789


def _message(name: str = "sat-a", steps: int = 0) -> dict[str, Any]:
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
    )
    craft = Spacecraft(name, spec, start=START_NS)
    for _ in range(steps):
        craft.advance(30.0)
    return decode(encode(craft.telemetry()))  # exactly what the ingest sees


# --------------------------------------------------------------------------- a small LP parser
def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i, quoted = [], "", 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ', ="\\':
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def _parse_value(text: str) -> Any:
    if text.startswith('"'):
        return ("str", _unescape(text[1:-1]))
    if text in ("true", "false"):
        return ("bool", text == "true")
    if text.endswith("i"):
        return ("int", int(text[:-1]))
    return ("float", float(text))


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    """(measurement, tags, fields, timestamp) of one line — enough to check our own output."""
    head, fields_text, stamp = _split_unescaped(line, " ")
    series = _split_unescaped(head, ",")
    tags = dict(_split_unescaped(t, "=") for t in series[1:])  # type: ignore[misc]
    fields = {}
    for pair in _split_unescaped(fields_text, ","):
        key, value = _split_unescaped(pair, "=")
        fields[_unescape(key)] = _parse_value(value)
    return _unescape(series[0]), {k: _unescape(v) for k, v in tags.items()}, fields, int(stamp)


def points(body: bytes) -> list[tuple[str, dict[str, str], dict[str, Any], int]]:
    text = body.decode()
    assert text.endswith("\n")
    return [parse_line(line) for line in _split_unescaped(text[:-1], "\n")]


# --------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1.5, "float", "1.5"),
        (0, "float", "0.0"),  # a JSON integer in a float channel stays a float field
        (-3, "float", "-3.0"),
        (1e-7, "float", "1e-07"),
        (7, "int", "7i"),
        (-7, "int", "-7i"),
        (2**63 - 1, "int", f"{2**63 - 1}i"),
        (True, "bool", "true"),
        (False, "bool", "false"),
        ("NADIR", "str", '"NADIR"'),
    ],
)
def test_values_follow_the_catalogue_type(value: Any, kind: str, expected: str) -> None:
    assert format_value(value, kind=kind, path="x.y") == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (math.nan, "float"),
        (math.inf, "float"),
        (True, "float"),
        ("1", "float"),
        (1.0, "int"),
        (True, "int"),
        (2**63, "int"),
        (1, "bool"),
        (1, "str"),
    ],
)
def test_values_of_the_wrong_type_are_refused_naming_the_field(value: Any, kind: str) -> None:
    with pytest.raises(LineProtocolError) as info:
        format_value(value, kind=kind, path="power.battery_soc_pct")
    assert info.value.path == "power.battery_soc_pct"


# --------------------------------------------------------------------------- messages
def test_one_point_per_subsystem_with_every_channel_in_its_type() -> None:
    message = _message()
    parsed = points(encode_message(message))
    assert [p[0] for p in parsed] == list(SUBSYSTEM_MEASUREMENTS)
    assert len(parsed) == points_per_message() == 7
    stamp = parse_time_ns(message["time"])
    for measurement, tags, fields, ts in parsed:
        assert tags == {SATELLITE_TAG: "sat-a"}
        assert ts == stamp
        channels = CHANNELS_BY_SUBSYSTEM[measurement]
        extra = {"mode", "seq"} if measurement == "obc" else set()
        assert set(fields) == {c.name for c in channels} | extra
        for channel in channels:
            kind, value = fields[channel.name]
            assert kind == channel.type, channel.key
            original = message[measurement][channel.name]
            if channel.type == "float":
                assert value == float(original)
            else:
                assert value == original
    obc = parsed[SUBSYSTEM_MEASUREMENTS.index("obc")][2]
    assert obc["mode"] == ("str", message["mode"])
    assert obc["seq"] == ("int", message["seq"])
    assert channel_values_per_message() == len(CHANNELS) == 48


def test_integer_values_of_float_channels_stay_floats() -> None:
    message = _message()
    message["power"]["battery_current_a"] = 0
    message["comms"]["elevation_deg"] = -90
    for body in (encode_message(message), encode_message_checked(message)):
        fields = {p[0]: p[2] for p in points(body)}
        assert fields["power"]["battery_current_a"] == ("float", 0.0)
        assert fields["comms"]["elevation_deg"] == ("float", -90.0)
        assert b"battery_current_a=0i" not in body


def test_satellite_and_strings_with_special_characters_round_trip() -> None:
    message = _message()
    message["satellite"] = "sat a,b=c"
    message["obc"]["fdir_reason"] = 'battery "low", SOC=9\\% \n then SAFE'
    message["comms"]["station"] = "Île de France, 2"
    for body in (encode_message(message), encode_message_checked(message)):
        parsed = points(body)
        assert {p[1][SATELLITE_TAG] for p in parsed} == {"sat a,b=c"}
        fields = {p[0]: p[2] for p in parsed}
        assert fields["obc"]["fdir_reason"] == ("str", message["obc"]["fdir_reason"])
        assert fields["comms"]["station"] == ("str", "Île de France, 2")


def test_unrepresentable_satellite_raises_naming_the_field() -> None:
    message = _message()
    message["satellite"] = "sat\nnewline"
    with pytest.raises(LineProtocolError) as info:
        encode_message(message)
    assert info.value.path == SATELLITE_TAG


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("power.battery_soc_pct", math.nan),
        ("power.battery_soc_pct", True),
        ("obc.uptime_s", 1.5),
        ("obc.boot_count", 2**64),
        ("adcs.attitude", 3),
        ("thermal.heater_fault", 0),
    ],
)
def test_fast_path_falls_back_and_names_a_bad_value(path: str, value: Any) -> None:
    message = _message()
    sub, name = path.split(".")
    message[sub][name] = value
    with pytest.raises(LineProtocolError) as info:
        encode_message(message)
    assert info.value.path == path


def test_time_fast_path_matches_the_reference_parser() -> None:
    for text in (
        "2023-11-14T22:13:20.123456789Z",
        "1970-01-01T00:00:00.000000000Z",
        "2024-02-29T23:59:59.999999999Z",
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00.5Z",
    ):
        assert time_ns(text) == parse_time_ns(text)
    with pytest.raises(ValueError, match="not a UTC time"):
        time_ns("2025-01-01T00:00:00.00000000xZ")


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(min_value=0, max_value=400), data=st.data())
def test_fast_encoder_equals_the_checked_encoder(steps: int, data: st.DataObject) -> None:
    message = _message(steps=steps)
    # Perturb a few values within their types: ints in float channels, odd strings.
    mutated = copy.deepcopy(message)
    channel = data.draw(st.sampled_from(CHANNELS))
    if channel.type == "float":
        lo = channel.minimum if channel.minimum is not None else -1e6
        hi = channel.maximum if channel.maximum is not None else 1e6
        mutated[channel.subsystem][channel.name] = data.draw(
            st.one_of(
                st.integers(min_value=math.ceil(lo), max_value=math.floor(hi)),
                st.floats(min_value=lo, max_value=hi, allow_nan=False),
            )
        )
    elif channel.type == "str":
        mutated[channel.subsystem][channel.name] = data.draw(st.text(max_size=20))
    assert points(encode_message(mutated)) == points(encode_message_checked(mutated))


# --------------------------------------------------------------------------- the fast validator
def test_fast_path_accepts_real_telemetry_and_encodes_it_exactly() -> None:
    for steps in (0, 7, 150):
        message = _message(steps=steps)
        lines = encode_if_valid(message)
        assert lines is not None
        assert lines == encode_message(message)
        assert points(lines) == points(encode_message_checked(message))


_ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63,
    2**70,
    1.0,
    -0.0,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "1",
    "NOMINAL",
    "٣",
    [],
    [1],
    {},
    {"a": 1},
]
_ODD_TIMES = [
    "2023-11-14T22:13:20.123456789Z",
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:20.123456789Z\n",
    "2023-11-14T 2:13:20.123456789Z",
    "2023-11-14T+2:13:20.123456789Z",
    "2023-11-14T2_:13:20.123456789Z",
    "2023-11-14T22:13:20.12345678٣Z",
    "2023-13-45T99:99:99.123456789Z",
    "2023-11-14 22:13:20.123456789Z",
]


@st.composite
def _mutations(draw: st.DrawFn) -> dict[str, Any]:
    message = _cached_message(draw(st.integers(min_value=0, max_value=50)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(["header", "channel", "key", "group"]))
        if where == "header":
            key = draw(st.sampled_from(["version", "satellite", "time", "seq", "mode"]))
            pool = _ODD_TIMES if key == "time" else _ODD_VALUES
            message[key] = draw(st.sampled_from(pool))
        elif where == "channel":
            channel = draw(st.sampled_from(CHANNELS))
            value = draw(
                st.one_of(
                    st.sampled_from(_ODD_VALUES),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=-(2**64), max_value=2**64),
                    st.text(max_size=5),
                )
            )
            group = message.get(channel.subsystem)
            if isinstance(group, dict):
                group[channel.name] = value
        elif where == "key":
            if draw(st.booleans()):
                message[draw(st.sampled_from(["extra", "version", "orbit"]))] = 1
            else:
                message.pop(draw(st.sampled_from(sorted(message))), None)
        else:
            sub = draw(st.sampled_from(SUBSYSTEM_MEASUREMENTS))
            group = message.get(sub)
            if isinstance(group, dict) and group and draw(st.booleans()):
                group.pop(draw(st.sampled_from(sorted(group))))
            elif isinstance(group, dict):
                group["extra"] = 1.0
    return message


@settings(max_examples=400, deadline=None)
@given(message=_mutations())
def test_fast_path_accepts_only_what_validate_message_accepts(message: dict[str, Any]) -> None:
    lines = encode_if_valid(message)
    if lines is None:
        return  # the authority decides (covered by the DLQ tests)
    validate_message(message)  # must not raise
    assert lines == encode_message(message)
    assert points(lines) == points(encode_message_checked(message))


# --------------------------------------------------------------------------- the raw fast path
def test_raw_path_takes_the_simulators_telemetry_as_it_is_on_kafka() -> None:
    # The simulator's own message shape (key order, number forms) must hit the raw path: if the
    # model's output changes shape, the ingest stays correct but slow, and this test says so.
    for steps in (0, 7, 150, 3000):
        message = _message(steps=steps)
        payload = encode(message)
        lines = encode_raw_if_valid(payload)
        assert lines is not None, payload[:200]
        assert lines == encode_if_valid(message) == encode_message(message)
        assert points(lines) == points(encode_message_checked(message))


def test_raw_path_declines_what_it_does_not_vouch_for() -> None:
    message = _message(steps=3)
    payload = encode(message)
    assert encode_raw_if_valid(payload.replace(b",", b", ", 1)) is None  # whitespace
    assert encode_raw_if_valid(payload + b" ") is None
    assert (
        encode_raw_if_valid(payload.replace(b'"cpu_load_pct":', b'"cpu_load_pct":1e999,"x":', 1))
        is None
    )
    odd = copy.deepcopy(message)
    odd["obc"]["fdir_reason"] = "café"  # non-ASCII: left to the JSON path
    assert encode_raw_if_valid(encode(odd)) is None
    odd["obc"]["fdir_reason"] = "line\nbreak"
    assert encode_raw_if_valid(encode(odd)) is None
    odd["obc"]["fdir_reason"] = 'say "hi" \\o/'  # only \" and \\ escapes: taken, same value
    lines = encode_raw_if_valid(encode(odd))
    assert lines is not None
    assert points(lines) == points(encode_message_checked(odd))
    before_1970 = copy.deepcopy(message)
    before_1970["time"] = "1969-12-31T23:59:59.500000000Z"
    assert encode_raw_if_valid(encode(before_1970)) is None


@settings(max_examples=300, deadline=None)
@given(
    stamp=st.integers(min_value=1_000_000_000, max_value=253_402_300_799_999_999_999),
    month_day=st.sampled_from(["02-29", "02-30", "04-31", "12-31", "00-10", "13-01", "06-00"]),
    odd=st.booleans(),
)
def test_raw_path_times_are_the_reference_parsers(stamp: int, month_day: str, odd: bool) -> None:
    """Every real time from 1970-01-01T00:00:01 to 9999 converts exactly; odd dates are left to
    the JSON path (which, after `validate_message`, has the last word)."""
    message = _cached_message(3)
    text = format_time_ns(stamp)
    if odd:  # possibly impossible dates: Feb 30, month 13, day 0…
        text = text[:5] + month_day + text[10:]
    message["time"] = text
    lines = encode_raw_if_valid(encode(message))
    if not odd:
        assert lines is not None, text
    if lines is not None:
        assert {p[-1] for p in points(lines)} == {parse_time_ns(text)}
        assert points(lines) == points(encode_message_checked(message))


_BYTE_EDITS = [
    b" ",
    b"\t",
    b"0",
    b"9",
    b"-",
    b".",
    b"e",
    b"E",
    b"+",
    b'"',
    b"\\",
    b",",
    b":",
    b"{",
    b"}",
    b"[",
    b"x",
    b"\xc3\xa9",
    b"\x00",
    b"\x7f",
    b"1e400",
    b"true",
    b"null",
]


@st.composite
def _raw_payloads(draw: st.DrawFn) -> bytes:
    message = (
        draw(_mutations()) if draw(st.booleans()) else _message(steps=draw(st.integers(0, 50)))
    )
    try:
        payload = orjson.dumps(message)
    except orjson.JSONEncodeError:
        payload = encode(_message(steps=1))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(payload)))
        cut = draw(st.integers(min_value=0, max_value=3))
        payload = payload[:at] + draw(st.sampled_from(_BYTE_EDITS)) + payload[at + cut :]
    return payload


@functools.lru_cache(maxsize=64)
def _cached_message_json(steps: int) -> bytes:
    return encode(_message(steps=steps))


def _cached_message(steps: int) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(_cached_message_json(steps))
    return message


@settings(max_examples=500, deadline=None)
@given(payload=_raw_payloads())
def test_raw_path_accepts_only_what_validate_message_accepts(payload: bytes) -> None:
    lines = encode_raw_if_valid(payload)
    if lines is None:
        return  # the JSON path decides (covered above and by the DLQ tests)
    message = orjson.loads(payload)  # must be JSON
    validate_message(message)  # must not raise
    # The same points (a number keeps its own spelling, e.g. `0.10`, which parses the same).
    assert points(lines) == points(encode_message_checked(message))


@pytest.mark.parametrize(
    ("modes", "groups", "match"),
    [
        (["SAFE MODE"], [], "JSON names"),
        (["SAFE"], [("or bit", "orbit", False, [])], "JSON names"),
        (["SAFE"], [("orbit", "orbit", False, [("lat", "lat", "complex", None, None)])], "type"),
    ],
)
def test_the_native_encoder_refuses_a_catalogue_it_cannot_walk(
    modes: list[str], groups: list[Any], match: str
) -> None:
    # The catalogue is handed over from Python; a name that would need JSON escaping or an
    # unknown channel type must fail at start-up, not make the fast path silently decline.
    with pytest.raises(ValueError, match=match):
        TelemetryEncoder(version=1, modes=modes, tag_key="satellite", groups=groups)


# --------------------------------------------------------------------------- one escaping rule set
_ASCII = [chr(code) for code in range(128)]


def test_the_native_encoder_copies_only_satellite_names_the_kit_would_not_escape() -> None:
    accepted = []
    for char in _ASCII:
        message = _cached_message(0)
        message["satellite"] = f"sat{char}1"
        lines = encode_raw_if_valid(encode(message))
        if lines is not None:
            accepted.append(char)
            assert escape_tag(message["satellite"]) == message["satellite"]
            assert lines == encode_message_checked(message)
    assert set("azAZ09._-") <= set(accepted)  # what simulators are named with goes native


def test_the_native_encoder_writes_string_values_as_the_kit_does() -> None:
    accepted = []
    for char in [*_ASCII, "é"]:
        message = _cached_message(0)
        message["obc"]["fdir_reason"] = f"low{char}battery"
        lines = encode_raw_if_valid(encode(message))
        if lines is not None:
            accepted.append(char)
            assert f"fdir_reason={format_string(f'low{char}battery')}".encode() in lines
            assert lines == encode_message_checked(message)
    assert {'"', "\\", " ", ",", "="} <= set(accepted)  # the escapes both sides write
