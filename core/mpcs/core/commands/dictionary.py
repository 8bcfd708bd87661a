"""The command dictionary: every command a spacecraft understands, with typed arguments.

The single source of truth for what can be sent: the simulator executes from it, the command API
and the CommandPlan planner validate against it, and `docs/commands.md` is generated from it.
Validation errors name the argument, the value and what would be accepted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mpcs.orbit.tle import tle_checksum


class Mode(enum.StrEnum):
    """Spacecraft operating modes; SAFE is where on-board fault protection puts it."""

    SAFE = "SAFE"
    NOMINAL = "NOMINAL"
    PAYLOAD = "PAYLOAD"
    DOWNLINK = "DOWNLINK"


ALL_MODES: tuple[Mode, ...] = tuple(Mode)


class Criticality(enum.StrEnum):
    """How dangerous a command is; `critical` commands need an explicit confirmation at the API."""

    ROUTINE = "routine"
    CAUTION = "caution"
    CRITICAL = "critical"


class ArgType(enum.StrEnum):
    """Argument types the dictionary can express (and the API can render in OpenAPI)."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    ENUM = "enum"
    TLE_LINE = "tle_line"


class CommandError(ValueError):
    """A command or one of its arguments is invalid; `argument` is None for command-level errors."""

    def __init__(self, command: str, argument: str | None, message: str) -> None:
        self.command = command
        self.argument = argument
        self.message = message
        where = f"{command} argument {argument!r}" if argument else command
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Arg:
    """One typed argument of a command; ranges are inclusive and in `unit`."""

    name: str
    type: ArgType
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = True
    default: Any = None
    tle_line_number: int | None = None

    def validate(self, command: str, value: Any) -> Any:
        """Return the value coerced to its type, or raise a CommandError naming this argument."""
        checker = _CHECKERS[self.type]
        return checker(self, command, value)

    def accepted(self) -> str:
        """Human description of the accepted values, used in errors and docs."""
        if self.type is ArgType.ENUM:
            return "one of " + ", ".join(self.choices)
        if self.type is ArgType.TLE_LINE:
            return f"TLE line {self.tle_line_number}: 69 characters with a valid checksum"
        if self.type is ArgType.BOOL:
            return "true or false"
        bounds = f"{_fmt(self.minimum)}..{_fmt(self.maximum)}"
        return f"{self.type.value} in {bounds}" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class CommandSpec:
    """One entry of the dictionary."""

    name: str
    description: str
    criticality: Criticality
    allowed_modes: tuple[Mode, ...]
    args: tuple[Arg, ...] = field(default=())
    effect: str = ""

    def arg(self, name: str) -> Arg:
        """The argument called `name` (KeyError if there is none)."""
        for arg in self.args:
            if arg.name == name:
                return arg
        raise KeyError(name)


