"""Checkpoints: a spacecraft restored from one flies on exactly as the original does.

The runtime's resume (tests/integration/test_sim_resume_kafka.py) rests on this: `restore` of a
`snapshot` gives a model whose every later telemetry message equals the original's, whatever
was commanded before (modes, heaters, attitude, images, a reboot) and whatever faults began.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from simdata import make_craft

from mpcs.core.commands import AckState, Command, Mode
from mpcs.simulator import Spacecraft, checkpoint


def _send(craft: Spacecraft, name: str, **args: Any) -> None:
    acks = craft.execute(Command(satellite="sat-1", name=name, args=args, issued_by="test"))
    assert acks[-1].state is AckState.EXECUTED, acks


FAULTS = [
    {"type": "stuckWheel", "startOffsetSeconds": 300, "wheel": "y"},
    {"type": "batteryAgeing", "capacityFadePctPerDay": 50},
    {"type": "radioDropout", "startOffsetSeconds": 100},
]


def _flown() -> Spacecraft:
    """A spacecraft with a history: commands, a reboot, images on board, faults under way."""
    craft = make_craft(faults=FAULTS)
    for _ in range(31):
        craft.advance(10.0)
    assert craft.mode is Mode.SAFE  # fault protection: the wheel stuck at 300 s
    _send(craft, "CLEAR_FAULTS")
    _send(craft, "SET_MODE", mode="PAYLOAD")
    _send(craft, "SET_HEATER", heater="payload", state="ON")
    _send(craft, "SET_ATTITUDE", mode="TARGET", target_lat_deg=43.6, target_lon_deg=1.4)
    _send(craft, "CAPTURE_IMAGE", count=3)
    _send(craft, "RESET_SUBSYSTEM", subsystem="obc")
    for _ in range(7):
        craft.advance(10.0)
    return craft


def test_a_restored_spacecraft_flies_on_exactly_like_the_original() -> None:
    original = _flown()
    ids = [uuid.uuid4(), uuid.uuid4()]
    payload = checkpoint.encode(original.engine, 0, wall_ns=123, executed_ids=ids)
    message = checkpoint.decode(payload, satellite="sat-1")
    assert message["executed_ids"] == [str(i) for i in ids]
    assert message["wall_ns"] == 123

    restored = make_craft(faults=FAULTS)  # the spec's initial state, as a new process has
    assert restored.telemetry() != original.telemetry()
    checkpoint.restore(restored.engine, 0, message["state"])
    assert restored.time_ns == original.time_ns
    assert restored.mode == original.mode
    for _ in range(40):
        original.advance(10.0)
        restored.advance(10.0)
        assert restored.telemetry() == original.telemetry()
    last = restored.telemetry()
    assert last["obc"]["boot_count"] == 2  # the commanded reboot, and only that one
    assert last["payload"]["images_captured"] == 3
    assert last["adcs"]["wheel_fault"] is True


def test_a_replaced_tle_is_restored() -> None:
    original = make_craft()
    line1 = original.spec.tle.line1
    line2 = original.spec.tle.line2
    # Same orbit, a later revolution number: a different element set the model must keep.
    line2 = line2[:63] + "56354" + line2[68:]
    from mpcs.orbit.tle import tle_checksum

    line2 = line2[:68] + str(tle_checksum(line2))
    _send(original, "UPDATE_TLE", line1=line1, line2=line2)
    restored = make_craft()
    checkpoint.restore(restored.engine, 0, checkpoint.snapshot(original.engine, 0))
    assert restored.engine.tles[0].line2 == line2
    original.advance(60.0)
    restored.advance(60.0)
    assert restored.telemetry() == original.telemetry()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "not JSON"),
        (b'{"version": 2}', "not a version 1 checkpoint"),
        (b'{"version": 1, "satellite": "sat-2", "wall_ns": 1, "state": {}}', "'sat-2'"),
        (b'{"version": 1, "satellite": "sat-1", "state": {}}', "without wall_ns"),
    ],
)
def test_what_is_not_a_checkpoint_of_this_satellite_is_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(checkpoint.CheckpointError, match=reason):
        checkpoint.decode(payload, satellite="sat-1")


def test_a_checkpoint_that_does_not_fit_leaves_the_engine_untouched() -> None:
    craft = make_craft()
    state = checkpoint.snapshot(_flown().engine, 0)
    state["rows"]["temp_k"] = [1.0, 2.0]  # three nodes expected
    before = craft.telemetry()
    with pytest.raises(checkpoint.CheckpointError, match="temp_k"):
        checkpoint.restore(craft.engine, 0, state)
    assert craft.telemetry() == before
    del state["rows"]["mode"]
    with pytest.raises(checkpoint.CheckpointError, match="mode"):
        checkpoint.restore(craft.engine, 0, state)


def test_moving_the_clock_without_a_sample_keeps_the_sequence_number() -> None:
    """How the runtime brings the model up to a command's arrival."""
    craft = make_craft()
    craft.advance(10.0)
    seq = craft.telemetry()["seq"]
    craft.engine.advance(4.0, sample=False)
    assert craft.telemetry()["seq"] == seq
    assert craft.telemetry()["time"] == "2008-09-20T12:00:14.000000000Z"
    craft.advance(6.0)
    assert craft.telemetry()["seq"] == seq + 1
