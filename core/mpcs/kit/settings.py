"""The settings base every MPCS process fills from its `MPCS_*` environment variables.

Each service declares one pydantic-settings class derived from `ServiceSettings` (or, for a
process that serves one mission, `MissionSettings`), so a variable such as `MPCS_KAFKA_BOOTSTRAP`
or `MPCS_METRICS_PORT` means the same thing, with the same bounds and default, in every process,
and the operator's Deployments and the Helm values map onto one documented set of names.

`load_settings` turns a missing or bad variable into one `SettingsError` that names each variable,
which the command lines print instead of a pydantic traceback:

>>> class Demo(ServiceSettings):
...     pass
>>> try:
...     load_settings(Demo, kafka_bootstrap="k:9092", metrics_port=70000)
... except SettingsError as exc:
...     print(exc)
MPCS_METRICS_PORT: Input should be less than or equal to 65535
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpcs.core import names

#: The environment prefix of every MPCS setting.
ENV_PREFIX = "MPCS_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each offending `MPCS_*` variable."""


class ServiceSettings(BaseSettings):
    """What every MPCS process reads: where Kafka is, how much to log, where to serve probes."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    kafka_bootstrap: str = Field(
        min_length=1, description="Kafka bootstrap servers, host:port[,host:port]."
    )
    log_level: LogLevel = Field(
        default="INFO", description="Lowest level logged (JSON lines on stderr)."
    )
    metrics_port: int = Field(
        default=names.METRICS_PORT,
        ge=0,
        le=65535,
        description="Port serving /healthz, /readyz and /metrics (0: pick a free port).",
    )


class MissionSettings(ServiceSettings):
    """`ServiceSettings` of a process that serves one mission (topic, group and bucket names)."""

    namespace: str = Field(description="Kubernetes namespace of the Mission (topic/bucket names).")
    mission: str = Field(description="Mission name (topic, bucket and consumer-group names).")

    def topic(self, kind: names.Topic) -> str:
        """The mission's Kafka topic of `kind` (`names.topic`)."""
        return names.topic(self.namespace, self.mission, kind)

    def consumer_group(self, component: str) -> str:
        """The mission's Kafka consumer group of `component` (`names.consumer_group`)."""
        return names.consumer_group(self.namespace, self.mission, component)


def load_settings(cls: type[S], **values: Any) -> S:
    """`cls` filled from the environment (`values` take precedence); SettingsError if invalid."""
    try:
        return cls(**values)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Each error of a settings validation as `MPCS_<FIELD>: <message>`, joined by `; `."""
    return "; ".join(
        f"{ENV_PREFIX}{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )
