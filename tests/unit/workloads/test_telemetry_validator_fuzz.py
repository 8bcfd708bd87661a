"""Property-based fuzzing of the one telemetry validator (issue 17): `mpcs.core.telemetry.decode`
and `validate_message`, and the telemetry POST's body parser built on them
(`mpcs.workloads.api.ingest_http.parse_batch`), on hostile input: any bytes, any JSON value,
and real messages with one field replaced by an edge value (integers beyond 64 bits,
non-finite and huge floats, lone surrogates, wrong types, unknown keys).

What must hold: the validator answers only "valid" or a `TelemetryError` naming the field; a
message it accepts can be encoded for Kafka and read back unchanged, and the ingest's
line-protocol encoder (what InfluxDB gets) takes it without an error; the POST's parser answers
only a batch or a `BodyRefused`. Anything else is a crashed consumer, a 500 at the API or a
batch InfluxDB refuses forever. Bounded: a few hundred examples each, no deadline (the machine
is shared). Crashes it found are pinned as regression tests at the end.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import CHANNELS_BY_SUBSYSTEM, TelemetryError, decode, encode
from mpcs.core.telemetry import validate_message as validate
from mpcs.kit.lineprotocol import LineProtocolError
from mpcs.simulator import Spacecraft
from mpcs.workloads.api.ingest_http import BodyRefused, parse_batch
from mpcs.workloads.ingest.lineprotocol import encode_if_valid, encode_message_checked

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


@functools.cache
def _samples() -> tuple[dict[str, Any], ...]:
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": L1, "line2": L2}}
    )
    craft = Spacecraft("sat-a", spec, start=1_700_000_000_123_456_789)
    out = []
    for _ in range(4):
        craft.advance(900.0)
        out.append(decode(encode(craft.telemetry())))
    return tuple(out)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
#: What orjson can write: integers within 64 bits (the bytes fuzz still sends larger ones).
json_scalars_64 = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values_64 = st.recursive(
    json_scalars_64,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
edges = st.sampled_from(
    [
        2**63 - 1,
        2**63,
        2**64 - 1,
        2**64,
        -(2**63),
        -(2**63) - 1,
        10**30,
        1e308,
        -1e308,
        5e-324,
        -0.0,
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        False,
        None,
        "",
        "\ud800",
        'x\n"\\,= y',
        "NOMINAL",
        [],
        {},
        "2025-03-01T12:00:00Z",
        "2025-03-01T12:00:00.000000000+01:00",
        "9999-12-31T23:59:59.999999999Z",
        "0001-01-01T00:00:00.000000000Z",
        "2262-04-11T23:47:16.854775808Z",
        "1677-09-21T00:12:43.145224191Z",
    ]
)
FIELD_PATHS = [("version",), ("satellite",), ("time",), ("seq",), ("mode",)] + [
    (sub, c.name) for sub, channels in CHANNELS_BY_SUBSYSTEM.items() for c in channels
]


def _accepted_is_usable(message: dict[str, Any]) -> None:
    """What a message the validator accepts must survive: Kafka and the ingest."""
    wire = encode(message)
    assert decode(wire) == message
    refused: LineProtocolError | None = None
    try:
        lines = encode_message_checked(message)
    except LineProtocolError as exc:
        refused = exc
    if refused is not None:
        # The one refusal the ingest makes after the validator, by design (it dead-letters the
        # message): a satellite name line protocol cannot carry. Never a channel's value.
        assert refused.path == "satellite", refused
        return
    _one_point_per_subsystem(lines)
    fast = encode_if_valid(orjson.loads(wire))  # the ingest's fast path: same message or None
    if fast is not None:
        _one_point_per_subsystem(fast)


def _one_point_per_subsystem(lines: bytes) -> None:
    # Not a count of newlines: a string field may hold one (quoted, as line protocol allows).
    assert lines.endswith(b"\n")
    for sub in CHANNELS_BY_SUBSYSTEM:
        assert b"\n" + sub.encode() + b"," in b"\n" + lines


def _check(message: Any) -> None:
    error: TelemetryError | None = None
    try:
        validate(message)
    except TelemetryError as exc:
        error = exc
    if error is None:
        _accepted_is_usable(message)
    else:
        assert isinstance(error.path, str)
        assert str(error).startswith(f"{error.path}: ")


@FUZZ
@given(
    st.binary(max_size=300)
    | json_values_64.map(orjson.dumps)
    | st.sampled_from(
        [b"1e309", b'{"version": NaN}', b"[" * 5000, b'"\\ud800"', b"18446744073709551616"]
    )
)
def test_decode_answers_a_message_or_a_telemetry_error(payload: bytes) -> None:
    try:
        message = decode(payload)
    except TelemetryError:
        return
    _accepted_is_usable(message)


@FUZZ
@given(json_values)
def test_any_json_value_is_valid_or_a_telemetry_error(value: Any) -> None:
    _check(value)


@FUZZ
@given(
    st.integers(min_value=0, max_value=3),
    st.sampled_from(FIELD_PATHS),
    edges | json_values,
)
def test_a_real_message_with_one_field_replaced(
    index: int, path: tuple[str, ...], value: Any
) -> None:
    message = copy.deepcopy(_samples()[index])
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _check(message)


@FUZZ
@given(
    st.integers(min_value=0, max_value=3),
    st.sampled_from([(), *{(p[0],) for p in FIELD_PATHS if len(p) == 2}]),
    st.text(max_size=8),
    edges | json_values,
)
def test_a_real_message_with_a_key_added(
    index: int, where: tuple[str, ...], key: str, value: Any
) -> None:
    message = copy.deepcopy(_samples()[index])
    target = message
    for part in where:
        target = target[part]
    target[key] = value
    _check(message)


@FUZZ
@given(
    st.lists(st.integers(min_value=0, max_value=3) | json_values_64, max_size=4),
    st.sampled_from(["application/json", "application/x-ndjson"]),
    st.binary(max_size=20),
)
def test_the_post_parser_answers_a_batch_or_a_refusal(
    items: list[Any], kind: str, noise: bytes
) -> None:
    values = [
        _samples()[i] if isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= 3 else i
        for i in items
    ]
    if kind == "application/json":
        body = orjson.dumps(values) + noise
    else:
        body = b"\n".join(orjson.dumps(v) for v in values) + b"\n" + noise
    refused: BodyRefused | None = None
    try:
        batch = parse_batch(body, kind=kind, satellite="sat-a")
    except BodyRefused as exc:
        refused = exc
    if refused is not None:
        assert refused.status in (400, 422)
        return
    for value in batch.values:
        _accepted_is_usable(orjson.loads(value))


# --- regressions found by the fuzzing -----------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, -(2**63) - 1])
def test_an_integer_channel_beyond_64_bits_is_refused(value: int) -> None:
    """orjson reads integers up to 2**64 - 1; InfluxDB's integers end at 2**63 - 1, and a point
    it refuses would be retried by the ingest forever."""
    message = copy.deepcopy(_samples()[0])
    message["obc"]["uptime_s"] = value
    with pytest.raises(TelemetryError, match=r"obc\.uptime_s"):
        validate(message)
    message["obc"]["uptime_s"] = 2**63 - 1
    validate(message)
    _accepted_is_usable(message)


def test_a_sequence_number_beyond_64_bits_is_refused() -> None:
    message = copy.deepcopy(_samples()[0])
    message["seq"] = 2**63
    with pytest.raises(TelemetryError, match=r"^seq: "):
        validate(message)


@pytest.mark.parametrize("mode", [[], {}, ["NOMINAL"]])
def test_a_mode_that_is_a_list_or_an_object_is_refused_not_a_crash(mode: Any) -> None:
    """`mode not in frozenset` raised TypeError (unhashable) for a list or an object."""
    message = copy.deepcopy(_samples()[0])
    message["mode"] = mode
    with pytest.raises(TelemetryError, match=r"^mode: "):
        validate(message)


@pytest.mark.parametrize("version", [True, 1.0])
def test_a_version_that_only_equals_1_is_refused(version: Any) -> None:
    message = copy.deepcopy(_samples()[0])
    message["version"] = version
    with pytest.raises(TelemetryError, match=r"^version: "):
        validate(message)


@pytest.mark.parametrize("path", [("satellite",), ("adcs", "attitude"), ("obc", "fdir_reason")])
def test_a_string_with_a_lone_surrogate_is_refused(path: tuple[str, ...]) -> None:
    """Accepted, it could not be encoded for Kafka (orjson: surrogates not allowed)."""
    message = copy.deepcopy(_samples()[0])
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "x\ud800"
    with pytest.raises(TelemetryError, match=rf"^{'.'.join(path)}: "):
        validate(message)
