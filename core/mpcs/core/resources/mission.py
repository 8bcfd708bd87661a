"""Mission (`msn`): a constellation's shared topics, bucket, ingest and command API."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from mpcs.core.telemetry import CHANNEL_INDEX

from ._schema import cel, validations
from .common import (
    DNS_SUBDOMAIN_PATTERN,
    Condition,
    Conditions,
    LabelName,
    ObjectName,
    Resource,
    StatusText,
    duplicates,
)

#: Most simulator pods of one pooled Mission.
MAX_SIMULATOR_PODS = 100


class TelemetrySettings(Resource):
    """Where telemetry is stored."""

    retention_days: int = Field(default=30, ge=1, le=3650)
    """Retention of the mission's InfluxDB bucket, days."""


class KafkaSettings(Resource):
    """The mission's Kafka topics (telemetry, commands, acks, events, dlq)."""

    partitions: int = Field(
        default=3,
        ge=1,
        le=128,
        json_schema_extra=validations(
            cel(
                "self >= oldSelf",
                "partitions can only grow: Kafka cannot take partitions away from a topic",
            )
        ),
    )
    """Partitions per topic (can only grow; the API server refuses a smaller number)."""
    replication_factor: int = Field(default=1, ge=1, le=5)
    """Replicas per partition."""
    retention_hours: int = Field(default=168, ge=1, le=8760)
    """Retention of every topic, hours."""


class IngestSettings(Resource):
    """The mission's telemetry ingest Deployment."""

    replicas: int = Field(default=1, ge=1, le=128)
    """Ingest pods. They share the telemetry topic's partitions (one consumer group), so at most
    `kafka.partitions` of them have work: scale the ingest by partitions."""


_INGEST_WITHIN_PARTITIONS = (
    "!has(self.ingest) || !has(self.ingest.replicas) || "
    "self.ingest.replicas <= (has(self.kafka) && has(self.kafka.partitions) ? "
    "self.kafka.partitions : 3)"
)
_INGEST_WITHIN_PARTITIONS_MESSAGE = (
    "ingest.replicas must not exceed kafka.partitions (an ingest pod without a partition idles)"
)


class CommandApiSettings(Resource):
    """The mission's command API Deployment."""

    replicas: int = Field(default=1, ge=0, le=10)
    """Command API pods."""
    auth_secret_name: (
        Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] | None
    ) = None
    """Secret holding the API's bearer tokens; absent = the operator generates
    `<mission>-api-tokens`."""


class ComparisonOperator(enum.StrEnum):
    """How an alert compares a channel value with its threshold."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="


class Severity(enum.StrEnum):
    """Alert severity."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(enum.StrEnum):
    """What an alert rule watches (docs/alerts.md)."""

    THRESHOLD = "threshold"
    STALE = "stale"
    RATE_OF_CHANGE = "rateOfChange"


_STALE = "has(self.kind) && self.kind == 'stale'"
_CLEAR_SAFE_SIDE = (
    "!has(self.clearThreshold) || (has(self.operator) && has(self.threshold) && "
    "((self.operator in ['<', '<='] && self.clearThreshold >= self.threshold) || "
    "(self.operator in ['>', '>='] && self.clearThreshold <= self.threshold)))"
)
#: The rules that tie the fields of one AlertRule together, as (CEL, message, field); the API server
#: evaluates the CEL, `AlertRule._consistent` the same conditions, with the same messages.
_RULE_CHECKS = (
    (
        f"({_STALE}) || has(self.channel)",
        "Required value: channel (unless kind is stale)",
        "channel",
    ),
    (
        f"({_STALE}) || has(self.operator)",
        "Required value: operator (unless kind is stale)",
        "operator",
    ),
    (
        f"({_STALE}) || has(self.threshold)",
        "Required value: threshold (unless kind is stale)",
        "threshold",
    ),
    (
        f"has(self.staleSeconds) == ({_STALE})",
        "staleSeconds is required for kind stale and not allowed for other kinds",
        "staleSeconds",
    ),
    (
        "!has(self.windowSeconds) || (has(self.kind) && self.kind == 'rateOfChange')",
        "windowSeconds is only allowed for kind rateOfChange",
        "windowSeconds",
    ),
    (
        f"!({_STALE}) || !has(self.forSeconds) || self.forSeconds == 0",
        "forSeconds is not allowed for kind stale (staleSeconds is its hold)",
        "forSeconds",
    ),
    (
        _CLEAR_SAFE_SIDE,
        "clearThreshold must be on the safe side of threshold: >= threshold for < and <=, "
        "<= threshold for > and >=, and is not allowed with == or kind stale",
        "clearThreshold",
    ),
)


