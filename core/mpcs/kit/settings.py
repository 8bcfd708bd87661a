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

import os
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpcs.core import names

#: The environment prefix of every MPCS setting.
ENV_PREFIX = "MPCS_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: How a client talks to the brokers (Kafka's `security.protocol`).
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
#: The SASL mechanisms MPCS clients speak (Kafka's `sasl.mechanism`).
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
#: Where an OAUTHBEARER token comes from: `aws-msk-iam` signs one for Amazon MSK with the
#: process's AWS credentials (`mpcs.kit.kafka.MskIamTokenProvider`).
KafkaTokenProvider = Literal["aws-msk-iam"]

_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each offending `MPCS_*` variable."""


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of a process authenticates and encrypts (`ServiceSettings`).

    Plain values only (no aiokafka): `mpcs.kit.kafka.security_options` turns them into client
    options, and the operator passes them on to the workloads it deploys (`env()`).

    >>> KafkaSecurity().env()
    [{'name': 'MPCS_KAFKA_SECURITY_PROTOCOL', 'value': 'PLAINTEXT'}]
    """

    protocol: KafkaSecurityProtocol = "PLAINTEXT"
    ca_file: str | None = None
    sasl_mechanism: KafkaSaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    token_provider: KafkaTokenProvider | None = None
    aws_region: str | None = None

    def summary(self) -> str:
        """How a client connects, for log lines (never the password).

        >>> KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u").summary()
        'SASL_SSL, PLAIN as u'
        """
        if self.sasl_mechanism is None:
            return self.protocol
        who = self.sasl_username or self.token_provider
        return f"{self.protocol}, {self.sasl_mechanism}" + (f" as {who}" if who else "")

    def env(self) -> list[dict[str, str]]:
        """The `MPCS_KAFKA_*` variables that give another process these settings.

        The SASL password is not among them: a Deployment's env is readable by anyone who can
        read the Deployment (docs/install.md, "Kafka security", says how workloads get one).
        """
        values = {
            "MPCS_KAFKA_SECURITY_PROTOCOL": self.protocol,
            "MPCS_KAFKA_CA_FILE": self.ca_file,
            "MPCS_KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "MPCS_KAFKA_SASL_USERNAME": self.sasl_username,
            "MPCS_KAFKA_SASL_TOKEN_PROVIDER": self.token_provider,
            "MPCS_KAFKA_AWS_REGION": self.aws_region,
        }
        return [{"name": name, "value": value} for name, value in values.items() if value]


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("kafka_security", message)


class ServiceSettings(BaseSettings):
    """What every MPCS process reads: where Kafka is, how much to log, where to serve probes."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    kafka_bootstrap: str = Field(
        min_length=1, description="Kafka bootstrap servers, host:port[,host:port]."
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        description="Kafka security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CAs that sign the brokers' certificates (SSL, SASL_SSL); "
        "unset: the system's CAs.",
    )
    kafka_sasl_mechanism: KafkaSaslMechanism | None = Field(
        default=None,
        description="SASL mechanism (SASL_* protocols): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or "
        "OAUTHBEARER.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="SASL user name (PLAIN, SCRAM-*)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (PLAIN, SCRAM-*)."
    )
    kafka_sasl_token_provider: KafkaTokenProvider | None = Field(
        default=None,
        description="Where OAUTHBEARER tokens come from: aws-msk-iam (Amazon MSK IAM auth, "
        "signed with the process's AWS credentials).",
    )
    kafka_aws_region: str | None = Field(
        default=None, description="AWS region of the MSK cluster (aws-msk-iam)."
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

    @field_validator(
        "kafka_ca_file",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_sasl_token_provider",
        "kafka_aws_region",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # Helm renders an unset value as "": the same as not setting the variable.
        return None if value == "" else value

    @model_validator(mode="after")
    def _kafka_security_fits(self) -> ServiceSettings:
        check_kafka_security(self.kafka_security)
        return self

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The Kafka security settings every client of this process uses."""
        password = self.kafka_sasl_password
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            ca_file=self.kafka_ca_file,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password is not None else None,
            token_provider=self.kafka_sasl_token_provider,
            aws_region=self.kafka_aws_region,
        )


def check_kafka_security(sec: KafkaSecurity) -> None:
    """Refuse a combination of Kafka security settings that cannot work, naming the variables.

    Called by `ServiceSettings` at start, so a process with a bad combination exits with the
    message instead of retrying a broker that will never accept it.
    """
    protocol, mechanism = sec.protocol, sec.sasl_mechanism
    if protocol in _SASL_PROTOCOLS and mechanism is None:
        raise _refuse(
            f"MPCS_KAFKA_SECURITY_PROTOCOL={protocol} needs MPCS_KAFKA_SASL_MECHANISM "
            "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
        )
    if mechanism is not None and protocol not in _SASL_PROTOCOLS:
        raise _refuse(
            f"MPCS_KAFKA_SASL_MECHANISM={mechanism} needs MPCS_KAFKA_SECURITY_PROTOCOL "
            f"SASL_SSL or SASL_PLAINTEXT, not {protocol}"
        )
    if sec.ca_file is not None:
        if protocol not in _TLS_PROTOCOLS:
            raise _refuse(
                f"MPCS_KAFKA_CA_FILE is only used with TLS: MPCS_KAFKA_SECURITY_PROTOCOL must be "
                f"SSL or SASL_SSL, not {protocol}"
            )
        if not os.path.isfile(sec.ca_file):
            raise _refuse(f"MPCS_KAFKA_CA_FILE={sec.ca_file}: no such file")
    if mechanism == "OAUTHBEARER" and sec.token_provider is None:
        raise _refuse(
            "MPCS_KAFKA_SASL_MECHANISM=OAUTHBEARER needs MPCS_KAFKA_SASL_TOKEN_PROVIDER "
            "(aws-msk-iam)"
        )
    if sec.token_provider is not None and mechanism != "OAUTHBEARER":
        raise _refuse(
            f"MPCS_KAFKA_SASL_TOKEN_PROVIDER={sec.token_provider} needs "
            f"MPCS_KAFKA_SASL_MECHANISM=OAUTHBEARER, not {mechanism}"
        )
    if sec.token_provider == "aws-msk-iam" and not sec.aws_region:
        raise _refuse(
            "MPCS_KAFKA_SASL_TOKEN_PROVIDER=aws-msk-iam needs MPCS_KAFKA_AWS_REGION "
            "(the MSK cluster's region, e.g. eu-west-1)"
        )
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        missing = [
            name
            for name, value in (
                ("MPCS_KAFKA_SASL_USERNAME", sec.sasl_username),
                ("MPCS_KAFKA_SASL_PASSWORD", sec.sasl_password),
            )
            if not value
        ]
        if missing:
            raise _refuse(f"MPCS_KAFKA_SASL_MECHANISM={mechanism} needs {' and '.join(missing)}")


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
        if error["loc"]
        else error["msg"]  # a check across fields names its variables itself
        for error in exc.errors()
    )
