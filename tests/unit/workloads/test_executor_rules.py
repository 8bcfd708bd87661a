"""The executor's rules (mpcs.workloads.executor.rules) over a status dict and a fixed clock.

Covers the step state machine (acks and deadlines), sequential sending, onFailure Abort/Continue,
the restart rules (a sent step is never sent again) and the phase/condition bookkeeping.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mpcs.core.commands import Ack, AckState
from mpcs.orbit.timeutil import format_rfc3339
from mpcs.workloads.executor.rules import (
    PlanView,
    ReceivedAck,
    apply_ack,
    command_id,
    reconcile,
)

T0 = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
UID = "9a1b2c3d-0000-4000-8000-000000000042"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def make_plan(
    *,
    steps: Sequence[tuple[str, str, dict[str, Any], float, float]] = (
        ("ping", "PING", {}, 0, 10),
        ("payload", "SET_MODE", {"mode": "PAYLOAD"}, 5, 10),
        ("capture", "CAPTURE_IMAGE", {"count": 2}, 10, 10),
    ),
    on_failure: str = "Abort",
    phase: str = "Scheduled",
    generation: int = 1,
    observed: int = 1,
    deleting: bool = False,
) -> dict[str, Any]:
    """A CommandPlan object as the operator leaves it: status Scheduled, every step pending.

    Each step is (name, command, args, offset_s, timeout_s); the schedule entries carry no
    timeoutSeconds (the CRD prunes it), so the executor must read it from the spec.
    """
    meta: dict[str, Any] = {"name": "plan-a", "uid": UID, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = format_rfc3339(T0)
    return {
        "metadata": meta,
        "spec": {
            "missionRef": {"name": "wildfire"},
            "satelliteRef": {"name": "sat-1"},
            "onFailure": on_failure,
            "steps": [
                {"name": n, "command": c, "args": a, "offsetSeconds": o, "timeoutSeconds": t}
                for n, c, a, o, t in steps
            ],
        },
        "status": {
            "phase": phase,
            "observedGeneration": observed,
            "conditions": [
                {"type": "Scheduled", "status": "True", "reason": "Resolved", "message": "x"}
            ],
            "schedule": [
                {"name": n, "command": c, "scheduledAt": format_rfc3339(at(o)), "state": "pending"}
                for n, c, _, o, _ in steps
            ],
        },
    }


class Sim:
    """Drives reconcile() the way the runner does: keep the returned status, collect sends."""

    def __init__(self, obj: dict[str, Any], *, grace_s: float = 2.0) -> None:
        self.obj = obj
        self.grace_s = grace_s
        self.acks: dict[str, list[ReceivedAck]] = {}
        self.sent: list[str] = []

    def step(self, now: dt.datetime) -> Any:
        outcome = reconcile(
            PlanView.from_object(self.obj), now=now, acks=self.acks, ack_grace_s=self.grace_s
        )
        if outcome.changed:
            self.obj = {**self.obj, "status": outcome.status}
        if outcome.send is not None:
            self.sent.append(outcome.send.step)
        return outcome

    def ack(self, step: str, state: AckState, when: dt.datetime, reason: str | None = None) -> None:
        cid = self.entry(step)["commandId"]
        self.acks.setdefault(cid, []).append(
            ReceivedAck(
                ack=Ack(
                    command_id=uuid.UUID(cid),
                    satellite="sat-1",
                    name=self.entry(step)["command"],
                    state=state,
                    reason=reason,
                    time=when,
                ),
                received_at=when,
            )
        )

    def entry(self, name: str) -> dict[str, Any]:
        for step in self.obj["status"]["schedule"]:
            if step["name"] == name:
                return dict(step)
        raise KeyError(name)

    @property
    def phase(self) -> str:
        return str(self.obj["status"]["phase"])

    def states(self) -> dict[str, str]:
        return {s["name"]: s["state"] for s in self.obj["status"]["schedule"]}

    def condition(self, kind: str) -> Mapping[str, Any]:
        return next(c for c in self.obj["status"]["conditions"] if c["type"] == kind)


def run_to_success(sim: Sim) -> None:
    for name, offset in (("ping", 0), ("payload", 5), ("capture", 10)):
        sim.step(at(offset))
        assert sim.sent[-1] == name
        sim.ack(name, AckState.ACCEPTED, at(offset + 0.1))
        sim.ack(name, AckState.EXECUTED, at(offset + 0.2))
        sim.step(at(offset + 0.3))


# ------------------------------------------------------------------ ids and timestamps


def test_command_ids_are_deterministic_per_plan_uid_and_step() -> None:
    assert command_id(UID, "ping") == command_id(UID, "ping")
    assert command_id(UID, "ping") != command_id(UID, "capture")
    assert command_id(UID, "ping") != command_id(UID.replace("42", "43"), "ping")
    assert command_id(UID, "ping").version == 5


def test_nothing_is_sent_before_the_first_step_is_due() -> None:
    sim = Sim(make_plan())
    outcome = sim.step(at(-30))
    assert outcome.send is None
    assert outcome.wake_at == at(0)
    assert sim.phase == "Scheduled"
    assert sim.states() == {"ping": "pending", "payload": "pending", "capture": "pending"}
    assert sim.condition("Running")["status"] == "False"
    # The operator's condition is kept.
    assert sim.condition("Scheduled")["reason"] == "Resolved"


def test_a_due_step_is_marked_sent_with_its_command_before_anything_is_published() -> None:
    sim = Sim(make_plan())
    outcome = sim.step(at(0.5))
    assert outcome.send is not None
    assert outcome.send.command_id == command_id(UID, "ping")
    assert outcome.send.satellite == "sat-1"
    assert outcome.send.valid_until == at(10)  # scheduledAt + timeoutSeconds (from the spec)
    ping = sim.entry("ping")
    assert ping["state"] == "sent"
    assert ping["commandId"] == str(command_id(UID, "ping"))
    assert ping["sentAt"] == format_rfc3339(at(0.5))
    assert sim.phase == "Running"
    assert sim.condition("Running")["status"] == "True"
    assert sim.condition("Succeeded")["status"] == "Unknown"


def test_args_come_from_the_spec_validated_with_defaults() -> None:
    outcome = reconcile(PlanView.from_object(make_plan()), now=at(0), acks={})
    assert outcome.send is not None
    assert outcome.send.args == {}
    sim2 = Sim(make_plan(steps=(("capture", "CAPTURE_IMAGE", {"count": 2}, 0, 10),)))
    sent = sim2.step(at(0)).send
    assert sent is not None
    assert sent.args == {"count": 2, "exposure_ms": 10.0}


def test_three_steps_succeed_with_ordered_timestamps() -> None:
    sim = Sim(make_plan())
    run_to_success(sim)
    assert sim.sent == ["ping", "payload", "capture"]
    assert sim.phase == "Succeeded"
    for name in ("ping", "payload", "capture"):
        entry = sim.entry(name)
        assert entry["state"] == "executed"
        assert entry["sentAt"] <= entry["ackedAt"] <= entry["executedAt"]
    assert sim.condition("Succeeded")["status"] == "True"
    assert sim.condition("Running")["status"] == "False"
    assert sim.obj["status"]["message"] == "3/3 steps executed"
    # A finished plan is left alone.
    assert not sim.step(at(100)).changed


def test_steps_are_sent_one_at_a_time_in_order() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    # The second step is due but the first has no final ack yet: wait for it.
    outcome = sim.step(at(6))
    assert outcome.send is None
    assert sim.sent == ["ping"]
    assert outcome.wake_at == at(10 + 2)  # ping's deadline + grace
    sim.ack("ping", AckState.EXECUTED, at(7))
    outcome = sim.step(at(7.1))
    assert sim.sent == ["ping", "payload"]  # sent late, still inside its window
    assert sim.entry("payload")["sentAt"] == format_rfc3339(at(7.1))


# ------------------------------------------------------------------ the step state machine


def test_accepted_then_executed() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    sim.ack("ping", AckState.ACCEPTED, at(0.2))
    sim.step(at(0.3))
    assert sim.entry("ping")["state"] == "acked"
    assert sim.entry("ping")["ackedAt"] == format_rfc3339(at(0.2))
    sim.ack("ping", AckState.EXECUTED, at(0.4))
    sim.step(at(0.5))
    assert sim.entry("ping")["state"] == "executed"
    assert sim.entry("ping")["executedAt"] == format_rfc3339(at(0.4))


def test_executed_without_accepted_sets_both_timestamps() -> None:
    step = {"name": "a", "command": "PING", "state": "sent", "sentAt": format_rfc3339(at(0))}
    ack = Ack(
        command_id=uuid.uuid4(), satellite="s", name="PING", state=AckState.EXECUTED, time=at(1)
    )
    assert apply_ack(step, ReceivedAck(ack=ack, received_at=at(1)))
    assert step["state"] == "executed"
    assert step["ackedAt"] == step["executedAt"] == format_rfc3339(at(1))


def test_ack_timestamps_never_precede_sent_at() -> None:
    step = {"name": "a", "command": "PING", "state": "sent", "sentAt": format_rfc3339(at(5))}
    ack = Ack(
        command_id=uuid.uuid4(), satellite="s", name="PING", state=AckState.EXECUTED, time=at(4)
    )
    apply_ack(step, ReceivedAck(ack=ack, received_at=at(4.9)))  # a skewed ground clock
    assert step["executedAt"] == format_rfc3339(at(5))


@pytest.mark.parametrize("final", ["executed", "failed", "expired", "pending"])
def test_acks_never_change_a_step_that_is_not_in_flight(final: str) -> None:
    step = {"name": "a", "command": "PING", "state": final}
    for state in AckState:
        ack = Ack(command_id=uuid.uuid4(), satellite="s", name="PING", state=state, time=at(1))
        assert not apply_ack(step, ReceivedAck(ack=ack, received_at=at(1)))
    assert step == {"name": "a", "command": "PING", "state": final}


def test_failed_on_board_keeps_the_reason() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    sim.ack("ping", AckState.ACCEPTED, at(0.1))
    sim.ack("ping", AckState.FAILED, at(0.2), reason="payload is off")
    sim.step(at(0.3))
    ping = sim.entry("ping")
    assert ping["state"] == "failed"
    assert ping["message"] == "failed on board: payload is off"
    assert ping["executedAt"] == format_rfc3339(at(0.2))


def test_rejected_is_a_failed_step_with_the_spacecraft_reason() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    sim.ack("ping", AckState.REJECTED, at(0.2), reason="not allowed in SAFE mode")
    sim.step(at(0.3))
    ping = sim.entry("ping")
    assert ping["state"] == "failed"
    assert ping["message"] == "rejected by the spacecraft: not allowed in SAFE mode"
    assert "executedAt" not in ping


def test_in_flight_step_expires_after_timeout_plus_grace() -> None:
    sim = Sim(make_plan(), grace_s=2)
    sim.step(at(0))
    sim.ack("ping", AckState.ACCEPTED, at(1))
    assert sim.step(at(11.9)).wake_at == at(12)
    assert sim.entry("ping")["state"] == "acked"
    sim.step(at(12))
    ping = sim.entry("ping")
    assert ping["state"] == "expired"
    assert "no final ack by 2025-06-01T12:00:10.000Z" in ping["message"]
    # A late executed ack does not revive it.
    sim.ack("ping", AckState.EXECUTED, at(12.5))
    sim.step(at(13))
    assert sim.entry("ping")["state"] == "expired"


def test_a_pending_step_whose_window_passed_expires_unsent() -> None:
    """E.g. the executor was down for the whole window: the command would be rejected anyway."""
    sim = Sim(make_plan(on_failure="Continue"))
    outcome = sim.step(at(10.5))  # ping's window [0, 10) is over; payload is due
    ping = sim.entry("ping")
    assert ping["state"] == "expired"
    assert ping["message"].startswith("not sent: its window ended")
    assert "commandId" not in ping
    assert outcome.send is not None
    assert outcome.send.step == "payload"


# ------------------------------------------------------------------ onFailure


def test_abort_fails_the_plan_and_never_sends_later_steps() -> None:
    sim = Sim(make_plan(on_failure="Abort"))
    sim.step(at(0))
    sim.ack("ping", AckState.EXECUTED, at(0.1))
    sim.step(at(5))
    sim.ack("payload", AckState.REJECTED, at(5.1), reason="nope")
    outcome = sim.step(at(10))
    assert outcome.send is None
    assert sim.sent == ["ping", "payload"]
    assert sim.phase == "Failed"
    capture = sim.entry("capture")
    assert capture["state"] == "failed"
    assert capture["message"] == "not sent: step payload did not execute (onFailure: Abort)"
    assert "commandId" not in capture
    assert "sentAt" not in capture
    assert dict(sim.condition("Succeeded")) | {"lastTransitionTime": None} == {
        "type": "Succeeded",
        "status": "False",
        "reason": "Aborted",
        "message": sim.obj["status"]["message"],
        "lastTransitionTime": None,
        "observedGeneration": 1,
    }
    assert "step payload failed: rejected by the spacecraft: nope" in sim.obj["status"]["message"]
    assert not sim.step(at(60)).changed


def test_abort_after_an_expired_step() -> None:
    sim = Sim(make_plan(on_failure="Abort"))
    sim.step(at(0))
    sim.step(at(12))
    assert sim.states() == {"ping": "expired", "payload": "failed", "capture": "failed"}
    assert sim.phase == "Failed"
    assert sim.sent == ["ping"]


def test_continue_runs_the_rest_and_ends_failed() -> None:
    sim = Sim(make_plan(on_failure="Continue"))
    sim.step(at(0))
    sim.ack("ping", AckState.EXECUTED, at(0.1))
    sim.step(at(5))
    sim.ack("payload", AckState.REJECTED, at(5.1), reason="nope")
    sim.step(at(5.2))
    assert sim.phase == "Running"
    sim.step(at(10))
    assert sim.sent == ["ping", "payload", "capture"]
    sim.ack("capture", AckState.EXECUTED, at(10.2))
    sim.step(at(10.3))
    assert sim.states() == {"ping": "executed", "payload": "failed", "capture": "executed"}
    assert sim.phase == "Failed"
    assert sim.condition("Succeeded")["reason"] == "StepFailed"


def test_on_failure_defaults_to_abort() -> None:
    plan = make_plan()
    del plan["spec"]["onFailure"]
    sim = Sim(plan)
    sim.step(at(0))
    sim.ack("ping", AckState.FAILED, at(0.1), reason="x")
    sim.step(at(0.2))
    assert sim.phase == "Failed"
    assert sim.sent == ["ping"]


# ------------------------------------------------------------------ restart rules


def test_restart_never_resends_a_sent_step_and_waits_for_its_ack() -> None:
    """A fresh executor sees only the status: `sent` there means published (or maybe published)."""
    sim = Sim(make_plan())
    sim.step(at(0))
    persisted = copy.deepcopy(sim.obj)  # what the apiserver holds when the process dies
    restarted = Sim(persisted)
    for t in (0.5, 3, 9.9, 11.9):
        outcome = restarted.step(at(t))
        assert outcome.send is None
    assert restarted.sent == []
    # The ack that arrived while the executor was down (replayed from Kafka) completes it.
    restarted.ack("ping", AckState.EXECUTED, at(1))
    restarted.step(at(11.95))
    assert restarted.entry("ping")["state"] == "executed"
    assert restarted.sent == ["payload"]  # the next step, never ping again


def test_restart_expires_a_sent_step_whose_ack_never_comes() -> None:
    """The crash window between writing `sent` and publishing: at most once, never twice."""
    sim = Sim(make_plan())
    sim.step(at(0))
    restarted = Sim(copy.deepcopy(sim.obj))
    restarted.step(at(12))
    assert restarted.entry("ping")["state"] == "expired"
    assert restarted.sent == []
    assert restarted.phase == "Failed"


@pytest.mark.parametrize("state", ["sent", "acked", "executed", "failed", "expired"])
def test_no_state_but_pending_is_ever_sent(state: str) -> None:
    plan = make_plan(steps=(("ping", "PING", {}, 0, 10),), phase="Running")
    plan["status"]["schedule"][0].update(
        state=state, commandId=str(command_id(UID, "ping")), sentAt=format_rfc3339(at(0))
    )
    for t in (0, 5, 11, 100):
        outcome = reconcile(PlanView.from_object(plan), now=at(t), acks={})
        assert outcome.send is None
        plan = {**plan, "status": outcome.status}


def test_reconcile_is_idempotent_for_the_same_inputs() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    sim.ack("ping", AckState.ACCEPTED, at(0.2))
    first = sim.step(at(0.3))
    assert first.changed
    again = sim.step(at(0.3))
    assert not again.changed
    assert again.send is None


# ------------------------------------------------------------------ what the executor leaves alone


@pytest.mark.parametrize("phase", ["Pending", "Succeeded", "Failed", "Cancelled", None])
def test_only_scheduled_and_running_plans_are_executed(phase: str | None) -> None:
    plan = make_plan(phase=phase or "Scheduled")
    if phase is None:
        del plan["status"]["phase"]
    outcome = reconcile(PlanView.from_object(plan), now=at(0), acks={})
    assert not outcome.changed
    assert outcome.send is None


def test_a_scheduled_plan_waits_until_the_operator_scheduled_its_current_generation() -> None:
    plan = make_plan(generation=2, observed=1)
    outcome = reconcile(PlanView.from_object(plan), now=at(0), acks={})
    assert not outcome.changed
    assert outcome.send is None
    # Once running, a spec edit does not stop it (the operator no longer reschedules it).
    running = Sim(make_plan())
    running.step(at(0))
    running.obj["metadata"]["generation"] = 2
    running.ack("ping", AckState.EXECUTED, at(1))
    running.step(at(5))
    assert running.sent == ["ping", "payload"]


def test_deleting_plan_is_cancelled_and_pending_steps_are_not_sent() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    sim.obj["metadata"]["deletionTimestamp"] = format_rfc3339(at(1))
    outcome = sim.step(at(5))
    assert outcome.send is None
    assert sim.phase == "Cancelled"
    assert sim.states() == {"ping": "sent", "payload": "failed", "capture": "failed"}
    assert sim.entry("payload")["message"] == "not sent: plan cancelled"
    assert sim.condition("Succeeded")["reason"] == "Cancelled"


def test_a_step_missing_from_the_spec_fails_unsent() -> None:
    plan = make_plan(on_failure="Continue")
    plan["spec"]["steps"] = plan["spec"]["steps"][1:]  # edited while running
    outcome = reconcile(PlanView.from_object(plan), now=at(0), acks={})
    entry = outcome.status["schedule"][0]
    assert entry["state"] == "failed"
    assert "no longer in spec.steps" in entry["message"]


def test_conditions_carry_the_generation_and_keep_transition_times() -> None:
    sim = Sim(make_plan())
    sim.step(at(0))
    running = sim.condition("Running")
    assert running["observedGeneration"] == 1
    assert running["lastTransitionTime"] == format_rfc3339(at(0))
    sim.ack("ping", AckState.ACCEPTED, at(1))
    sim.step(at(2))
    assert sim.condition("Running")["lastTransitionTime"] == format_rfc3339(at(0))