class AlertRule(Resource):
    """Raise an alert when telemetry crosses a threshold, changes too fast, or stops arriving.

    `kind` threshold (the default) compares the channel's value, rateOfChange the absolute rate of
    change of the channel in unit per second, stale fires when no sample of the satellite arrived
    for `staleSeconds`. docs/alerts.md describes the state machine the alerts handler runs.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            *(cel(rule, message, f".{field}") for rule, message, field in _RULE_CHECKS)
        )
    )

    name: LabelName
    """Rule name, unique within the mission."""
    kind: AlertKind = AlertKind.THRESHOLD
    """threshold (value <operator> threshold), rateOfChange (|d value/dt| <operator> threshold,
    unit per second, over windowSeconds) or stale (no sample for staleSeconds)."""
    channel: (
        Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[a-z]+\.[a-z0-9_]+$")] | None
    ) = None
    """Telemetry channel `subsystem.name`, e.g. `power.battery_soc_pct` (see docs/telemetry.md);
    required unless kind is stale (where it only labels the notification)."""
    operator: ComparisonOperator | None = None
    """Comparison: value <operator> threshold raises the alert; required unless kind is stale."""
    threshold: float | None = None
    """Threshold in the channel's unit (booleans: 1 = true, 0 = false); for rateOfChange in unit
    per second. Required unless kind is stale."""
    clear_threshold: float | None = None
    """Hysteresis: once firing, the alert resolves only when value <operator> clearThreshold no
    longer holds. On the safe side of threshold (>= it for < and <=, <= it for > and >=); absent =
    threshold."""
    for_seconds: int = Field(default=0, ge=0, le=86_400)
    """Hold: the condition must hold this long in spacecraft time before the alert fires (one noisy
    sample pages nobody); 0 fires on the first sample that crosses."""
    stale_seconds: int | None = Field(default=None, ge=1, le=86_400)
    """kind stale: fire when no sample of the satellite arrived for this many seconds."""
    window_seconds: int | None = Field(default=None, ge=1, le=3_600)
    """kind rateOfChange: the rate is (value - reference value) / (time - reference time) with a
    reference sample at least this many seconds older; absent = 60."""
    severity: Severity = Severity.WARNING
    """info, warning or critical."""

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str | None) -> str | None:
        # CEL cannot see the telemetry catalogue, so an unknown channel is the operator's to report.
        if channel is not None and channel not in CHANNEL_INDEX:
            raise ValueError(f"unknown telemetry channel {channel!r} (see docs/telemetry.md)")
        return channel

    @model_validator(mode="after")
    def _consistent(self) -> AlertRule:
        stale = self.kind == AlertKind.STALE
        problems = {
            "channel": not stale and self.channel is None,
            "operator": not stale and self.operator is None,
            "threshold": not stale and self.threshold is None,
            "staleSeconds": (self.stale_seconds is not None) != stale,
            "windowSeconds": self.window_seconds is not None
            and self.kind != AlertKind.RATE_OF_CHANGE,
            "forSeconds": stale and self.for_seconds != 0,
            "clearThreshold": self.clear_threshold is not None
            and not _clear_on_safe_side(self.operator, self.threshold, self.clear_threshold),
        }
        messages = [f"{message} ({field})" for _, message, field in _RULE_CHECKS if problems[field]]
        if messages:
            raise ValueError("; ".join(messages))
        return self

    @property
    def effective_window_seconds(self) -> int:
        """windowSeconds, or its default of 60 s."""
        return 60 if self.window_seconds is None else self.window_seconds


def _clear_on_safe_side(
    operator: ComparisonOperator | None, threshold: float | None, clear: float
) -> bool:
    if operator is None or threshold is None:
        return False
    if operator in (ComparisonOperator.LT, ComparisonOperator.LE):
        return clear >= threshold
    if operator in (ComparisonOperator.GT, ComparisonOperator.GE):
        return clear <= threshold
    return False


class DashboardSettings(Resource):
    """Grafana dashboards of the mission."""

    enabled: bool = True
    """Provision the mission's Grafana dashboards and datasource (docs/dashboards.md); false
    removes them."""


class SimulationSettings(Resource):
    """How the mission's Satellites are simulated (docs/simulator.md#pooled-simulation)."""

    pods: int | None = Field(default=None, ge=1, le=MAX_SIMULATOR_PODS)
    """Pooled simulation: this many simulator pods share the mission's Satellites (each pod runs
    its shard in one vectorised engine; Satellites coming and going are rebalanced with minimal
    moves). Absent: one simulator Deployment per Satellite."""


