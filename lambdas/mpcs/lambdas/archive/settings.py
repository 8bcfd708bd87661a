"""Settings of the archive, from `MPCS_*` environment variables (docs/archive.md#settings).

In AWS they are the Lambda function's environment; in the cluster the operator sets them on the
mission's archive Deployment (`mpcs.lambdas.cli.archive_args` lists them). The InfluxDB names are
the workloads' (`MPCS_INFLUX_URL`, `…_ORG`, `…_TOKEN`), so one Secret serves both.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpcs.kit.settings import ENV_PREFIX, load_settings

#: `<namespace>/<mission>`, as `MPCS_ARCHIVE_MISSIONS` lists them.
MissionRef = Annotated[
    str, Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
]


class ArchiveSettings(BaseSettings):
    """Which missions are archived, from which InfluxDB, into which S3 bucket."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    archive_bucket: str = Field(
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        description="S3 bucket of the archive (telemetry/… and products/… keys).",
    )
    archive_missions: list[MissionRef] = Field(
        default_factory=list,
        description='Missions whose telemetry is archived, JSON ["<namespace>/<mission>", …].',
    )
    archive_max_catchup_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 62,
        description="Closed hours looked at per run, newest last: an archiver that was down "
        "longer leaves the older hours out (and logs the gap).",
    )
    archive_close_delay_s: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="An hour is closed this long after its end (late telemetry still lands).",
    )
    archive_create_bucket: bool = Field(
        default=False, description="Create the S3 bucket when it is missing (development)."
    )
    influx_url: str = Field(description="InfluxDB 2 base URL, e.g. http://influxdb:8086.")
    influx_org: str = Field(description="InfluxDB organisation that owns the mission buckets.")
    influx_token: SecretStr = Field(description="InfluxDB token that may read those buckets.")
    influx_timeout_s: float = Field(
        default=120.0, gt=0, le=900, description="Longest wait for one hour's query."
    )
    aws_region: str | None = Field(
        default=None,
        description="AWS region (absent: boto3's own resolution, e.g. AWS_REGION in Lambda).",
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint (moto's server in development and tests; absent: AWS).",
    )

    @field_validator("aws_endpoint_url", "aws_region", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    def missions(self) -> list[tuple[str, str]]:
        """(namespace, mission) of every archived mission."""
        pairs = (ref.split("/", 1) for ref in self.archive_missions)
        return [(namespace, mission) for namespace, mission in pairs]


def load(**values: Any) -> ArchiveSettings:
    """ArchiveSettings from the environment (`values` win); SettingsError naming each variable."""
    return load_settings(ArchiveSettings, **values)
