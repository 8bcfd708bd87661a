"""The values the alert modules pass around: a telemetry sample, a rule's state, a transition.

`rules` turns (rule, state, sample) into a new state; `store` persists states as DynamoDB items;
`notify` publishes transitions; the handler glues them. A `Transition` is also what the runner
forwards to Kafka, InfluxDB and Kubernetes, and what the API lists, so its JSON is a contract.
"""

from __future__ import annotations

import copy
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

#: Namespace of the alert ids: uuid5 of "<mission>#<satellite>#<rule>#<fired at ns>", so the same
#: firing computed twice (a redelivered batch) gets the same id.
_ALERT_NAMESPACE = uuid.UUID("6f1d9c62-4a8e-5b7e-9d0b-3a1c2e4f5a60")


class Status(enum.StrEnum):
    """Where a (satellite, rule) pair is in the state machine (docs/alerts.md)."""

    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


class Edge(enum.StrEnum):
    """A transition someone is told about; pending → ok is silent."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Sample(NamedTuple):
    """One telemetry message reduced to what the rules read (a NamedTuple: one per record).

    `values` holds every numeric channel by `subsystem.name` (booleans as 1.0/0.0; text channels
    are absent), `time_ns` is the spacecraft time, `seen_s` the wall-clock time (Unix seconds) the
    sample was produced, from the Kafka record timestamp.
    """

    satellite: str
    time_ns: int
    values: dict[str, float]
    seen_s: float


@dataclass(frozen=True)
class RuleState:
    """The state of one rule for one satellite; times in spacecraft ns unless named otherwise.

    `last_sample_time` is the watermark: a sample not newer than it changes nothing. The alert
    fields (`alert_id` …) describe the latest alert of the pair, firing or resolved.
    """

    status: Status = Status.OK
    since: int | None = None
    last_sample_time: int = 0
    pending_since: int | None = None
    ref_value: float | None = None
    ref_time: int | None = None
    alert_id: str | None = None
    alert_status: Edge | None = None
    fired_at: int | None = None
    resolved_at: int | None = None
    value: float | None = None

    def with_watermark(self, last_sample_time: int) -> RuleState:
        """`dataclasses.replace(self, last_sample_time=…)` at a fifth of the cost (the handler
        moves every rule's watermark in every batch)."""
        return RuleState(
            self.status,
            self.since,
            last_sample_time,
            self.pending_since,
            self.ref_value,
            self.ref_time,
            self.alert_id,
            self.alert_status,
            self.fired_at,
            self.resolved_at,
            self.value,
        )

    def semantic(self) -> tuple[Any, ...]:
        """Everything but the watermark: two states with equal `semantic()` need no write."""
        return (
            self.status,
            self.since,
            self.pending_since,
            self.ref_value,
            self.ref_time,
            self.alert_id,
            self.alert_status,
            self.fired_at,
            self.resolved_at,
            self.value,
        )


def alert_id(mission: str, satellite: str, rule: str, fired_at_ns: int) -> str:
    """The id of the alert a rule raised for a satellite at `fired_at_ns` (same on a retry)."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{mission}#{satellite}#{rule}#{fired_at_ns}"))


@dataclass(frozen=True)
class Transition:
    """A firing or resolution, as notified on SNS and handed to the runner.

    `id` identifies the transition (`<alert id>:<firing|resolved>`: the SNS FIFO deduplication id),
    `alert_id` the alert both transitions of one episode share, `mission` is `<namespace>/<name>`,
    `spacecraft_time` RFC 3339 with nanoseconds, `value` what was measured (the channel value; for
    rateOfChange the rate in unit per second; for stale the sample age in seconds).
    """

    id: str
    alert_id: str
    mission: str
    satellite: str
    rule: str
    kind: str
    channel: str | None
    transition: str
    value: float | None
    threshold: float | None
    unit: str
    severity: str
    spacecraft_time: str
    message: str
    link: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (the SNS message body): `dataclasses.asdict`, spelled out
        (asdict's recursion was a tenth of the handler's time in a batch with transitions)."""
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "mission": self.mission,
            "satellite": self.satellite,
            "rule": self.rule,
            "kind": self.kind,
            "channel": self.channel,
            "transition": self.transition,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "severity": self.severity,
            "spacecraft_time": self.spacecraft_time,
            "message": self.message,
            "link": self.link,
            "extra": copy.deepcopy(self.extra),
        }

    def to_json(self) -> str:
        """Compact JSON of `to_dict()`."""
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        """Inverse of `to_dict` (a pending-notification marker read back from DynamoDB)."""
        return cls(**data)
