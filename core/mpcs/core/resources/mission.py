"""Mission (`msn`): a constellation's shared topics, bucket, ingest and command API."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import Field, field_validator

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


class TelemetrySettings(Resource):
    """Where telemetry is stored."""

    retention_days: int = Field(default=30, ge=1, le=3650)
    """Retention of the mission's InfluxDB bucket, days."""


class KafkaSettings(Resource):
    """The mission's Kafka topics (telemetry, commands, acks, events, dlq)."""

    partitions: int = Field(default=3, ge=1, le=128)
    """Partitions per topic (can only grow)."""
    replication_factor: int = Field(default=1, ge=1, le=5)
    """Replicas per partition."""
    retention_hours: int = Field(default=168, ge=1, le=8760)
    """Retention of every topic, hours."""


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


class AlertRule(Resource):
    """Raise an alert when a telemetry channel crosses a threshold."""

    name: LabelName
    """Rule name, unique within the mission."""
    channel: str = Field(min_length=3, max_length=128, pattern=r"^[a-z]+\.[a-z0-9_]+$")
    """Telemetry channel `subsystem.name`, e.g. `power.battery_soc_pct` (see docs/telemetry.md)."""
    operator: ComparisonOperator
    """Comparison: value <operator> threshold raises the alert."""
    threshold: float
    """Threshold in the channel's unit (booleans: 1 = true, 0 = false)."""
    severity: Severity = Severity.WARNING
    """info, warning or critical."""

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        # CEL cannot see the telemetry catalogue, so an unknown channel is the operator's to report.
        if channel not in CHANNEL_INDEX:
            raise ValueError(f"unknown telemetry channel {channel!r} (see docs/telemetry.md)")
        return channel


class DashboardSettings(Resource):
    """Grafana dashboards of the mission."""

    enabled: bool = True
    """Provision the mission's Grafana dashboards and datasource (docs/dashboards.md); false
    removes them."""


class DeletionPolicy(enum.StrEnum):
    """What happens to external data (Kafka topics, InfluxDB bucket) when the Mission is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"


class MissionSpec(Resource):
    """A mission: its stations, data retention, topics, command API, alerts and dashboards."""

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


class MissionEndpoints(Resource):
    """How to reach the mission's services."""

    command_api: str | None = None
    """In-cluster URL of the command API."""


class MissionStatus(Resource):
    """What the operator provisioned."""

    phase: MissionPhase | None = None
    """Pending, Provisioning, Ready, Degraded or Deleting."""
    conditions: list[Condition] = Conditions()
    """TopicsReady, BucketReady, IngestReady, CommandApiReady, DashboardsReady, Ready."""
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
