"""Each injectable fault, visible in telemetry, and fault protection (FDIR) with its recovery."""

from __future__ import annotations

from typing import Any

from simdata import make_craft, spec_dict
from test_sim_commands import OK, send, states, to_contact

from mpcs.core.commands import AckState
from mpcs.simulator import Spacecraft


def _fly(craft: Spacecraft, seconds: float, step: float = 60.0) -> list[dict[str, Any]]:
    out = []
    for _ in range(int(seconds / step)):
        craft.advance(step)
        out.append(craft.telemetry())
    return out


def test_battery_ageing_fades_capacity_and_sags_voltage() -> None:
    fault = {"type": "batteryAgeing", "startOffsetSeconds": 3600, "capacityFadePctPerDay": 10}
    aged, healthy = make_craft(faults=[fault]), make_craft()
    a, h = _fly(aged, 2 * 86_400, 600), _fly(healthy, 2 * 86_400, 600)
    assert a[4]["power"]["battery_capacity_wh"] == 80.0  # before the start
    assert a[-1]["power"]["battery_capacity_wh"] < 80.0 * (1 - 0.18)  # ~2 days at 10 %/day
    assert h[-1]["power"]["battery_capacity_wh"] == 80.0
    # Same stored energy fraction reads as a lower voltage on the aged cells under discharge.
    dark = [i for i, m in enumerate(a) if m["orbit"]["illumination"] == 0 and i > 200]
    assert any(
        a[i]["power"]["battery_voltage_v"] < h[i]["power"]["battery_voltage_v"] for i in dark
    )


def test_stuck_wheel_freezes_a_wheel_trips_fdir_and_degrades_pointing() -> None:
    craft = make_craft(faults=[{"type": "stuckWheel", "startOffsetSeconds": 300, "wheel": "x"}])
    samples = _fly(craft, 1200)
    stuck = [m for m in samples if m["adcs"]["wheel_fault"]]
    assert stuck
    assert samples[0]["adcs"]["wheel_fault"] is False
    x = {round(m["adcs"]["wheel_x_rpm"] / 20) for m in stuck}  # constant within sensor noise
    assert len(x) <= 2
    last = samples[-1]
    assert last["mode"] == "SAFE"
    assert last["obc"]["fdir_reason"] == "reaction wheel x not responding"
    # Recovery: clear the latch, go NOMINAL; pointing is degraded but no new trip.
    acks = send(craft, "SET_MODE", mode="NOMINAL")
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]
    assert "CLEAR_FAULTS" in (acks[1].reason or "")
    assert states(send(craft, "CLEAR_FAULTS")) == OK
    assert states(send(craft, "SET_MODE", mode="NOMINAL")) == OK
    after = _fly(craft, 1200)
    assert after[-1]["mode"] == "NOMINAL"
    assert after[-1]["adcs"]["pointing_error_deg"] > 3.0  # vs 0.05° with four good wheels


def test_heater_failure_no_heat_and_flagged() -> None:
    broken = make_craft(
        faults=[{"type": "heaterFailure", "heater": "battery", "startOffsetSeconds": 0}]
    )
    good = make_craft()
    acks = send(broken, "SET_HEATER", heater="battery", state="ON")
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]
    assert acks[1].reason == "battery heater draws no current (heater failure)"
    for craft in (broken, good):
        send(craft, "SET_HEATER", heater="battery", state="AUTO", setpoint_c=35)
    b, g = _fly(broken, 3600), _fly(good, 3600)
    assert b[-1]["thermal"]["heater_fault"]
    assert not g[-1]["thermal"]["heater_fault"]
    assert not b[-1]["thermal"]["battery_heater_on"]
    assert g[-1]["thermal"]["battery_heater_on"]
    assert g[-1]["thermal"]["battery_temp_c"] > b[-1]["thermal"]["battery_temp_c"] + 1.0


def test_radio_dropout_for_a_duration_blocks_contact_then_recovers() -> None:
    craft = make_craft()
    to_contact(craft)
    start_s = (craft.time_ns - craft.engine.start_ns) / 1e9
    fault = {"type": "radioDropout", "startOffsetSeconds": start_s - 60, "durationSeconds": 90}
    dropped = make_craft(faults=[fault])
    to_contact(dropped, radio=False)
    m = dropped.telemetry()["comms"]
    assert m["elevation_deg"] > 5
    assert not m["radio_ok"]
    assert not m["in_contact"]
    assert m["rssi_dbm"] == -150.0
    assert states(send(dropped, "START_DOWNLINK"))[-1] is AckState.FAILED
    dropped.advance(40)  # past the 90 s outage, still in the pass
    m = dropped.telemetry()["comms"]
    assert m["radio_ok"]
    assert m["in_contact"]
    assert m["rssi_dbm"] > -130


def test_latched_radio_dropout_needs_a_comms_reset() -> None:
    craft = make_craft(faults=[{"type": "radioDropout", "startOffsetSeconds": 0}])
    _fly(craft, 86_400 / 4, 600)
    assert not craft.telemetry()["comms"]["radio_ok"]
    send(craft, "RESET_SUBSYSTEM", subsystem="comms")
    craft.advance(60)
    assert craft.telemetry()["comms"]["radio_ok"]


def test_low_battery_trips_safe_and_recovery_waits_for_charge() -> None:
    craft = make_craft(initialBatteryPct=24)
    send(craft, "SET_MODE", mode="PAYLOAD")
    samples = _fly(craft, 3 * 3600)
    tripped = next(m for m in samples if m["mode"] == "SAFE")
    assert tripped["obc"]["fdir_latched"]
    assert tripped["obc"]["fdir_reason"].startswith("battery ")
    assert not tripped["payload"]["payload_on"]
    assert tripped["adcs"]["attitude"] == "SUN"
    send(craft, "CLEAR_FAULTS")
    craft.engine.energy_wh[0] = 0.25 * 80  # still below the 30 % recovery threshold
    acks = send(craft, "SET_MODE", mode="NOMINAL")
    assert states(acks) == [AckState.ACCEPTED, AckState.FAILED]
    assert "recovery threshold" in (acks[1].reason or "")
    _fly(craft, 4 * 3600)  # SAFE is sun-pointing with low loads: it charges
    assert states(send(craft, "SET_MODE", mode="NOMINAL")) == OK


def test_fault_spec_validation_names_the_field() -> None:
    import pytest
    from pydantic import ValidationError

    from mpcs.core.resources import SatelliteSpec

    bad = spec_dict(faults=[{"type": "meteorStrike"}])
    with pytest.raises(ValidationError, match=r"simulator\.faults\.0\.type"):
        SatelliteSpec.model_validate(bad)
    twice = spec_dict(faults=[{"type": "stuckWheel"}, {"type": "stuckWheel"}])
    with pytest.raises(ValidationError, match="must not repeat a fault type; repeated: stuckWheel"):
        SatelliteSpec.model_validate(twice)