class DeletionPolicy(enum.StrEnum):
    """What happens to external data (Kafka topics, InfluxDB bucket) when the Mission is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"


class MissionSpec(Resource):
    """A mission: its stations, data retention, topics, command API, alerts and dashboards."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(_INGEST_WITHIN_PARTITIONS, _INGEST_WITHIN_PARTITIONS_MESSAGE, ".ingest.replicas")
        )
    )

    description: Annotated[str, Field(max_length=1024)] | None = None
    """What the mission is for."""
    ground_stations: list[ObjectName] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra=validations(
            cel(
                "self.all(x, self.exists_one(y, y == x))",
                "groundStations must not repeat a station",
            )
        ),
    )
    """Names of GroundStations (same namespace) the mission's satellites talk to."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Telemetry storage."""
    kafka: KafkaSettings = KafkaSettings()
    """Kafka topics."""
    ingest: IngestSettings = IngestSettings()
    """Telemetry ingest."""
    command_api: CommandApiSettings = CommandApiSettings()
    """Command API."""
    alerts: list[AlertRule] = Field(
        default_factory=list,
        max_length=100,
        json_schema_extra=validations(
            cel(
                "self.all(x, self.exists_one(y, y.name == x.name))",
                "alerts must have unique names",
            )
        ),
    )
    """Telemetry alert rules."""
    dashboards: DashboardSettings = DashboardSettings()
    """Grafana dashboards."""
    simulation: SimulationSettings = SimulationSettings()
    """Simulators: one per Satellite, or a pool of `pods` shared by all of them."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """Retain (default): deleting the Mission keeps its topics and bucket. Delete: removes them."""

    @field_validator("ground_stations")
    @classmethod
    def _unique_stations(cls, stations: list[str]) -> list[str]:
        repeated = duplicates(stations)
        if repeated:
            raise ValueError(
                f"groundStations must not repeat a station; repeated: {', '.join(repeated)}"
            )
        return stations

    @model_validator(mode="after")
    def _ingest_within_partitions(self) -> MissionSpec:
        if self.ingest.replicas > self.kafka.partitions:
            raise ValueError(_INGEST_WITHIN_PARTITIONS_MESSAGE)
        return self

    @field_validator("alerts")
    @classmethod
    def _unique_alerts(cls, alerts: list[AlertRule]) -> list[AlertRule]:
        repeated = duplicates(a.name for a in alerts)
        if repeated:
            raise ValueError(f"alerts must have unique names; repeated: {', '.join(repeated)}")
        return alerts


class MissionPhase(enum.StrEnum):
    """Life of a Mission."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    DEGRADED = "Degraded"
    DELETING = "Deleting"


class MissionTopics(Resource):
    """The mission's Kafka topic names (see mpcs.core.names)."""

    telemetry: str | None = None
    """Telemetry samples."""
    commands: str | None = None
    """Commands to the spacecraft."""
    acks: str | None = None
    """Command acknowledgements."""
    events: str | None = None
    """Audit and life-cycle events."""
    dlq: str | None = None
    """Messages that failed validation."""
    checkpoints: str | None = None
    """Simulator checkpoints, the latest per satellite (compacted)."""


class MissionEndpoints(Resource):
    """How to reach the mission's services."""

    command_api: str | None = None
    """In-cluster URL of the command API."""


class MissionStatus(Resource):
    """What the operator provisioned."""

    phase: MissionPhase | None = None
    """Pending, Provisioning, Ready, Degraded or Deleting."""
    conditions: list[Condition] = Conditions()
    """TopicsReady, BucketReady, IngestReady, CommandApiReady, AlertsReady, ArchiveReady,
    DashboardsReady, Ready."""
    topics: MissionTopics | None = None
    """Kafka topics."""
    bucket: str | None = None
    """InfluxDB bucket."""
    endpoints: MissionEndpoints | None = None
    """Service endpoints."""
    satellite_count: Annotated[int, Field(ge=0)] | None = None
    """Satellites referencing the mission."""
    message: StatusText | None = None
    """Short human summary of the phase."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the status reflects."""
