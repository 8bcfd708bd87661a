"""The CommandPlan executor's rules: pure functions over a plan's status, its acks and a clock.

`reconcile()` is the whole state machine. The runner (`mpcs.workloads.executor.runner`) lists the
mission's plans, calls `reconcile()` for each with the acks seen so far and the current time,
writes the returned status back (merge patch, resourceVersion precondition) and only then
publishes the one command it asked for. Nothing here does I/O, so every rule is unit-tested with a
status dict and a fixed clock (docs/commandplans.md states the same rules for users).

Rules, in order of application:

1. Only plans in phase Scheduled or Running are executed; a Scheduled plan whose status does not
   reflect the current `.metadata.generation` waits for the operator to reschedule it.
2. A plan being deleted (deletionTimestamp) is Cancelled: pending steps are never sent.
3. Acks move an in-flight step (sent/acked) forward: accepted → acked; executed → executed;
   failed → failed; rejected → failed. A step that is already final never changes again.
4. An in-flight step without a final ack at its deadline (scheduledAt + timeoutSeconds, the
   command's `valid_until`, plus `ack_grace_s` for the ack to travel back) → expired.
5. Steps are sent one at a time, in order: a step is sent once it is due *and* every earlier step
   is final. A step whose deadline passes before it could be sent → expired, never sent.
6. onFailure Abort: the first failed/expired step fails the plan and every later pending step →
   failed ("not sent"). Continue: later steps still run; the plan ends Failed if any step did not
   execute, Succeeded if all did.
7. A step is `sent` in the status (with its deterministic command id) *before* it is published, and
   only pending steps are ever sent, so after a restart a sent step is waited for, never resent.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mpcs.core.commands import Ack, AckState, CommandError, validate_args
from mpcs.core.resources.commandplan import OnFailure, PlanPhase, StepState
from mpcs.core.resources.common import set_condition
from mpcs.orbit.timeutil import format_rfc3339, parse_rfc3339

#: Namespace of the deterministic command ids: uuid5(EXECUTOR_NAMESPACE, "<plan uid>/<step>").
EXECUTOR_NAMESPACE = uuid.UUID("6f1d2c1e-6d70-4373-9a3c-6d2d706c616e")
#: Step timeout when neither the status nor the spec gives one (the CRD default).
DEFAULT_TIMEOUT_S = 60.0
#: Plan phases the executor acts on.
ACTIVE_PHASES = (PlanPhase.SCHEDULED, PlanPhase.RUNNING)
#: Step states that end a step.
FINAL_STATES = (StepState.EXECUTED, StepState.FAILED, StepState.EXPIRED)
#: Step states of a command that was published (or may have been) and has no final ack yet.
IN_FLIGHT_STATES = (StepState.SENT, StepState.ACKED)
#: Condition types the executor owns (the operator owns `Scheduled`).
RUNNING_CONDITION = "Running"
SUCCEEDED_CONDITION = "Succeeded"


def command_id(plan_uid: str, step: str) -> uuid.UUID:
    """The id of a step's command: the same for every executor process, different for a new plan.

    >>> str(command_id("0b0e4a9c-0000-4000-8000-000000000001", "ping"))[:8]
    '5ae03fb5'
    """
    return uuid.uuid5(EXECUTOR_NAMESPACE, f"{plan_uid}/{step}")


@dataclass(frozen=True)
class ReceivedAck:
    """An ack as the executor saw it: the message and the ground time it was produced/received."""

    ack: Ack
    received_at: dt.datetime


@dataclass(frozen=True)
class SendRequest:
    """A command the runner must publish after the status holding `sent` was written."""

    plan: str
    step: str
    command_id: uuid.UUID
    satellite: str
    command: str
    args: dict[str, Any]
    valid_until: dt.datetime


@dataclass
class Outcome:
    """What `reconcile()` decided for one plan."""

    status: dict[str, Any]
    """The full new status (equal to the old one when nothing changed)."""
    changed: bool = False
    send: SendRequest | None = None
    wake_at: dt.datetime | None = None
    """When this plan next needs attention without any new ack (a due step, a deadline)."""
    events: list[str] = field(default_factory=list)
    """Human-readable transitions, for the log."""


@dataclass(frozen=True)
class PlanView:
    """The parts of a CommandPlan object the rules read."""

    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    deleting: bool = False

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> PlanView:
        meta = obj.get("metadata") or {}
        return cls(
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation") or 0),
            spec=obj.get("spec") or {},
            status=obj.get("status") or {},
            deleting=bool(meta.get("deletionTimestamp")),
        )


def on_failure(spec: Mapping[str, Any]) -> OnFailure:
    try:
        return OnFailure(spec.get("onFailure") or OnFailure.ABORT)
    except ValueError:
        return OnFailure.ABORT


def spec_step(spec: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for step in spec.get("steps") or []:
        if step.get("name") == name:
            return dict(step)
    return None


def timeout_s(spec: Mapping[str, Any], step: Mapping[str, Any]) -> float:
    """The step's timeout: from the schedule entry, else from the spec step, else 60 s."""
    if step.get("timeoutSeconds") is not None:
        return float(step["timeoutSeconds"])
    declared = spec_step(spec, str(step.get("name")))
    if declared is not None and declared.get("timeoutSeconds") is not None:
        return float(declared["timeoutSeconds"])
    return DEFAULT_TIMEOUT_S