def _fmt(value: float | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if float(value).is_integer() else str(value)


def _bad(arg: Arg, command: str, value: Any) -> CommandError:
    return CommandError(command, arg.name, f"{value!r} is not {arg.accepted()}")


def _check_number(arg: Arg, command: str, value: Any) -> Any:
    # bool is an int subclass in Python; a JSON `true` is not a number for an operator.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(command, arg.name, f"{value!r} is not a number ({arg.accepted()})")
    if arg.type is ArgType.INT:
        if isinstance(value, float) and not value.is_integer():
            raise CommandError(command, arg.name, f"{value!r} is not an integer")
        value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:  # an integer beyond what a float holds (JSON allows 1e400 digits)
            raise _bad(arg, command, value) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise _bad(arg, command, value)
    if (arg.minimum is not None and value < arg.minimum) or (
        arg.maximum is not None and value > arg.maximum
    ):
        raise _bad(arg, command, value)
    return value


def _check_bool(arg: Arg, command: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(arg, command, value)
    return value


def _check_enum(arg: Arg, command: str, value: Any) -> str:
    if not isinstance(value, str) or value not in arg.choices:
        raise _bad(arg, command, value)
    return value


def _check_tle_line(arg: Arg, command: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(arg, command, value)
    line = value.rstrip()
    if not line.isascii():  # '²'.isdigit() is True, yet it is no TLE digit
        raise CommandError(command, arg.name, "must be ASCII (a TLE line has 69 ASCII columns)")
    if len(line) != 69:
        raise CommandError(command, arg.name, f"has {len(line)} characters, a TLE line has 69")
    if line[0] != str(arg.tle_line_number) or line[1] != " ":
        raise CommandError(
            command,
            arg.name,
            f"must start with '{arg.tle_line_number} ' (column 1), got {line[:2]!r}",
        )
    if not line[68].isdigit() or int(line[68]) != tle_checksum(line):
        raise CommandError(
            command,
            arg.name,
            f"checksum (column 69) is {line[68]!r}, the line sums to {tle_checksum(line)}",
        )
    return line


_CHECKERS = {
    ArgType.INT: _check_number,
    ArgType.FLOAT: _check_number,
    ArgType.BOOL: _check_bool,
    ArgType.ENUM: _check_enum,
    ArgType.TLE_LINE: _check_tle_line,
}

_NOT_SAFE = (Mode.NOMINAL, Mode.PAYLOAD, Mode.DOWNLINK)

#: Subsystems RESET_SUBSYSTEM can power-cycle.
RESETTABLE_SUBSYSTEMS = ("obc", "adcs", "comms", "payload")
#: Heaters SET_HEATER can drive (one per internal thermal node).
HEATERS = ("battery", "payload")
#: Attitude targets SET_ATTITUDE can command.
ATTITUDES = ("SUN", "NADIR", "TARGET")

DICTIONARY: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            name="PING",
            description="Liveness check; the spacecraft answers with an executed ack.",
            criticality=Criticality.ROUTINE,
            allowed_modes=ALL_MODES,
            effect="No state change besides the OBC command counter.",
        ),
        CommandSpec(
            name="SET_MODE",
            description="Change the operating mode.",
            criticality=Criticality.CAUTION,
            allowed_modes=ALL_MODES,
            args=(
                Arg(
                    name="mode",
                    type=ArgType.ENUM,
                    choices=tuple(m.value for m in Mode),
                    description="Target mode.",
                ),
            ),
            effect=(
                "Leaving SAFE fails while the battery is below the recovery threshold (30 %) or a "
                "fault latched by fault protection is still active (send CLEAR_FAULTS first). "
                "PAYLOAD switches the payload on, NOMINAL and SAFE switch it off; DOWNLINK needs a "
                "ground station in view."
            ),
        ),
        CommandSpec(
            name="PAYLOAD_ON",
            description="Power the payload (imager).",
            criticality=Criticality.ROUTINE,
            allowed_modes=_NOT_SAFE,
            effect="Payload draws power and warms up; images can be captured in PAYLOAD mode.",
        ),
        CommandSpec(
            name="PAYLOAD_OFF",
            description="Power the payload off.",
            criticality=Criticality.ROUTINE,
            allowed_modes=ALL_MODES,
            effect="Payload power drops to zero; leaves PAYLOAD mode for NOMINAL.",
        ),
        CommandSpec(
            name="CAPTURE_IMAGE",
            description="Take images with the payload.",
            criticality=Criticality.ROUTINE,
            allowed_modes=(Mode.PAYLOAD,),
            args=(
                Arg(
                    name="count",
                    type=ArgType.INT,
                    minimum=1,
                    maximum=100,
                    unit="images",
                    required=False,
                    default=1,
                    description="Number of images.",
                ),
                Arg(
                    name="exposure_ms",
                    type=ArgType.FLOAT,
                    minimum=0.1,
                    maximum=500,
                    unit="ms",
                    required=False,
                    default=10.0,
                    description="Exposure time per image.",
                ),
            ),
            effect=(
                "Each image adds 40 MB to on-board storage. Fails when the payload is off or "
                "storage cannot hold the images."
            ),
        ),
        CommandSpec(
            name="START_DOWNLINK",
            description="Downlink stored data to the ground station in view.",
            criticality=Criticality.ROUTINE,
            allowed_modes=_NOT_SAFE,
            args=(
                Arg(
                    name="duration_s",
                    type=ArgType.INT,
                    minimum=10,
                    maximum=1800,
                    unit="s",
                    required=False,
                    default=600,
                    description="Maximum downlink duration (simulated time).",
                ),
            ),
            effect=(
                "Mode becomes DOWNLINK; storage drains at the link rate while in contact; returns "
                "to NOMINAL when storage is empty, the pass ends or the duration elapses. Fails "
                "without a ground station in view or with the radio down."
            ),
        ),
        CommandSpec(
            name="SET_HEATER",
            description="Drive a heater: forced on, off, or thermostat (AUTO) at a set point.",
            criticality=Criticality.CAUTION,
            allowed_modes=ALL_MODES,
            args=(
                Arg(
                    name="heater",
                    type=ArgType.ENUM,
                    choices=HEATERS,
                    description="Which heater.",
                ),
                Arg(
                    name="state",
                    type=ArgType.ENUM,
                    choices=("ON", "OFF", "AUTO"),
                    description="Heater control.",
                ),
                Arg(
                    name="setpoint_c",
                    type=ArgType.FLOAT,
                    minimum=-20,
                    maximum=40,
                    unit="°C",
                    required=False,
                    default=5.0,
                    description="Thermostat set point in AUTO.",
                ),
            ),
            effect=(
                "Heater power follows the command (AUTO: on below the set point, off 1.5 K "
                "above it); ON fails when the heater draws no current (heater failure)."
            ),
        ),
        CommandSpec(
            name="SET_ATTITUDE",
            description="Point the spacecraft: at the sun, at nadir, or at a ground target.",
            criticality=Criticality.CAUTION,
            allowed_modes=_NOT_SAFE,
            args=(
                Arg(
                    name="mode",
                    type=ArgType.ENUM,
                    choices=ATTITUDES,
                    description="Pointing target.",
                ),
                Arg(
                    name="target_lat_deg",
                    type=ArgType.FLOAT,
                    minimum=-90,
                    maximum=90,
                    unit="deg",
                    required=False,
                    description="Target latitude (required for TARGET).",
                ),
                Arg(
                    name="target_lon_deg",
                    type=ArgType.FLOAT,
                    minimum=-180,
                    maximum=180,
                    unit="deg",
                    required=False,
                    description="Target longitude (required for TARGET).",
                ),
            ),
            effect=(
                "The spacecraft slews (pointing error jumps, then settles); solar input "
                "follows the new attitude."
            ),
        ),
        CommandSpec(
            name="RESET_SUBSYSTEM",
            description="Power-cycle a subsystem.",
            criticality=Criticality.CRITICAL,
            allowed_modes=ALL_MODES,
            args=(
                Arg(
                    name="subsystem",
                    type=ArgType.ENUM,
                    choices=RESETTABLE_SUBSYSTEMS,
                    description="Subsystem to reset.",
                ),
            ),
            effect=(
                "obc: uptime restarts, boot count increments. adcs: wheels spin down. "
                "comms: clears a radio dropout. payload: payload off."
            ),
        ),
        CommandSpec(
            name="CLEAR_FAULTS",
            description="Acknowledge and clear faults latched by on-board fault protection.",
            criticality=Criticality.CAUTION,
            allowed_modes=ALL_MODES,
            effect=(
                "Clears the FDIR latch so SET_MODE can leave SAFE; hardware faults (stuck wheel, "
                "failed heater) stay."
            ),
        ),
        CommandSpec(
            name="UPDATE_TLE",
            description="Upload a new two-line element set to the on-board propagator.",
            criticality=Criticality.CRITICAL,
            allowed_modes=ALL_MODES,
            args=(
                Arg(
                    name="line1",
                    type=ArgType.TLE_LINE,
                    tle_line_number=1,
                    description="TLE line 1.",
                ),
                Arg(
                    name="line2",
                    type=ArgType.TLE_LINE,
                    tle_line_number=2,
                    description="TLE line 2.",
                ),
            ),
            effect="The orbit is propagated from the new elements from the next sample on.",
        ),
    )
}


