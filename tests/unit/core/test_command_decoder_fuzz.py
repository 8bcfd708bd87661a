"""Property-based fuzzing of the command decoder (issue 17): `validate_args` against the command
dictionary and the `Command` message, on hostile input (any JSON value, integers beyond 64 bits,
non-finite floats, Unicode digits in TLE lines, unknown names).

The decoder may only answer with the typed arguments or a `CommandError` naming the argument:
anything else is a 500 at the command API, a dead-lettered plan at the operator or a crashed
spacecraft model. Bounded: a few hundred examples each, no deadline (the machine is shared).
Crashes it found are pinned as regression tests at the end.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mpcs.core.commands import DICTIONARY, Command, CommandError, validate_args
from mpcs.core.commands.dictionary import Arg, ArgType
from mpcs.orbit.tle import tle_checksum

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ARG_NAMES = sorted({a.name for spec in DICTIONARY.values() for a in spec.args})

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)

#: Values at the edges of what JSON, Python and the dictionary's types agree on.
edges = st.sampled_from(
    [
        10**400,
        -(10**400),
        2**63,
        -(2**63) - 1,
        1e308,
        -1e308,
        5e-324,
        -0.0,
        float("nan"),
        float("inf"),
        True,
        False,
        None,
        "",
        "1",
        "NaN",
        [],
        {},
    ]
) | st.text(alphabet="1 0²٣１-.", min_size=60, max_size=75).map(lambda t: "1 " + t)


@st.composite
def tle_lines(draw: st.DrawFn, number: int) -> str:
    """A line the dictionary must accept: 68 columns of TLE characters plus their checksum."""
    body = draw(st.text(alphabet="0123456789 .+-ABCDEFGHUZ", min_size=66, max_size=66))
    line = f"{number} {body}"
    return line + str(tle_checksum(line))


def _valid(arg: Arg) -> st.SearchStrategy[Any]:
    if arg.type is ArgType.ENUM:
        return st.sampled_from(arg.choices)
    if arg.type is ArgType.BOOL:
        return st.booleans()
    if arg.type is ArgType.TLE_LINE:
        assert arg.tle_line_number is not None
        return tle_lines(arg.tle_line_number)
    low, high = arg.minimum, arg.maximum
    if arg.type is ArgType.INT:
        return st.integers(
            min_value=None if low is None else math.ceil(low),
            max_value=None if high is None else math.floor(high),
        )
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    spec = draw(st.sampled_from(list(DICTIONARY.values())))
    args = {}
    for arg in spec.args:
        if arg.required or draw(st.booleans()):
            args[arg.name] = draw(_valid(arg))
    if spec.name == "SET_ATTITUDE" and args["mode"] == "TARGET":
        args["target_lat_deg"] = draw(_valid(spec.arg("target_lat_deg")))
        args["target_lon_deg"] = draw(_valid(spec.arg("target_lon_deg")))
    return spec.name, args


def _conforms(name: str, typed: dict[str, Any]) -> None:
    """What a decoded command guarantees to everyone downstream."""
    spec = DICTIONARY[name]
    assert set(typed) <= {a.name for a in spec.args}
    for arg in spec.args:
        if arg.required:
            assert arg.name in typed
        if arg.name not in typed:
            continue
        value = typed[arg.name]
        if arg.type in (ArgType.INT, ArgType.FLOAT):
            assert type(value) is (int if arg.type is ArgType.INT else float)
            assert math.isfinite(value)
            assert arg.minimum is None or value >= arg.minimum
            assert arg.maximum is None or value <= arg.maximum
        elif arg.type is ArgType.ENUM:
            assert value in arg.choices
        elif arg.type is ArgType.TLE_LINE:
            assert len(value) == 69
            assert int(value[68]) == tle_checksum(value)


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A command name (mostly a real one) and arguments mixing valid values, hostile ones and
    other commands' or made-up argument names."""
    name = draw(st.sampled_from(list(DICTIONARY)) | st.text(max_size=20))
    own = [a for a in DICTIONARY[name].args] if name in DICTIONARY else []
    args: dict[str, Any] = {}
    for arg in own:
        if arg.required or draw(st.booleans()):
            # Mostly one bad value among good ones, so the check of every argument is reached.
            hostile = draw(st.integers(0, 3)) == 0
            args[arg.name] = draw(edges | json_values) if hostile else draw(_valid(arg))
    if draw(st.integers(0, 4)) == 0:
        extra = st.sampled_from(ARG_NAMES) | st.text(max_size=10)
        args.update(draw(st.dictionaries(extra, json_values, max_size=2)))
    return name, args


@FUZZ
@given(request=hostile_requests())
def test_any_request_is_decoded_or_refused_naming_the_argument(
    request: tuple[str, dict[str, Any]],
) -> None:
    name, args = request
    refused: CommandError | None = None
    try:
        typed = validate_args(name, args)
    except CommandError as exc:
        refused = exc
    if refused is not None:
        assert refused.command == name
        assert refused.argument is None or refused.argument in {*args, *ARG_NAMES}
        assert str(refused)  # the message itself renders
        return
    _conforms(name, typed)
    assert validate_args(name, typed) == typed  # decoding is idempotent


@FUZZ
@given(request=valid_requests())
def test_every_request_the_dictionary_describes_is_accepted(
    request: tuple[str, dict[str, Any]],
) -> None:
    name, args = request
    typed = validate_args(name, args)
    _conforms(name, typed)
    for key, value in args.items():
        assert typed[key] == value


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(["id", "satellite", "name", "args", "issued_by", "valid_until", "x"]),
        json_values,
    )
    | json_values
)
def test_a_command_message_is_decoded_or_invalid(body: Any) -> None:
    import orjson

    try:
        raw = orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON (an integer beyond 64 bits): never on the wire
    try:
        command = Command.model_validate_json(raw)
    except ValidationError:
        return
    _conforms(command.name, dict(command.args))


# --- regressions found by the fuzzing above -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "argument"),
    [
        # float(10**400) raised OverflowError instead of naming the argument.
        ("CAPTURE_IMAGE", {"exposure_ms": 10**400}, "exposure_ms"),
        (
            "SET_HEATER",
            {"heater": "battery", "state": "AUTO", "setpoint_c": -(10**309)},
            "setpoint_c",
        ),
        # int('²') raised ValueError: '²'.isdigit() is True but it is no TLE digit.
        ("UPDATE_TLE", {"line1": "1 " + "²" * 66 + "0", "line2": "x"}, "line1"),
    ],
)
def test_found_by_fuzzing(name: str, args: dict[str, Any], argument: str) -> None:
    with pytest.raises(CommandError) as caught:
        validate_args(name, args)
    assert caught.value.argument == argument