def valid_until(spec: Mapping[str, Any], step: Mapping[str, Any]) -> dt.datetime:
    """scheduledAt + timeoutSeconds: the command's `valid_until` and the step's deadline."""
    return parse_rfc3339(str(step["scheduledAt"])) + dt.timedelta(seconds=timeout_s(spec, step))


def state_of(step: Mapping[str, Any]) -> StepState:
    try:
        return StepState(step.get("state") or StepState.PENDING)
    except ValueError:
        return StepState.PENDING


def apply_ack(step: dict[str, Any], received: ReceivedAck) -> bool:
    """Move an in-flight step forward by one ack; True when the step changed.

    Timestamps are the ground time of the ack (its Kafka record time), never earlier than sentAt.
    """
    state = state_of(step)
    if state not in IN_FLIGHT_STATES:
        return False
    when = received.received_at
    if step.get("sentAt"):
        when = max(when, parse_rfc3339(str(step["sentAt"])))
    at = format_rfc3339(when)
    ack = received.ack
    if ack.state is AckState.ACCEPTED:
        if state is StepState.ACKED:
            return False
        step.update(state=StepState.ACKED.value, ackedAt=at)
        return True
    step.setdefault("ackedAt", at)
    if ack.state is AckState.EXECUTED:
        step.update(state=StepState.EXECUTED.value, executedAt=at)
        step.pop("message", None)
    elif ack.state is AckState.FAILED:
        step.update(
            state=StepState.FAILED.value,
            executedAt=at,
            message=f"failed on board: {ack.reason or 'no reason given'}",
        )
    else:  # rejected: the spacecraft did not even attempt it
        step.update(
            state=StepState.FAILED.value,
            message=f"rejected by the spacecraft: {ack.reason or 'no reason given'}",
        )
    return True


