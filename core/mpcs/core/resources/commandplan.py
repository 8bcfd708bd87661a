"""CommandPlan (`cmdplan`): an ordered sequence of commands for one satellite, from a start time.

The start is absolute (`start.at`) or relative to a pass (`start.nextPass`); each step runs at
`offsetSeconds` after the start (default 0) or at its own absolute `at`. The operator resolves this
into `status.schedule`; the mission's workloads execute it and write per-step state back.
Command names and arguments are checked against mpcs.core.commands by the operator (CEL cannot see
the dictionary); `validate_commands()` is that check.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from mpcs.core.commands import CommandError, validate_args

from ._schema import cel, validations
from .common import Condition, Conditions, LabelName, ObjectName, ObjectRef, Resource, StatusText

COMMAND_NAME_PATTERN = r"^[A-Z][A-Z0-9_]*$"


class NextPassStart(Resource):
    """Start at the next pass of the satellite over `station` that rises above `minElevationDeg`."""

    station: ObjectName
    """GroundStation name (one of the mission's stations)."""
    min_elevation_deg: float = Field(default=10.0, ge=0, le=89)
    """Only passes whose maximum elevation reaches this, degrees."""
    offset_seconds: float = Field(default=0.0, ge=-3600, le=3600)
    """Start this many seconds after AOS (negative: before AOS)."""


class PlanStart(Resource):
    """Exactly one of `at` or `nextPass`."""

    at: datetime | None = None
    """Absolute start time (RFC 3339, UTC)."""
    next_pass: NextPassStart | None = None
    """Start relative to the next pass over a station."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.at) != has(self.nextPass)",
                "set exactly one of at or nextPass",
            )
        )
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PlanStart:
        if (self.at is None) == (self.next_pass is None):
            raise ValueError("set exactly one of at or nextPass")
        return self


class PlanStep(Resource):
    """One command of the plan."""

    name: LabelName
    """Step name (DNS label), unique within the plan."""
    command: str = Field(min_length=1, max_length=64, pattern=COMMAND_NAME_PATTERN)
    """Command name from the command dictionary (docs/commands.md), e.g. SET_MODE."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Command arguments (checked against the command dictionary by the operator)."""
    offset_seconds: float | None = Field(default=None, ge=0, le=86_400)
    """Seconds after the plan start; absent (and no `at`) = 0."""
    at: datetime | None = None
    """Absolute time of this step (RFC 3339, UTC) instead of an offset."""
    timeout_seconds: float = Field(default=60.0, ge=1, le=3600)
    """How long to wait for the executed ack before the step fails."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.offsetSeconds) && has(self.at))",
                "set at most one of offsetSeconds and at",
                ".at",
            )
        )
    )

    @model_validator(mode="after")
    def _one_time(self) -> PlanStep:
        if self.offset_seconds is not None and self.at is not None:
            raise ValueError("set at most one of offsetSeconds and at")
        return self


class OnFailure(enum.StrEnum):
    """What the executor does when a step fails."""

    ABORT = "Abort"
    CONTINUE = "Continue"


class CommandPlanSpec(Resource):
    """A plan: which satellite, when, which commands."""

    mission_ref: ObjectRef
    """The Mission (same namespace)."""
    satellite_ref: ObjectRef
    """The Satellite (same namespace, of that mission)."""
    start: PlanStart
    """When the plan starts."""
    steps: list[PlanStep] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra=validations(
            cel(
                "self.all(x, self.exists_one(y, y.name == x.name))",
                "steps must have unique names",
            )
        ),
    )
    """Ordered steps."""
    on_failure: OnFailure = OnFailure.ABORT
    """Abort (default): later steps are not sent. Continue: they are."""

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, steps: list[PlanStep]) -> list[PlanStep]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"steps must have unique names; repeated: {step.name}")
            seen.add(step.name)
        return steps

    def validate_commands(self) -> list[str]:
        """Problems of the steps against the command dictionary, each naming the step's field.

        An empty list means every command exists and every argument is valid.
        """
        problems = []
        for index, step in enumerate(self.steps):
            try:
                validate_args(step.command, step.args)
            except CommandError as exc:
                field = "command" if exc.argument is None else f"args.{exc.argument}"
                problems.append(f"spec.steps[{index}].{field} (step {step.name!r}): {exc}")
        return problems


class PlanPhase(enum.StrEnum):
    """Life of a CommandPlan."""

    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class StepState(enum.StrEnum):
    """Life of one step's command."""

    PENDING = "pending"
    SENT = "sent"
    ACKED = "acked"
    EXECUTED = "executed"
    FAILED = "failed"
    EXPIRED = "expired"


class ScheduledStep(Resource):
    """One step resolved to an absolute time, with its progress."""

    name: LabelName
    """Step name."""
    command: str = Field(max_length=64)
    """Command name."""
    scheduled_at: datetime
    """When the command is due (UTC)."""
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """How long after scheduledAt the step may take before it expires (copied from the spec)."""
    state: StepState = StepState.PENDING
    """pending, sent, acked, executed, failed or expired."""
    sent_at: datetime | None = None
    """When the command was published."""
    acked_at: datetime | None = None
    """When the spacecraft accepted it."""
    executed_at: datetime | None = None
    """When the spacecraft executed it (or reported failure)."""
    command_id: Annotated[str, Field(max_length=64)] | None = None
    """The command's UUID."""
    message: StatusText | None = None
    """Failure reason or other detail."""


class CommandPlanStatus(Resource):
    """The resolved schedule and its progress."""

    phase: PlanPhase | None = None
    """Pending, Scheduled, Running, Succeeded, Failed or Cancelled."""
    start_time: datetime | None = None
    """The resolved start (absolute, or the AOS of the chosen pass plus its offset)."""
    schedule: list[ScheduledStep] = Field(default_factory=list, max_length=100)
    """Every step resolved to an absolute time, in order."""
    conditions: list[Condition] = Conditions()
    """Valid, Scheduled and friends."""
    message: StatusText | None = None
    """Short human summary of the phase."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the status reflects."""
