"""Settings of the alerts handler, from `MPCS_*` environment variables (docs/alerts.md#settings).

In AWS they are the Lambda function's environment; in the cluster the operator sets them on the
runner's Deployment. `MPCS_ALERTS_MISSIONS` carries each mission's rules exactly as the Mission's
`spec.alerts` holds them (parsed with the same `AlertRule` model the CRD is generated from) and the
API base URL notifications link to.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpcs.core.resources.mission import AlertRule
from mpcs.kit.settings import ENV_PREFIX, load_settings

DEFAULT_TABLE = "mpcs-alerts"


class MissionAlerts(BaseModel):
    """One mission's entry of MPCS_ALERTS_MISSIONS."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    rules: list[AlertRule] = Field(default_factory=list)
    """The Mission's spec.alerts."""
    api_url: str | None = None
    """Base URL of the mission's command API (notifications link to the satellite there)."""


class AlertsSettings(BaseSettings):
    """Where the alert state and notifications go, and which rules apply to which mission."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    alerts_table: str = Field(
        default=DEFAULT_TABLE,
        min_length=3,
        max_length=255,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="DynamoDB table of alert state (created by `ensure_table`).",
    )
    alerts_topic_arn: str = Field(
        min_length=1,
        pattern=r"^arn:aws[a-z-]*:sns:",
        description="SNS topic ARN notifications are published to (`.fifo`: deduplicated).",
    )
    alerts_missions: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9.-]+$")], MissionAlerts
    ] = Field(
        default_factory=dict,
        description='JSON {"<namespace>/<mission>": {"rules": [AlertRule…], "apiUrl": "…"}}.',
    )
    alerts_retention_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="Days a resolved alert's item (with its acknowledgement) and a silent "
        "satellite's watermark stay in the table after their last write; then DynamoDB's TTL "
        "removes them (`expires_at`). A pending or firing pair never expires. 0: nothing expires.",
    )
    alerts_validate: Literal["read", "full"] = Field(
        default="read",
        description="What of a telemetry message is checked before its rules run: `read` the "
        "header and the channels the rules read (the ingest dead-letters the rest), `full` every "
        "channel (mpcs.core.telemetry.decode, about twice the handler's CPU per record).",
    )
    aws_region: str | None = Field(
        default=None,
        description="AWS region (absent: AWS_REGION, which Lambda sets, then boto3's own).",
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of DynamoDB and SNS (moto's server in development and tests; "
        "absent: AWS, or boto3's AWS_ENDPOINT_URL).",
    )

    @field_validator("aws_endpoint_url", "aws_region", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value


def load(**values: Any) -> AlertsSettings:
    """AlertsSettings from the environment (`values` win); SettingsError naming each variable."""
    return load_settings(AlertsSettings, **values)