def reconcile(
    plan: PlanView,
    *,
    now: dt.datetime,
    acks: Mapping[str, Sequence[ReceivedAck]],
    ack_grace_s: float = 2.0,
) -> Outcome:
    """Decide the next status of one plan (see the module docstring for the rules).

    `acks` maps command ids (str) to the acks received for them, oldest first. At most one step is
    returned to send; the returned status already marks it `sent`.
    """
    original = dict(plan.status)
    outcome = Outcome(status=original)
    try:
        phase = PlanPhase(original.get("phase") or PlanPhase.PENDING)
    except ValueError:
        return outcome
    if phase not in ACTIVE_PHASES:
        return outcome
    if phase is PlanPhase.SCHEDULED and int(original.get("observedGeneration") or 0) != (
        plan.generation
    ):
        return outcome  # the operator has not scheduled the current spec yet
    status = copy.deepcopy(original)
    schedule: list[dict[str, Any]] = [dict(s) for s in status.get("schedule") or []]
    events = outcome.events
    policy = on_failure(plan.spec)

    if plan.deleting:
        for step in schedule:
            if state_of(step) is StepState.PENDING:
                step.update(state=StepState.FAILED.value, message="not sent: plan cancelled")
        return _finish(plan, outcome, status, schedule, PlanPhase.CANCELLED, now, "deleted")

    # 3. acks, 4. deadlines of in-flight steps.
    for step in schedule:
        cid = step.get("commandId")
        if cid and state_of(step) in IN_FLIGHT_STATES:
            for received in acks.get(str(cid), ()):
                if apply_ack(step, received):
                    events.append(f"step {step['name']}: {received.ack.state.value}")
        if state_of(step) in IN_FLIGHT_STATES:
            deadline = valid_until(plan.spec, step)
            if now >= deadline + dt.timedelta(seconds=ack_grace_s):
                step.update(
                    state=StepState.EXPIRED.value,
                    message=f"no final ack by {format_rfc3339(deadline)} "
                    f"(timeout {timeout_s(plan.spec, step):g} s after scheduledAt)",
                )
                events.append(f"step {step['name']}: expired")

    # 5. sequential sending, 6. onFailure.
    wake: list[dt.datetime] = []
    failed_step: str | None = None
    for step in schedule:
        state = state_of(step)
        if failed_step is not None and policy is OnFailure.ABORT:
            if state is StepState.PENDING:
                step.update(
                    state=StepState.FAILED.value,
                    message=f"not sent: step {failed_step} did not execute (onFailure: Abort)",
                )
                events.append(f"step {step['name']}: skipped (Abort)")
            continue
        if state in (StepState.FAILED, StepState.EXPIRED):
            failed_step = failed_step or str(step["name"])
            continue
        if state is StepState.EXECUTED:
            continue
        if state in IN_FLIGHT_STATES:
            wake.append(valid_until(plan.spec, step) + dt.timedelta(seconds=ack_grace_s))
            break
        # pending
        deadline = valid_until(plan.spec, step)
        scheduled_at = parse_rfc3339(str(step["scheduledAt"]))
        if now >= deadline:
            step.update(
                state=StepState.EXPIRED.value,
                message=f"not sent: its window ended at {format_rfc3339(deadline)} "
                "before it could be sent",
            )
            events.append(f"step {step['name']}: expired unsent")
            failed_step = failed_step or str(step["name"])
            continue
        if now < scheduled_at:
            wake.append(scheduled_at)
            break
        request = _send_request(plan, step, deadline)
        if isinstance(request, str):
            step.update(state=StepState.FAILED.value, message=f"not sent: {request}")
            events.append(f"step {step['name']}: failed unsent ({request})")
            failed_step = failed_step or str(step["name"])
            continue
        step.update(
            state=StepState.SENT.value,
            sentAt=format_rfc3339(now),
            commandId=str(request.command_id),
        )
        outcome.send = request
        events.append(f"step {step['name']}: sent {request.command} as {request.command_id}")
        wake.append(deadline + dt.timedelta(seconds=ack_grace_s))
        break

    outcome.wake_at = min(wake) if wake else None
    states = [state_of(s) for s in schedule]
    if all(s in FINAL_STATES for s in states):
        final = (
            PlanPhase.SUCCEEDED
            if all(s is StepState.EXECUTED for s in states)
            else PlanPhase.FAILED
        )
        return _finish(plan, outcome, status, schedule, final, now, failed_step)
    new_phase = (
        PlanPhase.SCHEDULED if all(s is StepState.PENDING for s in states) else PlanPhase.RUNNING
    )
    return _finish(plan, outcome, status, schedule, new_phase, now, failed_step)


