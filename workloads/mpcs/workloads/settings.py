"""Settings every per-mission workload reads from its environment (one class, `MPCS_*` variables).

The operator's Deployments (`mpcs.operator.builders`) and the dev runner set these variables; the
ingest, the command API and the plan executor all read them through `WorkloadSettings`, and a
workload with settings of its own subclasses it (`mpcs.workloads.ingest.config.IngestSettings`).
The fields every MPCS process shares (Kafka, mission, log level, metrics port) come from the kit's
`MissionSettings`.

>>> s = WorkloadSettings(namespace="ops", mission="wildfire", kafka_bootstrap="k:9092",
...                      influx_url="http://i:8086", influx_org="mpcs", influx_token="t")
>>> s.bucket
'ops.wildfire'
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, SecretStr, field_validator

from mpcs.core import names
from mpcs.kit.logs import configure_logging
from mpcs.kit.settings import MissionSettings, SettingsError, load_settings

W = TypeVar("W", bound="WorkloadSettings")


class WorkloadSettings(MissionSettings):
    """What a mission's workload process needs to reach Kafka, InfluxDB and its peers."""

    influx_url: str = Field(description="InfluxDB 2 base URL, e.g. http://influxdb:8086.")
    influx_org: str = Field(description="InfluxDB organisation that owns the mission bucket.")
    influx_bucket: str | None = Field(
        default=None,
        description="Mission bucket; default `names.bucket(namespace, mission)`.",
    )
    influx_token: SecretStr = Field(
        description="InfluxDB token (read/write on the mission bucket)."
    )
    api_token_viewer: SecretStr | None = Field(
        default=None, description="Bearer token of the API role viewer (reads)."
    )
    api_token_operator: SecretStr | None = Field(
        default=None, description="Bearer token of the API role operator (commands)."
    )
    api_token_admin: SecretStr | None = Field(
        default=None, description="Bearer token of the API role admin (critical commands)."
    )
    api_token_ingest: SecretStr | None = Field(
        default=None,
        description="Bearer token of the API role ingest (POST telemetry only: ground stations).",
    )
    api_tokens_dir: str | None = Field(
        default=None,
        description="Command API: folder of the mounted tokens Secret (a file per role, several "
        "tokens one per line), re-read every `api_tokens_reload_s` (rotation without a restart); "
        "when set, the `api_token_*` variables are ignored.",
    )
    api_tokens_reload_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Command API: how often the tokens folder is re-read.",
    )
    api_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1_073_741_824,
        description="Command API: largest request body of every route but the telemetry POST "
        "(413 beyond).",
    )
    api_telemetry_max_bytes: int = Field(
        default=8_388_608,
        ge=1024,
        le=1_073_741_824,
        description="Command API: largest telemetry POST body, both as sent and once "
        "decompressed (413 beyond).",
    )
    api_rate_limit_per_s: float = Field(
        default=100.0,
        ge=0,
        description="Command API: requests per second each token may sustain (429 with "
        "Retry-After beyond; requests without a valid token share one budget per client "
        "address); 0 turns rate limiting off.",
    )
    api_rate_limit_burst: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="Command API: requests a token may make at once above its rate.",
    )
    api_console_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="Command API: the one origin (scheme://host[:port]) allowed cross-origin "
        "requests (CORS), the console's when it is served elsewhere; unset: none.",
    )
    executor_enabled: bool = Field(
        default=True,
        description="Run the CommandPlan executor inside the command service.",
    )
    executor_poll_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="CommandPlan executor: how often the mission's CommandPlans are re-read "
        "(due steps and acks wake it sooner).",
    )
    executor_ack_grace_s: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="CommandPlan executor: how long after a command's valid_until its final ack "
        "may still arrive before the step is marked expired.",
    )
    api_cache_s: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="Command API: how long Satellite/GroundStation lists read from the "
        "Kubernetes API are reused.",
    )
    api_command_history: int = Field(
        default=10_000,
        ge=10,
        le=1_000_000,
        description="Command API: commands kept in memory (state history, idempotency keys).",
    )
    api_restore_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 366,
        description="Command API: command history reloaded from InfluxDB `commands` at start.",
    )
    api_idempotency_ttl_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Command API: how long an Idempotency-Key maps to its first command.",
    )
    api_send_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Command API: how long a POST waits for Kafka to accept a command.",
    )
    api_users: SecretStr | None = Field(
        default=None,
        description="Command API: personal tokens, `name:role:token` entries separated by commas "
        "or newlines (command authority and two-person approval tell people apart by them).",
    )
    api_two_person: bool = Field(
        default=False,
        description="Command API: a critical command needs a second admin's approval "
        "(both with personal tokens from MPCS_API_USERS).",
    )
    api_approval_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="Command API: how long a critical command waits for its approval before "
        "it expires.",
    )

    alerts_table: str = Field(
        default="mpcs-alerts",
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description="Command API: DynamoDB table of alert state (GET /api/v1/alerts, acknowledge).",
    )
    aws_region: str | None = Field(
        default=None,
        description="AWS region of the alerts table (unset: boto3's own, e.g. AWS_DEFAULT_REGION).",
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        description="AWS endpoint of the alerts table (moto's server in development and tests).",
    )

    console_dir: str | None = Field(
        default=None,
        description="Command API: folder of the built web console (and the offline Swagger UI "
        "assets), served at `/`; unset: `console/dist` of the source tree when it was built, "
        "else no console (and `/docs` falls back to Swagger UI from its CDN).",
    )

    @field_validator(
        "aws_region", "aws_endpoint_url", "api_tokens_dir", "api_console_origin", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def bucket(self) -> str:
        """The mission bucket: MPCS_INFLUX_BUCKET, else the name derived from the mission."""
        return self.influx_bucket or names.bucket(self.namespace, self.mission)


def command_settings(cls: type[W], *, what: str) -> W:
    """`cls` from the environment for a command line, with logging configured at its level.

    A missing or bad variable is a usage error: its name on stderr and exit status 2, no
    traceback. `what` names the settings in that message ("API", "ingest").
    """
    import typer  # only the command lines need it, not every process that reads the settings

    try:
        settings = load_settings(cls)
    except SettingsError as exc:
        typer.echo(f"error: invalid {what} settings: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level)
    return settings