def command_spec(name: str) -> CommandSpec:
    """The dictionary entry of `name`, or a CommandError listing the known commands."""
    try:
        return DICTIONARY[name]
    except KeyError:
        known = ", ".join(DICTIONARY)
        raise CommandError(name, None, f"unknown command; known commands: {known}") from None


def validate_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Check `args` against the dictionary; return them typed, with defaults filled in.

    Raises CommandError naming the first bad argument (unknown, missing or out of range).
    """
    spec = command_spec(name)
    known = {arg.name for arg in spec.args}
    for key in args:
        if key not in known:
            accepted = ", ".join(sorted(known)) or "no arguments"
            raise CommandError(name, key, f"unknown argument; {name} takes {accepted}")
    result: dict[str, Any] = {}
    for arg in spec.args:
        if arg.name in args and args[arg.name] is not None:
            result[arg.name] = arg.validate(name, args[arg.name])
        elif arg.required:
            raise CommandError(name, arg.name, f"is required ({arg.accepted()})")
        elif arg.default is not None:
            result[arg.name] = arg.default
    _cross_checks(name, result)
    return result


def _cross_checks(name: str, args: dict[str, Any]) -> None:
    """Rules between arguments that a single argument's type cannot state."""
    if name == "SET_ATTITUDE" and args.get("mode") == "TARGET":
        for key in ("target_lat_deg", "target_lon_deg"):
            if key not in args:
                raise CommandError(name, key, "is required when mode is TARGET")