def _send_request(
    plan: PlanView, step: Mapping[str, Any], deadline: dt.datetime
) -> SendRequest | str:
    """The command of a due step, or why it cannot be sent."""
    declared = spec_step(plan.spec, str(step["name"]))
    if declared is None:
        return f"step {step['name']} is no longer in spec.steps"
    satellite = str((plan.spec.get("satelliteRef") or {}).get("name") or "")
    if not satellite:
        return "spec.satelliteRef.name is empty"
    name = str(step.get("command") or declared.get("command"))
    try:
        args = validate_args(name, dict(declared.get("args") or {}))
    except CommandError as exc:
        return str(exc)
    return SendRequest(
        plan=plan.name,
        step=str(step["name"]),
        command_id=command_id(plan.uid, str(step["name"])),
        satellite=satellite,
        command=name,
        args=args,
        valid_until=deadline,
    )


def _summary(schedule: Sequence[Mapping[str, Any]], phase: PlanPhase) -> str:
    total = len(schedule)
    executed = sum(1 for s in schedule if state_of(s) is StepState.EXECUTED)
    head = f"{executed}/{total} steps executed"
    for step in schedule:
        state = state_of(step)
        if phase in (PlanPhase.FAILED, PlanPhase.CANCELLED) and state in (
            StepState.FAILED,
            StepState.EXPIRED,
        ):
            return f"{head}; step {step['name']} {state.value}: {step.get('message', '')}"[:1024]
        if phase in ACTIVE_PHASES and state is not StepState.EXECUTED and state not in FINAL_STATES:
            if state is StepState.PENDING:
                return f"{head}; next: step {step['name']} at {step['scheduledAt']}"
            return f"{head}; step {step['name']} {state.value}, waiting for its ack"
    return head


def _finish(
    plan: PlanView,
    outcome: Outcome,
    status: dict[str, Any],
    schedule: list[dict[str, Any]],
    phase: PlanPhase,
    now: dt.datetime,
    failed_step: str | None,
) -> Outcome:
    conditions = list(status.get("conditions") or [])
    summary = _summary(schedule, phase)
    gen = plan.generation
    # (status, reason) of each condition the executor owns.
    running: tuple[bool | None, str]
    succeeded: tuple[bool | None, str]
    if phase is PlanPhase.RUNNING:
        running = (True, "StepsInProgress")
        succeeded = (None, "Running")
    elif phase is PlanPhase.SCHEDULED:
        running = (False, "WaitingForFirstStep")
        succeeded = (None, "NotStarted")
    elif phase is PlanPhase.SUCCEEDED:
        running = (False, "Completed")
        succeeded = (True, "AllStepsExecuted")
    elif phase is PlanPhase.CANCELLED:
        running = (False, "Cancelled")
        succeeded = (False, "Cancelled")
    else:
        running = (False, "Completed")
        aborted = on_failure(plan.spec) is OnFailure.ABORT
        succeeded = (False, "Aborted" if aborted else "StepFailed")
    for condition, (condition_status, reason) in (
        (RUNNING_CONDITION, running),
        (SUCCEEDED_CONDITION, succeeded),
    ):
        conditions = set_condition(
            conditions,
            type=condition,
            status=condition_status,
            reason=reason,
            message=summary,
            generation=gen,
            now=now,
        )
    status.update(
        phase=phase.value,
        schedule=schedule,
        conditions=conditions,
        message=summary,
    )
    if phase in (PlanPhase.SUCCEEDED, PlanPhase.FAILED, PlanPhase.CANCELLED):
        outcome.events.append(f"plan {phase.value}: {summary}")
        outcome.wake_at = None
    outcome.status = status
    outcome.changed = status != dict(plan.status)
    return outcome
