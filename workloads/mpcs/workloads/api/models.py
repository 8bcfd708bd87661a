"""Request and response bodies of the command API (what OpenAPI at `/docs` shows).

`…Create` models are what a client sends, `…Public` models what the API answers; list responses are
`{data, count}`. JSON keys are camelCase like the Kubernetes objects they come from (`validUntil`,
`maxElevationDeg`); telemetry channels keep their catalogue names (`power.battery_soc_pct`).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

#: A telemetry value: float, int, bool or str (the channel catalogue says which).
ChannelValue = float | int | bool | str


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown request keys are errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ListPublic(ApiModel, Generic[T]):
    """A list response: the items and how many there are."""

    data: list[T]
    count: int = Field(description="Number of items matching the query (data may be limited).")


class Role(enum.StrEnum):
    """API roles: viewer < operator < admin, each allowed what the previous one is plus more;
    and ingest, beside them, which may only post telemetry (a ground station's token: it can
    neither read nor command). Admin may do what ingest may.

    >>> Role.ADMIN.allows(Role.INGEST), Role.INGEST.allows(Role.VIEWER)
    (True, False)
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    INGEST = "ingest"

    @property
    def rank(self) -> int:
        """ingest -1 < viewer 0 < operator 1 < admin 2 (which role a token shared by two is)."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may do."""
        if needed is Role.INGEST:
            return self in (Role.INGEST, Role.ADMIN)
        if self is Role.INGEST:
            return False
        return self.rank >= needed.rank


_RANKS = {Role.INGEST: -1, Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class ErrorPublic(ApiModel):
    """Every error: a reason naming the field or argument at fault (plus context, e.g. checks)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    detail: Any = Field(description="Why the request failed (a string or a list of field errors).")


# --- satellites ---------------------------------------------------------------------------------


class TlePublic(ApiModel):
    line1: str
    line2: str


class NextPassPublic(ApiModel):
    station: str
    aos: datetime
    los: datetime
    max_elevation_deg: float


class SatelliteSummary(ApiModel):
    """One satellite of the mission, as listed."""

    name: str
    mission: str
    norad_id: int | None = None
    phase: str | None = None
    telemetry_interval_seconds: float | None = None
    simulator_enabled: bool = True
    next_pass: NextPassPublic | None = None
    last_telemetry_time: datetime | None = None


class SatellitePublic(SatelliteSummary):
    """One satellite: spec summary and the operator's status."""

    tle: TlePublic | None = None
    bus: dict[str, Any] = Field(default_factory=dict)
    simulator: dict[str, Any] = Field(default_factory=dict)
    orbit: dict[str, Any] | None = Field(
        default=None, description="Orbit summary from the status (period, inclination, …)."
    )
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    message: str | None = None


class PassPublic(ApiModel):
    """One pass over one of the mission's ground stations."""

    station: str
    aos: datetime
    tca: datetime
    los: datetime
    max_elevation_deg: float
    duration_s: float
    clipped: bool = Field(description="AOS or LOS cut by the prediction window.")


# --- telemetry ----------------------------------------------------------------------------------


class TelemetryLatestPublic(ApiModel):
    """The latest value of every channel of a satellite."""

    satellite: str
    time: str | None = Field(description="Sample time (UTC, ns precision) of the newest value.")
    seq: int | None = None
    mode: str | None = None
    source: str = Field(description="`stream` (live Kafka cache) or `influxdb` (stored points).")
    channels: dict[str, ChannelValue] = Field(
        description="Channel name (`subsystem.channel`) → value."
    )


class TelemetryPoint(ApiModel):
    time: str
    value: ChannelValue | None


class TelemetrySeriesPublic(ApiModel):
    """One channel aggregated over windows."""

    channel: str
    unit: str
    fn: str
    points: list[TelemetryPoint]


class TelemetryAcceptedPublic(ApiModel):
    """A posted telemetry batch, on the telemetry topic."""

    satellite: str
    received: int = Field(description="Messages in the request.")
    accepted: int = Field(description="Messages produced to the telemetry topic (all of them).")
    topic: str


# --- commands -----------------------------------------------------------------------------------


class CommandCreate(ApiModel):
    """A command to send to a satellite."""

    name: str = Field(description="Command name from the dictionary (`GET /commands/dictionary`).")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments by name.")
    confirm: bool = Field(
        default=False, description="Must be true for a critical command (admin only)."
    )
    valid_until: datetime | None = Field(
        default=None,
        description="UTC time after which the spacecraft rejects the command (timezone required).",
    )


class CommandEventPublic(ApiModel):
    """One step in a command's life."""

    state: str = Field(description="sent, accepted, executed, failed or rejected.")
    time: datetime = Field(description="When the command service saw it (UTC).")
    reason: str | None = None
    spacecraft_time: datetime | None = Field(
        default=None, description="The ack's time (the simulated spacecraft clock)."
    )


class CommandPublic(ApiModel):
    """A command and its state history."""

    id: uuid.UUID
    satellite: str
    name: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    valid_until: datetime | None = None
    plan: str | None = None
    step: str | None = None
    state: str = Field(description="The latest state.")
    history: list[CommandEventPublic]


class ArgumentPublic(ApiModel):
    name: str
    type: str
    description: str
    unit: str
    accepted: str
    required: bool
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] = Field(default_factory=list)


class CommandSpecPublic(ApiModel):
    """One entry of the command dictionary."""

    name: str
    description: str
    criticality: str
    allowed_modes: list[str]
    effect: str
    args: list[ArgumentPublic]


class AuthorityPublic(ApiModel):
    """Who holds a satellite's command authority (nobody: `holder` is null)."""

    satellite: str
    holder: str | None = Field(
        default=None, description="The person (or shared role token) holding it."
    )
    role: str | None = None
    since: datetime | None = None


class AuthorityClaim(ApiModel):
    """Claim a satellite's command authority."""

    takeover: bool = Field(
        default=False, description="Admins only: take it from whoever holds it (audited)."
    )


class ApprovalPublic(ApiModel):
    """A critical command and its second-admin approval."""

    command: CommandPublic
    issuer: str
    requested_at: datetime
    expires_at: datetime
    state: str = Field(description="pending, approved, sent or expired.")
    approver: str | None = None


# --- health -------------------------------------------------------------------------------------


class HealthPublic(ApiModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the errors a route can answer (all shaped like ErrorPublic)."""
    reasons = {
        400: "The body is not valid JSON",
        401: "No bearer token, or an unknown one (see WWW-Authenticate)",
        403: "The token's role may not do this",
        404: "No such object",
        409: "Conflict (see detail)",
        410: "Gone (see detail)",
        413: "The body is larger than the route accepts (see detail and docs/api.md)",
        415: "Content-Type or Content-Encoding not accepted (see detail)",
        423: "Locked: another operator holds the satellite's command authority",
        429: "Too many requests for this token; retry after Retry-After seconds",
        503: "A dependency (Kafka or InfluxDB) does not answer; retry later",
        504: "Kafka did not confirm in time whether the command was committed (see detail)",
    }
    return {code: {"model": ErrorPublic, "description": reasons[code]} for code in codes}
