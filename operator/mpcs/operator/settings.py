"""Operator settings, one object filled from `MPCS_*` environment variables.

The base (`mpcs.kit.settings.ServiceSettings`) gives every MPCS process the same
`MPCS_KAFKA_BOOTSTRAP`, `MPCS_LOG_LEVEL` and `MPCS_METRICS_PORT`; the fields below are the
operator's own. The Helm chart's values map onto these variables one to one; every field says
what it is for.
"""

from __future__ import annotations

from pydantic import Field

from mpcs.kit.settings import ServiceSettings


class OperatorSettings(ServiceSettings):
    """Everything the operator needs to reach Kafka, InfluxDB and Kubernetes."""

    #: Kafka bootstrap servers (host:port, comma-separated) where mission topics are created; the
    #: workloads it deploys get the same value.
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=1)
    #: InfluxDB 2 URL and organisation that hold the mission buckets.
    influx_url: str = "http://127.0.0.1:8086"
    influx_org: str = "mpcs"
    #: Admin token for InfluxDB, given directly (dev) …
    influx_token: str | None = None
    #: … or read from this Secret (`namespace/name`, key `token`) in the cluster.
    influx_token_secret: str | None = None
    #: The one MPCS image every workload runs (`mpcs <component> …`).
    image: str = "ghcr.io/mpcs-io/mpcs:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    #: Namespaces to watch, comma-separated; empty means the whole cluster.
    namespaces: str = ""
    #: Kopf peering object name; replicas meeting in the same object keep one active. The
    #: operator creates the object when missing (ClusterKopfPeering when watching the whole
    #: cluster, else a KopfPeering per watched namespace).
    peering: str = "mpcs-operator"
    #: Priority in the peering; unset means "the longest-running replica wins", so a new or
    #: restarted replica waits as a standby instead of interrupting the active one.
    peering_priority: int | None = None
    #: Seconds a silent replica stays alive in the peering; a standby takes over this long after
    #: the active one dies without saying goodbye (a clean exit hands over at once).
    peering_lifetime: int = Field(default=60, ge=5, le=3600)
    #: Drift repair: every Mission, Satellite and GroundStation is reconciled again this often
    #: (seconds), so a deleted child, topic or changed config comes back without an event.
    resync_seconds: float = Field(default=60.0, gt=0, le=86_400)
    #: How long a pass prediction is reused before it is computed again (seconds): next passes
    #: in Satellite and GroundStation status move on at least this often.
    status_refresh_seconds: float = Field(default=300.0, ge=5)
    #: Horizon for next-pass predictions (hours).
    pass_horizon_hours: float = Field(default=24.0, gt=0, le=168)
    #: InfluxDB URL as Grafana reaches it, written into each mission's Grafana datasource; unset
    #: means `influx_url`.
    grafana_influx_url: str | None = None
    #: Where Grafana finds each mission's datasource token Secret mounted
    #: (`<dir>/<secret name>/token`); the sidecar-provisioned datasource reads it with `$__file{}`.
    grafana_secrets_dir: str = "/etc/grafana/secrets"
    #: Labels (`key=value,…`) of the Grafana instances that grafana-operator should give the
    #: missions' GrafanaDashboard and GrafanaDatasource objects to (their `instanceSelector`).
    grafana_instance_selector: str = Field(
        default="dashboards=grafana",
        pattern=r"^[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*(,[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*)*$",
    )
    #: Alerts (docs/alerts.md#in-the-cluster): a Mission with `spec.alerts` gets a
    #: `<mission>-alerts` runner, and its command API lists and acknowledges alerts, when the SNS
    #: topic the handler publishes to is set; unset, no runner is deployed (AlertsReady False).
    alerts_topic_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:")
    #: DynamoDB table of alert state (shared by every mission; the handler creates it).
    alerts_table: str = Field(default="mpcs-alerts", pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    #: Days a resolved alert's item and a silent satellite's watermark stay in the table before
    #: its TTL removes them (the runners' MPCS_ALERTS_RETENTION_DAYS; 0: nothing expires).
    alerts_retention_days: int = Field(default=90, ge=0, le=3650)
    #: AWS region of the table, topic and queues (unset: the SDK's own resolution).
    aws_region: str | None = None
    #: AWS endpoint (moto's server in development and tests; unset: AWS itself).
    aws_endpoint_url: str | None = None
    #: AWS credentials the runners and command APIs use, given directly (dev) …
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    #: … or read from this Secret (`namespace/name`, keys `access_key_id`, `secret_access_key`);
    #: both unset: no credentials are passed (pod identity, e.g. IRSA, provides them).
    aws_credentials_secret: str | None = Field(default=None, pattern=r"^[a-z0-9-]+/[a-z0-9.-]+$")
    #: S3 bucket of the telemetry archive and payload products (docs/archive.md): set, every
    #: Mission gets a `<mission>-archive` runner; unset, none (ArchiveReady False).
    archive_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    #: Create the archive bucket when it is missing (development; in the cloud it is provisioned).
    archive_create_bucket: bool = False
    #: Children applied concurrently; bounds the operator's burst against the apiserver (beyond
    #: its in-flight limits every extra request is a 429 and a retry with backoff).
    max_in_flight: int = Field(default=32, ge=1, le=1000)

    def effective_peering_priority(self, started_at_s: float, jitter: int) -> int:
        """Older replicas rank higher: minus the start time in µs (`jitter` breaks exact ties)."""
        if self.peering_priority is not None:
            return self.peering_priority
        return -(int(started_at_s * 1_000_000) + jitter)

    def grafana_match_labels(self) -> dict[str, str]:
        """`grafana_instance_selector` as a label selector's matchLabels."""
        pairs = (item.split("=", 1) for item in self.grafana_instance_selector.split(","))
        return {key: value for key, value in pairs}

    def watched_namespaces(self) -> list[str]:
        return [ns.strip() for ns in self.namespaces.split(",") if ns.strip()]
