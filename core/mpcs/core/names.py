"""Every name MPCS derives from a user's objects, defined once (DESIGN §4).

The operator, the workloads, the simulator runtime, the dashboards and the tests all import these
functions; nothing else formats a topic, bucket or child-object name.

>>> topic("ops", "wildfire", Topic.TELEMETRY)
'mpcs.ops.wildfire.telemetry'
>>> bucket("ops", "wildfire")
'ops.wildfire'
>>> child_name("wildfire", "ingest")
'wildfire-ingest'
"""

from __future__ import annotations

import enum

GROUP = "mpcs.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PART_OF = "mpcs"
MANAGED_BY = "mpcs-operator"

#: InfluxDB measurements: one per subsystem, plus the command audit trail and the alert
#: transitions (tags satellite, rule, severity, transition; at the spacecraft time of the
#: transition; what dashboards annotate).
SUBSYSTEM_MEASUREMENTS = ("orbit", "power", "thermal", "adcs", "comms", "obc", "payload")
COMMANDS_MEASUREMENT = "commands"
ALERTS_MEASUREMENT = "alerts"
SATELLITE_TAG = "satellite"

#: Container port (named "metrics") where every MPCS process serves /healthz, /readyz and
#: /metrics: the operator's Deployments probe it, the processes' settings default to it.
METRICS_PORT = 9090

#: Kubernetes object names are DNS labels: at most 63 characters.
_MAX_NAME = 63


class Topic(enum.StrEnum):
    """The per-mission Kafka topics."""

    TELEMETRY = "telemetry"
    COMMANDS = "commands"
    ACKS = "acks"
    EVENTS = "events"
    DLQ = "dlq"
    #: Compacted: the latest simulator checkpoint per satellite (docs/simulator.md#checkpoints).
    CHECKPOINTS = "checkpoints"


def topic(namespace: str, mission: str, kind: Topic) -> str:
    """Kafka topic of one stream of a mission; messages are keyed by satellite name."""
    return f"mpcs.{namespace}.{mission}.{kind.value}"


def mission_topics(namespace: str, mission: str) -> dict[Topic, str]:
    """All topics a mission owns, by kind."""
    return {kind: topic(namespace, mission, kind) for kind in Topic}


def bucket(namespace: str, mission: str) -> str:
    """InfluxDB bucket holding every sample of a mission."""
    return f"{namespace}.{mission}"


def consumer_group(namespace: str, mission: str, component: str) -> str:
    """Kafka consumer group of a mission's component (one group per mission and component)."""
    return f"mpcs.{namespace}.{mission}.{component}"


def child_name(owner: str, component: str) -> str:
    """Name of a child object: `<owner>-<component>`, cut to a valid 63-character DNS label."""
    name = f"{owner}-{component}"
    if len(name) <= _MAX_NAME:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9].rstrip('-')}-{digest}"


def labels(
    *,
    name: str,
    instance: str,
    component: str,
    mission: str | None = None,
    satellite: str | None = None,
) -> dict[str, str]:
    """The standard labels every child object carries."""
    result = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if mission is not None:
        result[f"{GROUP}/mission"] = mission
    if satellite is not None:
        result[f"{GROUP}/satellite"] = satellite
    return result


#: InfluxDB measurement of predicted contact windows, written by the operator (tags: satellite,
#: station; one point at AOS with `visible=1` and one at LOS with `visible=0`).
PASSES_MEASUREMENT = "passes"
STATION_TAG = "station"

#: Labels every MPCS scrape target carries in Prometheus (the dev stack's file discovery sets them;
#: the Helm chart's ServiceMonitor relabels the pod labels onto them): the pipeline dashboard
#: filters on these and nothing else.
PROMETHEUS_LABELS = ("namespace", "mission", "component")

#: Grafana limits a dashboard or datasource uid to 40 characters.
_MAX_GRAFANA_UID = 40


def grafana_uid(namespace: str, mission: str, kind: str) -> str:
    """The uid of a mission's Grafana object (`kind`: a dashboard slug, or `influxdb`).

    >>> grafana_uid("ops", "wildfire", "overview")
    'mpcs-ops-wildfire-overview'
    """
    uid = f"mpcs-{namespace}-{mission}-{kind}"
    if len(uid) <= _MAX_GRAFANA_UID:
        return uid
    import hashlib

    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    keep = _MAX_GRAFANA_UID - len(kind) - len(digest) - 2  # room for "-<digest>-<kind>"
    return f"{uid[:keep].rstrip('-')}-{digest}-{kind}"
