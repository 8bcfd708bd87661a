"""The deployment's parameters: typed, defaulted here once, overridable with `cdk -c key=value`.

Every field is one CDK context key (the camelCase spelling of its name, e.g. `-c kafkaFlavour=
serverless`); deploy/aws/README.md lists them with their defaults and what they cost. The missions
whose telemetry the alerts Lambda reads come from Mission manifests (default: the examples), read
with the same `MissionSpec` model the CRD is generated from, so topic names and alert rules are
never typed twice.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic.alias_generators import to_camel

from mpcs.core import names
from mpcs.core.resources.mission import MissionSpec

REPO_ROOT = Path(__file__).resolve().parents[3]

KafkaFlavour = Literal["provisioned", "serverless"]
InfluxFlavour = Literal["chart", "timestream"]
INFLUX_FLAVOURS = ("chart", "timestream")
#: Timestream for InfluxDB's storage types (3,000 / 12,000 / 16,000 included IOPS) and deployments.
INFLUX_STORAGE_TYPES = ("InfluxIOIncludedT1", "InfluxIOIncludedT2", "InfluxIOIncludedT3")
INFLUX_DEPLOYMENTS = ("SINGLE_AZ", "WITH_MULTIAZ_STANDBY")


@dataclass(frozen=True)
class Mission:
    """A mission the AWS deployment wires up: its namespace, name and alert rules."""

    namespace: str
    name: str
    spec: MissionSpec

    @property
    def key(self) -> str:
        """`<namespace>/<mission>`, as MPCS_ALERTS_MISSIONS keys it."""
        return f"{self.namespace}/{self.name}"

    @property
    def telemetry_topic(self) -> str:
        return names.topic(self.namespace, self.name, names.Topic.TELEMETRY)

    @property
    def alerts_group(self) -> str:
        """Consumer group of the alerts handler (the in-cluster runner uses the same one)."""
        return names.consumer_group(self.namespace, self.name, "alerts")


@dataclass(frozen=True)
class DeploymentConfig:
    """Sizes and choices of one MPCS deployment; defaults are the README's costed defaults."""

    #: Prefix of every named resource (cluster, MSK cluster, Lambda, bucket suffix).
    name: str = "mpcs"
    #: `provisioned` (MSK brokers, cheapest at small scale) or `serverless` (MSK Serverless).
    kafka_flavour: KafkaFlavour = "provisioned"
    #: Broker size and count of provisioned MSK (the count is a multiple of the 2 AZs).
    kafka_broker_instance: str = "kafka.t3.small"
    kafka_brokers: int = 2
    kafka_volume_gib: int = 20
    #: Kubernetes version of the EKS cluster (its kubectl Lambda layer is v1.34).
    kubernetes_version: str = "1.34"
    #: The managed node group.
    node_instance_type: str = "t3.large"
    node_count: int = 2
    node_max: int = 4
    #: `chart`: InfluxDB 2 as a StatefulSet from the influxdata/influxdb2 chart; `timestream`:
    #: Amazon Timestream for InfluxDB (a managed InfluxDB 2 instance in the private subnets).
    influx_flavour: InfluxFlavour = "chart"
    influx_chart_version: str = "2.1.2"
    influx_volume_gib: int = 20
    #: Timestream for InfluxDB (`timestream` flavour): instance class, storage type and size
    #: (20 GiB is the service's minimum), `SINGLE_AZ` or `WITH_MULTIAZ_STANDBY`, and an existing
    #: DB parameter group's identifier (CloudFormation cannot create one; empty: the default).
    influx_instance_type: str = "db.influx.medium"
    influx_storage_type: str = "InfluxIOIncludedT1"
    influx_storage_gib: int = 20
    influx_deployment: str = "SINGLE_AZ"
    influx_parameter_group: str = ""
    influx_org: str = "mpcs"
    #: Namespace of the MPCS release (operator) and of InfluxDB.
    release_namespace: str = "mpcs"
    #: Image of the operator and every workload; empty: the chart's default.
    image_repository: str = ""
    image_tag: str = ""
    #: Mission manifests (relative to the repository root) whose missions the Lambda serves.
    mission_manifests: tuple[str, ...] = ("examples/10-mission.yaml",)
    #: Namespace of a manifest's Mission that names none.
    mission_namespace: str = "default"
    #: The alerts Lambda zip, as `mpcs lambdas package` writes it (relative to the repo root).
    alerts_zip: str = "dist/mpcs-alerts-lambda.zip"
    alerts_reserved_concurrency: int = 5
    alerts_batch_size: int = 500
    alerts_batching_window_s: int = 1
    alerts_retry_attempts: int = 3
    alerts_memory_mb: int = 512
    #: Days a resolved alert pair and a silent satellite's watermark stay in the alerts table
    #: before its TTL removes them (the function's MPCS_ALERTS_RETENTION_DAYS; 0: never).
    alerts_retention_days: int = 90
    #: Days before archived telemetry moves to Infrequent Access, and before it expires.
    archive_ia_days: int = 30
    archive_expire_days: int = 365
    #: Attribute the alerts table's TTL reads (epoch seconds); the handler writes it on the items
    #: that may expire (docs/alerts.md#expiry).
    alerts_ttl_attribute: str = "expires_at"

    @classmethod
    def context_keys(cls) -> list[str]:
        """The context key of every field (camelCase)."""
        return [to_camel(f.name) for f in dataclasses.fields(cls)]

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> DeploymentConfig:
        """The config with every field the context sets (camelCase keys; JSON for tuples)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = to_camel(f.name)
            if key not in context:
                continue
            raw = context[key]
            default = getattr(cls, f.name, None)
            if isinstance(default, tuple):
                raw = tuple(json.loads(raw) if isinstance(raw, str) else raw)
            elif isinstance(default, int) and not isinstance(default, bool):
                raw = int(raw)
            values[f.name] = raw
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """ValueError naming the context key, the value and what is accepted."""
        if self.kafka_flavour not in ("provisioned", "serverless"):
            raise ValueError(
                f"kafkaFlavour={self.kafka_flavour!r}: expected 'provisioned' or 'serverless'"
            )
        if self.influx_flavour not in INFLUX_FLAVOURS:
            raise ValueError(
                f"influxFlavour={self.influx_flavour!r}: expected 'chart' or 'timestream'"
            )
        if self.influx_storage_type not in INFLUX_STORAGE_TYPES:
            raise ValueError(
                f"influxStorageType={self.influx_storage_type!r}: expected one of "
                f"{', '.join(INFLUX_STORAGE_TYPES)}"
            )
        if self.influx_deployment not in INFLUX_DEPLOYMENTS:
            raise ValueError(
                f"influxDeployment={self.influx_deployment!r}: expected one of "
                f"{', '.join(INFLUX_DEPLOYMENTS)}"
            )
        if not 20 <= self.influx_storage_gib <= 16384:
            raise ValueError(
                f"influxStorageGib={self.influx_storage_gib}: expected 20 to 16384 (GiB)"
            )
        if not self.influx_instance_type.startswith("db.influx."):
            raise ValueError(
                f"influxInstanceType={self.influx_instance_type!r}: expected a Timestream for "
                "InfluxDB class such as 'db.influx.medium' or 'db.influx.large'"
            )
        if self.kafka_brokers % 2:
            raise ValueError(
                f"kafkaBrokers={self.kafka_brokers}: expected a multiple of 2 (one per AZ)"
            )
        if not 0 <= self.alerts_retention_days <= 3650:
            raise ValueError(
                f"alertsRetentionDays={self.alerts_retention_days}: expected 0 to 3650 (days; "
                "0: nothing expires)"
            )
        if not 0 < self.archive_ia_days < self.archive_expire_days:
            raise ValueError(
                f"archiveIaDays={self.archive_ia_days}, archiveExpireDays="
                f"{self.archive_expire_days}: expected 0 < archiveIaDays < archiveExpireDays"
            )

    def alerts_zip_path(self) -> Path:
        return (REPO_ROOT / self.alerts_zip).resolve()

    def missions(self) -> list[Mission]:
        """Every Mission of the manifests, validated as the API server would (MissionSpec)."""
        found: list[Mission] = []
        for manifest in self.mission_manifests:
            text = (REPO_ROOT / manifest).read_text(encoding="utf-8")
            for doc in yaml.safe_load_all(text):
                if not doc or doc.get("kind") != "Mission":
                    continue
                meta = doc["metadata"]
                found.append(
                    Mission(
                        namespace=meta.get("namespace", self.mission_namespace),
                        name=meta["name"],
                        spec=MissionSpec.model_validate(doc.get("spec", {})),
                    )
                )
        if not found:
            raise ValueError(
                f"missionManifests={list(self.mission_manifests)}: no Mission found in them"
            )
        return found
