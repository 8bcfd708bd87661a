"""Every command's effect and every rejection (with the model unchanged), and the dictionary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from simdata import CBERS2, TOULOUSE, make_craft

from mpcs.core.commands import (
    DICTIONARY,
    Ack,
    AckState,
    ArgType,
    Command,
    CommandError,
    Mode,
    validate_args,
)
from mpcs.orbit.passes import predict_passes
from mpcs.orbit.tle import parse_tle
from mpcs.simulator import Spacecraft


def cmd(name: str, satellite: str = "sat-1", **args: Any) -> Command:
    return Command(satellite=satellite, name=name, args=args, issued_by="test")


def states(acks: list[Ack]) -> list[AckState]:
    return [a.state for a in acks]


OK = [AckState.ACCEPTED, AckState.EXECUTED]


def send(craft: Spacecraft, name: str, **args: Any) -> list[Ack]:
    return craft.execute(cmd(name, **args))


def snapshot(craft: Spacecraft) -> dict[str, Any]:
    """Every piece of model state, copied."""
    return {
        key: (value.copy() if isinstance(value, np.ndarray) else list(value))
        for key, value in vars(craft.engine).items()
        if isinstance(value, np.ndarray | list)
    }


def assert_unchanged(before: dict[str, Any], craft: Spacecraft) -> None:
    after = snapshot(craft)
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key], err_msg=key)
        else:
            assert value == after[key], key


def to_contact(craft: Spacecraft, *, radio: bool = True) -> None:
    """Advance to the next culmination over Toulouse."""
    tle = craft.engine.tles[0]
    nxt = predict_passes(tle, TOULOUSE, craft.time_ns, 86_400)[0]
    craft.advance((nxt.tca_ns - craft.time_ns) / 1e9)
    assert craft.telemetry()["comms"]["in_contact"] is radio


# ---------------------------------------------------------------------------- effects


def test_ping_is_executed_and_counted() -> None:
    craft = make_craft()
    acks = send(craft, "PING")
    assert states(acks) == OK
    assert all(a.satellite == "sat-1" and a.name == "PING" for a in acks)
    craft.advance(10)
    assert craft.telemetry()["obc"]["commands_executed"] == 1


def test_set_mode_payload_switches_payload_on_and_fills_storage() -> None:
    craft = make_craft()
    assert states(send(craft, "SET_MODE", mode="PAYLOAD")) == OK
    craft.advance(60)
    m = craft.telemetry()
    assert m["mode"] == "PAYLOAD"
    assert m["payload"]["payload_on"]
    assert m["payload"]["payload_power_w"] == 20.0
    assert m["obc"]["storage_used_mb"] == pytest.approx(20 / 8 * 60)  # 20 Mbit/s for 60 s
    assert m["power"]["load_power_w"] > 25


def test_set_mode_safe_and_back() -> None:
    craft = make_craft()
    send(craft, "PAYLOAD_ON")
    assert states(send(craft, "SET_MODE", mode="SAFE")) == OK
    craft.advance(60)
    m = craft.telemetry()
    assert (m["mode"], m["payload"]["payload_on"], m["adcs"]["attitude"]) == ("SAFE", False, "SUN")
    assert not m["obc"]["fdir_latched"]  # commanded, not tripped
    assert states(send(craft, "SET_MODE", mode="NOMINAL")) == OK
    craft.advance(60)
    assert craft.telemetry()["adcs"]["attitude"] == "NADIR"


def test_set_mode_downlink_needs_contact() -> None:
    craft = make_craft()
    acks = send(craft, "SET_MODE", mode="DOWNLINK")
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]
    assert acks[1].reason == "no ground station in view"
    assert craft.mode is Mode.NOMINAL


def test_payload_on_and_off() -> None:
    craft = make_craft()
    assert states(send(craft, "PAYLOAD_ON")) == OK
    craft.advance(10)
    assert craft.telemetry()["payload"]["payload_on"]
    send(craft, "SET_MODE", mode="PAYLOAD")
    assert states(send(craft, "PAYLOAD_OFF")) == OK
    craft.advance(10)
    m = craft.telemetry()
    assert m["mode"] == "NOMINAL"
    assert not m["payload"]["payload_on"]


def test_capture_image_adds_images_and_storage_and_fails_when_full() -> None:
    craft = make_craft()
    send(craft, "SET_MODE", mode="PAYLOAD")
    assert states(send(craft, "CAPTURE_IMAGE", count=3)) == OK
    assert craft.engine.images[0] == 3
    assert craft.engine.storage_mb[0] == pytest.approx(120.0)
    craft.engine.storage_mb[0] = craft.engine.storage_cap_mb[0] - 50
    acks = send(craft, "CAPTURE_IMAGE", count=2)
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]
    assert acks[1].reason is not None
    assert acks[1].reason.startswith("storage full")
    assert craft.engine.images[0] == 3


def test_start_downlink_in_contact_drains_storage_and_returns_to_nominal() -> None:
    craft = make_craft()
    send(craft, "SET_MODE", mode="PAYLOAD")
    craft.advance(600)  # 1.5 GB of payload data
    send(craft, "SET_MODE", mode="NOMINAL")
    to_contact(craft)
    stored = float(craft.engine.storage_mb[0])
    assert states(send(craft, "START_DOWNLINK", duration_s=120)) == OK
    craft.advance(30)
    m = craft.telemetry()
    assert m["mode"] == "DOWNLINK"
    assert m["comms"]["downlink_rate_mbps"] > 0
    assert m["obc"]["storage_used_mb"] < stored
    assert m["power"]["load_power_w"] > 20  # transmitter on
    craft.advance(120)
    assert craft.telemetry()["mode"] == "NOMINAL"  # duration elapsed


def test_start_downlink_out_of_contact_fails() -> None:
    acks = send(make_craft(), "START_DOWNLINK")
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]


def test_set_heater_on_off_auto() -> None:
    craft = make_craft()
    assert states(send(craft, "SET_HEATER", heater="payload", state="ON")) == OK
    craft.advance(10)
    m = craft.telemetry()["thermal"]
    assert m["payload_heater_on"]
    assert m["heater_power_w"] >= 6.0
    send(craft, "SET_HEATER", heater="payload", state="OFF")
    send(craft, "SET_HEATER", heater="battery", state="OFF")
    craft.advance(10)
    assert craft.telemetry()["thermal"]["heater_power_w"] == 0.0
    send(craft, "SET_HEATER", heater="battery", state="AUTO", setpoint_c=40)
    craft.advance(10)
    assert craft.telemetry()["thermal"]["battery_heater_on"]  # battery is below 40 °C


def test_set_attitude_slews_then_settles_and_changes_solar_input() -> None:
    craft = make_craft(initialBatteryPct=30)
    craft.advance(60)
    assert states(send(craft, "SET_ATTITUDE", mode="SUN")) == OK
    craft.advance(10)
    m = craft.telemetry()["adcs"]
    assert m["attitude"] == "SUN"
    assert m["pointing_error_deg"] > 20
    craft.advance(300)
    assert craft.telemetry()["adcs"]["pointing_error_deg"] < 2.5
    target = send(craft, "SET_ATTITUDE", mode="TARGET", target_lat_deg=43.6, target_lon_deg=1.4)
    assert states(target) == OK
    assert craft.engine.target_lat_deg[0] == 43.6


def test_sun_pointing_harvests_more_than_nadir() -> None:
    nadir, sun = make_craft(initialBatteryPct=20), make_craft(initialBatteryPct=20)
    send(sun, "SET_ATTITUDE", mode="SUN")
    for craft in (nadir, sun):
        for _ in range(90):
            craft.advance(60)
    assert sun.engine.energy_wh[0] > nadir.engine.energy_wh[0]


@pytest.mark.parametrize("subsystem", ["obc", "adcs", "comms", "payload"])
def test_reset_subsystem(subsystem: str) -> None:
    craft = make_craft(faults=[{"type": "radioDropout", "startOffsetSeconds": 0}])
    send(craft, "SET_MODE", mode="PAYLOAD")
    craft.advance(600)
    before = craft.telemetry()
    assert states(send(craft, "RESET_SUBSYSTEM", subsystem=subsystem)) == OK
    craft.advance(1)
    after = craft.telemetry()
    if subsystem == "obc":
        assert after["obc"]["uptime_s"] == 1 < before["obc"]["uptime_s"]
        assert after["obc"]["boot_count"] == before["obc"]["boot_count"] + 1
    elif subsystem == "adcs":
        assert abs(after["adcs"]["wheel_y_rpm"]) < 50 < abs(before["adcs"]["wheel_y_rpm"])
    elif subsystem == "comms":
        assert not before["comms"]["radio_ok"]
        assert after["comms"]["radio_ok"]
    else:
        assert not after["payload"]["payload_on"]
        assert after["mode"] == "NOMINAL"


def test_update_tle_changes_the_orbit() -> None:
    craft = make_craft()
    lines = CBERS2.splitlines()
    assert states(send(craft, "UPDATE_TLE", line1=lines[1], line2=lines[2])) == OK
    craft.advance(60)
    assert craft.engine.tles[0].satnum == "28057"
    assert craft.telemetry()["orbit"]["alt_km"] > 700  # CBERS 2 flies at ~780 km, ISS at ~350


# ---------------------------------------------------------------------------- rejections


def _rejected(craft: Spacecraft, command: Command, reason_part: str) -> None:
    before = snapshot(craft)
    acks = craft.execute(command)
    assert states(acks) == [AckState.REJECTED]
    assert reason_part in (acks[0].reason or ""), acks[0].reason
    assert_unchanged(before, craft)


def test_rejected_when_addressed_to_another_satellite() -> None:
    _rejected(make_craft(), cmd("PING", satellite="sat-2"), "addressed to satellite 'sat-2'")


def test_rejected_when_expired() -> None:
    craft = make_craft()
    stale = Command(
        satellite="sat-1",
        name="PING",
        issued_by="t",
        issued_at=datetime(2008, 9, 20, 11, 0, tzinfo=UTC),
        valid_until=datetime(2008, 9, 20, 11, 59, tzinfo=UTC),
    )
    _rejected(craft, stale, "expired")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("PAYLOAD_ON", {}),
        ("CAPTURE_IMAGE", {}),
        ("START_DOWNLINK", {}),
        ("SET_ATTITUDE", {"mode": "NADIR"}),
    ],
)
def test_rejected_when_not_allowed_in_safe(name: str, args: dict[str, Any]) -> None:
    craft = make_craft()
    send(craft, "SET_MODE", mode="SAFE")
    _rejected(craft, cmd(name, **args), "not allowed in SAFE mode")


def test_capture_image_rejected_outside_payload_mode() -> None:
    _rejected(make_craft(), cmd("CAPTURE_IMAGE"), "allowed: PAYLOAD")


def test_update_tle_with_bad_field_is_rejected_naming_line_and_column() -> None:
    craft = make_craft()
    line1, line2 = CBERS2.splitlines()[1:]
    bad2 = line2[:8] + "198.4283" + line2[16:68]  # inclination 198° > 180°
    bad2 += str(_checksum(bad2))
    _rejected(craft, cmd("UPDATE_TLE", line1=line1, line2=bad2), "line 2, column 9")


def _checksum(line: str) -> int:
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


@pytest.mark.parametrize(
    ("name", "args", "argument", "fragment"),
    [
        ("SET_MODE", {"mode": "SLEEP"}, "mode", "not one of SAFE, NOMINAL"),
        ("SET_MODE", {}, "mode", "is required"),
        ("PING", {"loud": True}, "loud", "unknown argument"),
        ("CAPTURE_IMAGE", {"count": 0}, "count", "int in 1..100 images"),
        ("CAPTURE_IMAGE", {"count": 2.5}, "count", "not an integer"),
        ("CAPTURE_IMAGE", {"exposure_ms": "fast"}, "exposure_ms", "not a number"),
        ("CAPTURE_IMAGE", {"count": True}, "count", "not a number"),
        ("START_DOWNLINK", {"duration_s": 5}, "duration_s", "10..1800 s"),
        ("SET_HEATER", {"heater": "battery", "state": "ON", "setpoint_c": 99}, "setpoint_c", "°C"),
        ("SET_HEATER", {"heater": "cpu", "state": "ON"}, "heater", "battery, payload"),
        ("SET_ATTITUDE", {"mode": "TARGET", "target_lat_deg": 10}, "target_lon_deg", "TARGET"),
        ("SET_ATTITUDE", {"mode": "NADIR", "target_lat_deg": 91}, "target_lat_deg", "-90..90"),
        ("RESET_SUBSYSTEM", {"subsystem": "power"}, "subsystem", "obc, adcs, comms, payload"),
        ("UPDATE_TLE", {"line1": "1 short", "line2": "2 short"}, "line1", "69"),
        ("UPDATE_TLE", {"line1": 5, "line2": "x"}, "line1", "TLE line 1"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_argument(
    name: str, args: dict[str, Any], argument: str, fragment: str
) -> None:
    with pytest.raises(CommandError) as caught:
        validate_args(name, args)
    assert caught.value.argument == argument
    assert fragment in str(caught.value)
    # The same check guards the Command message: a pydantic error names the argument too.
    with pytest.raises(ValidationError, match=argument):
        cmd(name, **args)


def test_tle_checksum_errors_name_the_column() -> None:
    line1, line2 = CBERS2.splitlines()[1:]
    wrong = line1[:68] + str((int(line1[68]) + 1) % 10)
    with pytest.raises(CommandError, match=r"line1.*checksum \(column 69\)"):
        validate_args("UPDATE_TLE", {"line1": wrong, "line2": line2})


def test_unknown_command_lists_the_known_ones() -> None:
    with pytest.raises(CommandError, match="known commands: PING, SET_MODE"):
        validate_args("SELF_DESTRUCT", {})


def test_dictionary_is_complete_and_consistent() -> None:
    required = {
        "PING",
        "SET_MODE",
        "PAYLOAD_ON",
        "PAYLOAD_OFF",
        "CAPTURE_IMAGE",
        "START_DOWNLINK",
        "SET_HEATER",
        "SET_ATTITUDE",
        "RESET_SUBSYSTEM",
        "CLEAR_FAULTS",
        "UPDATE_TLE",
    }
    assert required <= set(DICTIONARY)
    from mpcs.simulator.commanding import HANDLERS

    assert set(HANDLERS) == set(DICTIONARY)
    for spec in DICTIONARY.values():
        assert spec.allowed_modes
        assert spec.description
        for arg in spec.args:
            if arg.type in (ArgType.INT, ArgType.FLOAT):
                assert arg.minimum is not None
                assert arg.maximum is not None
                assert arg.unit
            if not arg.required and arg.default is not None:
                assert validate_args(spec.name, _required_args(spec.name))[arg.name] == arg.default


def _required_args(name: str) -> dict[str, Any]:
    samples = {"SET_MODE": {"mode": "SAFE"}, "SET_HEATER": {"heater": "battery", "state": "ON"}}
    samples["SET_ATTITUDE"] = {"mode": "SUN"}
    samples["RESET_SUBSYSTEM"] = {"subsystem": "obc"}
    lines = CBERS2.splitlines()
    samples["UPDATE_TLE"] = {"line1": lines[1], "line2": lines[2]}
    return samples.get(name, {})


def test_command_and_ack_round_trip_as_json() -> None:
    command = Command(
        satellite="sat-1",
        name="SET_MODE",
        args={"mode": "SAFE"},
        issued_by="ops",
        valid_until=datetime.now(UTC) + timedelta(minutes=5),
        plan="plan-1",
        step="s1",
    )
    assert Command.model_validate_json(command.model_dump_json()) == command
    ack = make_craft().execute(command)[0]
    assert Ack.model_validate_json(ack.model_dump_json()) == ack
    with pytest.raises(ValidationError, match="timezone"):
        Command(satellite="s", name="PING", issued_by="o", issued_at=datetime(2025, 1, 1))


def test_parse_tle_of_update_is_same_as_file() -> None:
    assert parse_tle(CBERS2).satnum == "28057"
