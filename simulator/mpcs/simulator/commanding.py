"""Command execution on board: checks a Command against the spacecraft's state, applies its effect.

Called by `Spacecraft.execute` (and so by the runtime for every command consumed from Kafka).
Arguments were already validated against the dictionary when the `Command` was built; this module
adds what only the spacecraft knows: is it addressed to me, has it expired, is it allowed in the
current mode (→ `rejected`, nothing changes), and can it be carried out now (→ `accepted` then
`executed`, or `failed` with the reason, e.g. no ground station in view).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mpcs.core.commands import Ack, AckState, Command, command_spec
from mpcs.orbit.timeutil import NS_PER_S, datetime_from_ns, ns_from_datetime
from mpcs.orbit.tle import TleError, parse_tle

from .engine import Engine
from .engine.constants import (
    ATTITUDES,
    COLD_BATTERY_C,
    DOWNLINK,
    HEATER_CONTROLS,
    HEATER_INDEX,
    IMAGE_MB,
    KELVIN,
    MODES,
    NOMINAL,
    PAYLOAD,
    RECOVERY_SOC,
    SAFE,
    SLEW_ERROR_DEG,
    TARGET,
)
from .engine.state import DownlinkedImage, OnboardImage

#: A handler applies a command to satellite `index`; it returns None or the reason it failed.
Handler = Callable[[Engine, int, dict[str, Any]], str | None]


def execute(
    engine: Engine, index: int, command: Command, *, now_ns: int | None = None
) -> list[Ack]:
    """Run one command on satellite `index` at the engine's current time; return its acks.

    `now_ns` is the ground time `valid_until` is checked against; it defaults to the spacecraft
    clock, and the runtime passes the wall clock because a scaled spacecraft clock runs ahead.
    """
    name = engine.names[index]
    now = engine.time_ns

    def ack(state: AckState, reason: str | None = None) -> Ack:
        return Ack(
            command_id=command.id,
            satellite=name,
            name=command.name,
            state=state,
            reason=reason,
            time=datetime_from_ns(now),
        )

    problem = _rejection(engine, index, command, engine.time_ns if now_ns is None else now_ns)
    if problem is not None:
        return [ack(AckState.REJECTED, problem)]
    failure = HANDLERS[command.name](engine, index, dict(command.args))
    if failure is not None:
        return [ack(AckState.ACCEPTED), ack(AckState.FAILED, failure)]
    engine.commands_executed[index] += 1
    return [ack(AckState.ACCEPTED), ack(AckState.EXECUTED)]


def _rejection(engine: Engine, index: int, command: Command, now_ns: int) -> str | None:
    """Why the command must not even be attempted (None if it may)."""
    name = engine.names[index]
    if command.satellite != name:
        return f"addressed to satellite {command.satellite!r}, this is {name!r}"
    if command.valid_until is not None and ns_from_datetime(command.valid_until) < now_ns:
        return (
            f"expired: valid until {command.valid_until.isoformat()}, "
            f"now is {datetime_from_ns(now_ns).isoformat()}"
        )
    mode = MODES[int(engine.mode[index])]
    spec = command_spec(command.name)
    if mode not in spec.allowed_modes:
        allowed = ", ".join(m.value for m in spec.allowed_modes)
        return f"{command.name} is not allowed in {mode.value} mode (allowed: {allowed})"
    if command.name == "UPDATE_TLE":
        try:
            parse_tle(f"{command.args['line1']}\n{command.args['line2']}")
        except TleError as exc:
            return f"invalid TLE: {exc}"
    return None


# ------------------------------------------------------------------------------ handlers


def _ping(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    return None


def _contact_problem(engine: Engine, i: int) -> str | None:
    if not engine.radio_ok[i]:
        return "radio is down"
    if not engine.in_view[i]:
        return "no ground station in view"
    return None


def _set_mode(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    target = [m.value for m in MODES].index(args["mode"])
    current = int(engine.mode[i])
    if target == current:
        return None
    if current == SAFE:
        problem = _recovery_problem(engine, i)
        if problem is not None:
            return f"cannot leave SAFE: {problem}"
    if target == SAFE:
        engine.mode[i] = SAFE
        engine.payload_on[i] = False
    elif target == NOMINAL:
        # Leaving PAYLOAD powers the payload down: a forgotten payload drains the battery.
        engine.mode[i] = NOMINAL
        engine.payload_on[i] = False
    elif target == PAYLOAD:
        engine.payload_on[i] = True
        engine.mode[i] = PAYLOAD
    else:
        return _start_downlink(engine, i, {"duration_s": 600})
    return None


def _recovery_problem(engine: Engine, i: int) -> str | None:
    if engine.fdir_latched[i]:
        return f"fault protection latched ({engine.fdir_reason[i]}); send CLEAR_FAULTS first"
    soc = float(engine.soc()[i])
    if soc < RECOVERY_SOC:
        return f"battery {soc * 100:.1f} % below the {RECOVERY_SOC * 100:.0f} % recovery threshold"
    temp = float(engine.temp_k[i, 1] - KELVIN)
    if temp < COLD_BATTERY_C:
        return f"battery {temp:.1f} °C below {COLD_BATTERY_C:.0f} °C"
    return None


def _payload_on(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    engine.payload_on[i] = True
    return None


def _payload_off(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    engine.payload_on[i] = False
    if engine.mode[i] == PAYLOAD:
        engine.mode[i] = NOMINAL
    return None


def _capture_image(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    if not engine.payload_on[i]:
        return "payload is off"
    needed = args["count"] * IMAGE_MB
    free = float(engine.storage_cap_mb[i] - engine.storage_mb[i])
    if needed > free:
        return f"storage full: {needed:.0f} MB needed, {free:.0f} MB free"
    first = int(engine.images[i]) + 1
    engine.images[i] += args["count"]
    engine.storage_mb[i] += needed
    engine.onboard_images[i].extend(_image(engine, i, first + k) for k in range(args["count"]))
    return None


def _image(engine: Engine, i: int, number: int) -> OnboardImage:
    """What the camera sees now: the commanded target, or the ground below (nadir, sun)."""
    targeted = engine.attitude_eff[i] == TARGET
    cos_zenith = min(1.0, max(-1.0, float(engine.cos_zenith_sun[i])))
    return OnboardImage(
        number=number,
        time_ns=engine.time_ns,
        lat_deg=float(engine.target_lat_deg[i] if targeted else engine.lat_deg[i]),
        lon_deg=float(engine.target_lon_deg[i] if targeted else engine.lon_deg[i]),
        sun_elevation_deg=90.0 - math.degrees(math.acos(cos_zenith)),
    )


def _start_downlink(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    problem = _contact_problem(engine, i)
    if problem is not None:
        return problem
    engine.mode[i] = DOWNLINK
    engine.downlink_until_ns[i] = engine.time_ns + int(args["duration_s"]) * NS_PER_S
    # The images go down with the pass: the runtime publishes them (`take_downlinked`).
    station = engine.station_names[int(engine.best_station[i])]
    engine.downlinked[i].extend(
        DownlinkedImage(image=image, time_ns=engine.time_ns, station=station)
        for image in engine.onboard_images[i]
    )
    engine.onboard_images[i].clear()
    return None


def take_downlinked(engine: Engine, index: int) -> list[DownlinkedImage]:
    """The images satellite `index` brought down since the last call (oldest first)."""
    taken = engine.downlinked[index]
    engine.downlinked[index] = []
    return taken


def _set_heater(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    which = HEATER_INDEX[args["heater"]]
    control = HEATER_CONTROLS[args["state"]]
    if args["state"] == "ON" and engine.heater_failed[i, which]:
        return f"{args['heater']} heater draws no current (heater failure)"
    engine.heater_control[i, which] = control
    engine.heater_setpoint_c[i, which] = args["setpoint_c"]
    engine.refresh_heaters()
    return None


def _set_attitude(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    engine.attitude_cmd[i] = ATTITUDES.index(args["mode"])
    if args["mode"] == "TARGET":
        engine.target_lat_deg[i] = args["target_lat_deg"]
        engine.target_lon_deg[i] = args["target_lon_deg"]
    return None


def _reset_subsystem(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    subsystem = args["subsystem"]
    if subsystem == "obc":
        engine.boot_ns[i] = engine.time_ns
        engine.boot_count[i] += 1
        engine.commands_executed[i] = 0
    elif subsystem == "adcs":
        keep = engine.wheel_rpm[i].copy()
        engine.wheel_rpm[i] = 0.0
        if engine.stuck_engaged[i]:
            axis = int(engine.stuck_axis[i])
            engine.wheel_rpm[i, axis] = keep[axis]
        engine.wheel_desat[i] = False
        engine.pointing_error_deg[i] = max(float(engine.pointing_error_deg[i]), SLEW_ERROR_DEG / 2)
    elif subsystem == "comms":
        t = engine.time_ns
        if engine.radio_start_ns[i] <= t < engine.radio_end_ns[i]:
            engine.radio_end_ns[i] = t
        engine.radio_ok[i] = True
        engine.in_contact[i] = bool(engine.in_view[i])
    else:
        return _payload_off(engine, i, args)
    return None


def _clear_faults(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    engine.fdir_latched[i] = False
    engine.fdir_reason[i] = ""
    engine.wheel_fault_acked[i] = bool(engine.stuck_engaged[i]) or bool(engine.wheel_fault_acked[i])
    return None


def _update_tle(engine: Engine, i: int, args: dict[str, Any]) -> str | None:
    tle = parse_tle(f"{engine.names[i]}\n{args['line1']}\n{args['line2']}")
    engine.replace_tle(i, tle)
    return None


HANDLERS: dict[str, Handler] = {
    "PING": _ping,
    "SET_MODE": _set_mode,
    "PAYLOAD_ON": _payload_on,
    "PAYLOAD_OFF": _payload_off,
    "CAPTURE_IMAGE": _capture_image,
    "START_DOWNLINK": _start_downlink,
    "SET_HEATER": _set_heater,
    "SET_ATTITUDE": _set_attitude,
    "RESET_SUBSYSTEM": _reset_subsystem,
    "CLEAR_FAULTS": _clear_faults,
    "UPDATE_TLE": _update_tle,
}

__all__ = ["HANDLERS", "execute", "take_downlinked"]
