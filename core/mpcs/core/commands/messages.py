"""The Command and Ack messages (DESIGN §5) and the states a command goes through.

`CommandState` is the one vocabulary of a command's life as the ground follows it: the command
API's history, its audit points and its filters, and the executor's reading of acks all use it;
`AckState` is the part of it the spacecraft reports.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .dictionary import validate_args


class CommandState(enum.StrEnum):
    """Life of a command as the ground follows it.

    `sent` (the broker has it) → `accepted` → `executed` | `failed`, or `sent` → `rejected`.
    """

    SENT = "sent"
    ACCEPTED = "accepted"
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"


#: States whose arrival ends a command's life.
TERMINAL_STATES = frozenset((CommandState.EXECUTED, CommandState.FAILED, CommandState.REJECTED))
#: Order of the states in a command's life: an ack can arrive before the local `sent` is
#: recorded (the spacecraft answered before the broker's confirmation came back), so the latest
#: state is the one furthest along, not the one that arrived last.
STATE_RANK: Mapping[str, int] = {
    CommandState.SENT: 0,
    CommandState.ACCEPTED: 1,
    **dict.fromkeys(TERMINAL_STATES, 2),
}


class AckState(enum.StrEnum):
    """What the spacecraft acks: accepted then executed or failed; or rejected outright."""

    ACCEPTED = CommandState.ACCEPTED.value
    EXECUTED = CommandState.EXECUTED.value
    FAILED = CommandState.FAILED.value
    REJECTED = CommandState.REJECTED.value


def utc_now() -> datetime:
    """Current UTC time (one place to patch in tests)."""
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone (UTC, e.g. 2025-01-01T00:00:00Z)")
    return value.astimezone(UTC)


class Command(BaseModel):
    """A command on the `commands` topic, keyed by satellite; args are validated on construction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    satellite: str = Field(min_length=1, max_length=63)
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    issued_by: str = Field(min_length=1)
    issued_at: datetime = Field(default_factory=utc_now)
    valid_until: datetime | None = None
    plan: str | None = None
    step: str | None = None

    @field_validator("issued_at", "valid_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)

    @model_validator(mode="after")
    def _check_args(self) -> Command:
        typed = validate_args(self.name, self.args)
        object.__setattr__(self, "args", typed)
        return self


class Ack(BaseModel):
    """An acknowledgement on the `acks` topic (keyed by satellite)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    command_id: uuid.UUID
    satellite: str
    name: str
    state: AckState
    reason: str | None = None
    time: datetime

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)
