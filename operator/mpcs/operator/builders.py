"""Pure builders: from a spec, parsed into its core model, to the exact child manifests and topics.

No I/O here, so every manifest is unit-tested without a server; the reconciles only apply what
these functions return. Every value comes from the model (whose defaults are the only ones); every
child carries an ownerReference and the standard labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mpcs.core import names
from mpcs.core.resources import CommandApiSettings, KafkaSettings, MissionSpec
from mpcs.core.resources.satellite import SatelliteSpec
from mpcs.core.resources.simulation import (
    NamedGroundStation,
    PooledSatellite,
    SimulatorConfig,
)
from mpcs.operator.kafka_topics import TopicSpec
from mpcs.operator.settings import OperatorSettings

COMMAND_API_PORT = 8000
INGEST = "ingest"
COMMAND_API = "command-api"
SIMULATOR = "simulator"
ALERTS = "alerts"
ARCHIVE = "archive"
SPEC_HASH_ANNOTATION = f"{names.GROUP}/spec-hash"
#: Key of the simulator's ConfigMap that holds its `SimulatorConfig` JSON.
SIMULATOR_CONFIG_KEY = "satellite.json"
API_ROLES = ("viewer", "operator", "admin", "ingest")
#: Where the command API's pod mounts the tokens Secret (MPCS_API_TOKENS_DIR): a mounted Secret
#: is updated in place by the kubelet, so a rotated token is honoured without a restart.
API_TOKENS_DIR = "/etc/mpcs/api-tokens"


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to a custom object (children are garbage-collected with it)."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(
    *,
    name: str,
    namespace: str,
    owner: dict[str, Any],
    component: str,
    mission: str,
    satellite: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": names.labels(
            name=f"mpcs-{component}",
            instance=owner["name"],
            component=component,
            mission=mission,
            satellite=satellite,
        ),
        "ownerReferences": [owner],
    }


def spec_hash(data: Any) -> str:
    """Stable short hash of a spec: a change rolls the Deployment that carries it."""
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


# --- Mission -------------------------------------------------------------------------------------


def mission_topics(namespace: str, mission: str, kafka: KafkaSettings) -> list[TopicSpec]:
    """The mission topics with the Mission's partitions, replication and retention.

    The checkpoints topic is compacted instead of retained for a time: it holds the latest
    checkpoint of each satellite for as long as the mission lives (docs/simulator.md).
    """
    retention_ms = str(kafka.retention_hours * 3_600_000)
    result = []
    for kind, topic in names.mission_topics(namespace, mission).items():
        configs = {"retention.ms": retention_ms, "compression.type": "producer"}
        if kind is names.Topic.CHECKPOINTS:
            configs = {
                "cleanup.policy": "compact",
                "compression.type": "producer",
                "segment.ms": str(600_000),  # compaction only cleans closed segments
                "min.cleanable.dirty.ratio": "0.1",
            }
        if kind in (names.Topic.COMMANDS, names.Topic.ACKS, names.Topic.EVENTS):
            configs["min.insync.replicas"] = str(min(2, kafka.replication_factor))
        result.append(TopicSpec(topic, kafka.partitions, kafka.replication_factor, configs))
    return result


def bucket_secret_name(mission: str) -> str:
    return names.child_name(mission, "influxdb")


def api_tokens_secret_name(mission: str, command_api: CommandApiSettings) -> str:
    """The Secret the Mission names for its API tokens, else the one the operator generates."""
    return command_api.auth_secret_name or names.child_name(mission, "api-tokens")


def bucket_token_secret(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    bucket: str,
    token: str,
    settings: OperatorSettings,
) -> dict[str, Any]:
    """Where the workloads read their bucket-scoped InfluxDB token."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            name=bucket_secret_name(mission),
            namespace=namespace,
            owner=owner,
            component="influxdb",
            mission=mission,
        ),
        "type": "Opaque",
        "stringData": {
            "url": settings.influx_url,
            "org": settings.influx_org,
            "bucket": bucket,
            "token": token,
        },
    }


def api_tokens_secret(
    *, namespace: str, mission: str, owner: dict[str, Any], name: str, tokens: dict[str, str]
) -> dict[str, Any]:
    """Bearer tokens of the command API, one per role (created once, never rotated here)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            name=name, namespace=namespace, owner=owner, component=COMMAND_API, mission=mission
        ),
        "type": "Opaque",
        "stringData": tokens,
    }


def _mission_env(namespace: str, mission: str, settings: OperatorSettings) -> list[dict[str, Any]]:
    """What every mission workload reads: who it serves, Kafka, and the bucket with its token."""
    secret = bucket_secret_name(mission)

    def from_secret(var: str, key: str) -> dict[str, Any]:
        return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    return [
        {"name": "MPCS_NAMESPACE", "value": namespace},
        {"name": "MPCS_MISSION", "value": mission},
        *kafka_env(mission, settings),
        from_secret("MPCS_INFLUX_URL", "url"),
        from_secret("MPCS_INFLUX_ORG", "org"),
        from_secret("MPCS_INFLUX_BUCKET", "bucket"),
        from_secret("MPCS_INFLUX_TOKEN", "token"),
    ]


# --- Kafka credentials ---------------------------------------------------------------------------

#: The key of the mission's Kafka Secret that holds the SASL password.
KAFKA_PASSWORD_KEY = "password"


def kafka_secret_name(mission: str) -> str:
    return names.child_name(mission, "kafka")


def needs_kafka_password(settings: OperatorSettings) -> bool:
    """Whether the workloads log in to Kafka with a password (SASL PLAIN or SCRAM-*)."""
    security = settings.kafka_security
    return security.sasl_password is not None and security.sasl_mechanism != "OAUTHBEARER"


def kafka_password_secret(
    *, namespace: str, mission: str, owner: dict[str, Any], password: str
) -> dict[str, Any]:
    """The SASL password the mission's Kafka workloads read: its namespace's copy of the one the
    operator was given (a Secret is namespaced; the workloads run in the Mission's namespace).
    Owned by the Mission, so it goes with it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            name=kafka_secret_name(mission),
            namespace=namespace,
            owner=owner,
            component="kafka",
            mission=mission,
        ),
        "type": "Opaque",
        "stringData": {KAFKA_PASSWORD_KEY: password},
    }


def kafka_env(mission: str, settings: OperatorSettings) -> list[dict[str, Any]]:
    """How every Kafka workload of a mission connects: the bootstrap servers, the operator's
    security settings (`KafkaSecurity.env()`), and with PLAIN/SCRAM the password from the
    mission's Kafka Secret (`valueFrom.secretKeyRef`: the Deployment shows only where it is)."""
    env: list[dict[str, Any]] = [
        {"name": "MPCS_KAFKA_BOOTSTRAP", "value": settings.kafka_bootstrap},
        *settings.kafka_security.env(),
    ]
    if needs_kafka_password(settings):
        ref = {"name": kafka_secret_name(mission), "key": KAFKA_PASSWORD_KEY}
        env.append({"name": "MPCS_KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": ref}})
    return env


def _metrics_env() -> dict[str, Any]:
    return {"name": "MPCS_METRICS_PORT", "value": str(names.METRICS_PORT)}


def _workload_env(
    namespace: str, mission: str, spec: MissionSpec, settings: OperatorSettings
) -> list[dict[str, Any]]:
    return [*_mission_env(namespace, mission, settings), _metrics_env()]


def _api_tokens_volume(mission: str, spec: MissionSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tokens Secret as files (a volume and its read-only mount, no subPath: the kubelet
    updates it in place). A role missing from a Secret the user named is a missing file (that
    role cannot be used), not a pod that cannot start."""
    name = "api-tokens"
    secret = {"secretName": api_tokens_secret_name(mission, spec.command_api), "defaultMode": 0o440}
    return (
        {"name": name, "secret": secret},
        {"name": name, "mountPath": API_TOKENS_DIR, "readOnly": True},
    )


def _deployment(
    *,
    meta: dict[str, Any],
    component: str,
    replicas: int,
    args: list[str],
    env: list[dict[str, Any]],
    settings: OperatorSettings,
    service_account: str | None,
    ports: list[dict[str, Any]],
    annotations: dict[str, str] | None = None,
    volumes: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    selector = {
        "app.kubernetes.io/instance": meta["labels"]["app.kubernetes.io/instance"],
        "app.kubernetes.io/component": component,
    }
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": component,
                "image": settings.image,
                "imagePullPolicy": settings.image_pull_policy,
                "command": ["mpcs"],
                "args": args,
                "env": env,
                "ports": ports,
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                    "limits": {"memory": "512Mi"},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                },
            }
        ],
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if volumes:
        pod_spec["volumes"] = [volume for volume, _ in volumes]
        pod_spec["containers"][0]["volumeMounts"] = [mount for _, mount in volumes]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": meta["labels"], "annotations": annotations or {}},
                "spec": pod_spec,
            },
        },
    }


def mission_workloads(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    spec: MissionSpec,
    settings: OperatorSettings,
    aws_secret: str | None = None,
) -> list[dict[str, Any]]:
    """ServiceAccount + Role + RoleBinding + ingest and command-API Deployments + Service.

    `aws_secret` names the mission's AWS credentials Secret (`aws_credentials_secret`), which the
    command API reads for its alert routes; None passes no credentials.
    """
    sa_name = names.child_name(mission, "workloads")
    base: dict[str, Any] = {"namespace": namespace, "owner": owner, "mission": mission}
    env = _workload_env(namespace, mission, spec, settings)
    api_env = [*env, *_aws_env(settings, aws_secret)]
    metrics_port = [{"name": "metrics", "containerPort": names.METRICS_PORT}]
    api_meta = _meta(name=names.child_name(mission, COMMAND_API), component=COMMAND_API, **base)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(name=sa_name, component="workloads", **base),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(name=sa_name, component="workloads", **base),
            "rules": [
                {
                    "apiGroups": [names.GROUP],
                    "resources": ["commandplans", "satellites", "missions", "groundstations"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": [names.GROUP],
                    # satellites/status: the alerts runner's Alerting condition.
                    "resources": ["commandplans/status", "satellites/status"],
                    "verbs": ["get", "patch"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
                *_pool_rules(mission, spec),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name=sa_name, component="workloads", **base),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa_name},
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}],
        },
        _deployment(
            meta=_meta(name=names.child_name(mission, INGEST), component=INGEST, **base),
            component=INGEST,
            replicas=spec.ingest.replicas,
            args=["ingest", "run"],
            env=env,
            settings=settings,
            service_account=sa_name,
            ports=metrics_port,
        ),
        _deployment(
            meta=api_meta,
            component=COMMAND_API,
            replicas=spec.command_api.replicas,
            args=["api", "serve", "--port", str(COMMAND_API_PORT)],
            env=[*api_env, {"name": "MPCS_API_TOKENS_DIR", "value": API_TOKENS_DIR}],
            settings=settings,
            service_account=sa_name,
            ports=[{"name": "http", "containerPort": COMMAND_API_PORT}, *metrics_port],
            volumes=[_api_tokens_volume(mission, spec)],
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": api_meta,
            "spec": {
                "selector": {
                    "app.kubernetes.io/instance": mission,
                    "app.kubernetes.io/component": COMMAND_API,
                },
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]


def _pool_rules(mission: str, spec: MissionSpec) -> list[dict[str, Any]]:
    """A pooled Mission's simulator pods read their own ConfigMaps (and nothing else)."""
    shards = pool_names(mission, spec)
    if not shards:
        return []
    return [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": shards, "verbs": ["get"]}
    ]


def command_api_endpoint(namespace: str, mission: str) -> str:
    return f"http://{names.child_name(mission, COMMAND_API)}.{namespace}.svc"


# --- Alerts --------------------------------------------------------------------------------------


def aws_secret_name(mission: str) -> str:
    return names.child_name(mission, "aws")


def aws_credentials_secret(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    access_key_id: str,
    secret_access_key: str,
) -> dict[str, Any]:
    """The AWS credentials the mission's alerts runner and command API read (its namespace's
    copy of what the operator was given)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            name=aws_secret_name(mission),
            namespace=namespace,
            owner=owner,
            component=ALERTS,
            mission=mission,
        ),
        "type": "Opaque",
        "stringData": {
            "AWS_ACCESS_KEY_ID": access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key,
        },
    }


def _aws_env(settings: OperatorSettings, aws_secret: str | None) -> list[dict[str, Any]]:
    """Where the alerts table (and topic) are, and the credentials to reach them."""
    env: list[dict[str, Any]] = [{"name": "MPCS_ALERTS_TABLE", "value": settings.alerts_table}]
    if settings.aws_region:
        env.append({"name": "MPCS_AWS_REGION", "value": settings.aws_region})
        # boto3 reads AWS_DEFAULT_REGION where our settings are not consulted.
        env.append({"name": "AWS_DEFAULT_REGION", "value": settings.aws_region})
    if settings.aws_endpoint_url:
        env.append({"name": "MPCS_AWS_ENDPOINT_URL", "value": settings.aws_endpoint_url})
    if aws_secret:
        env += [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": aws_secret, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        ]
    return env


def alerts_missions(namespace: str, mission: str, spec: MissionSpec) -> dict[str, Any]:
    """The runner's MPCS_ALERTS_MISSIONS: this mission's rules as its spec holds them, and the
    URL notifications link to."""
    return {
        f"{namespace}/{mission}": {
            "rules": [rule.to_wire() for rule in spec.alerts],
            "apiUrl": command_api_endpoint(namespace, mission),
        }
    }


def deployment_ref(namespace: str, mission: str, component: str) -> dict[str, Any]:
    """Enough of a mission's `component` Deployment to delete it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": names.child_name(mission, component), "namespace": namespace},
    }


def _runner_deployment(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    settings: OperatorSettings,
    component: str,
    args: list[str],
    env: list[dict[str, Any]],
    aws_secret: str | None,
) -> dict[str, Any]:
    """A one-replica `mpcs lambdas …` runner of the mission, with `env` beside the mission's and
    AWS's; a change of any literal value (or of the credentials Secret) rolls it through the
    spec-hash annotation."""
    full_env = [
        *_mission_env(namespace, mission, settings),
        *env,
        *_aws_env(settings, aws_secret),
        _metrics_env(),
    ]
    hashed = {"env": [e for e in full_env if "value" in e], "awsSecret": aws_secret}
    return _deployment(
        meta=_meta(
            name=names.child_name(mission, component),
            namespace=namespace,
            owner=owner,
            component=component,
            mission=mission,
        ),
        component=component,
        replicas=1,
        args=args,
        env=full_env,
        settings=settings,
        service_account=names.child_name(mission, "workloads"),
        ports=[{"name": "metrics", "containerPort": names.METRICS_PORT}],
        annotations={SPEC_HASH_ANNOTATION: spec_hash(hashed)},
    )


def alerts_deployment(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    spec: MissionSpec,
    settings: OperatorSettings,
    aws_secret: str | None,
) -> dict[str, Any]:
    """The mission's alerts runner (`mpcs lambdas run-alerts`); a change of its rules (or of
    where AWS is) rolls it through the spec-hash annotation."""
    assert settings.alerts_topic_arn, "alerts_deployment needs settings.alerts_topic_arn"
    missions = json.dumps(alerts_missions(namespace, mission, spec), sort_keys=True)
    return _runner_deployment(
        namespace=namespace,
        mission=mission,
        owner=owner,
        settings=settings,
        component=ALERTS,
        args=["lambdas", "run-alerts"],
        env=[
            {"name": "MPCS_ALERTS_MISSIONS", "value": missions},
            {"name": "MPCS_ALERTS_TOPIC_ARN", "value": settings.alerts_topic_arn},
            {"name": "MPCS_ALERTS_RETENTION_DAYS", "value": str(settings.alerts_retention_days)},
        ],
        aws_secret=aws_secret,
    )


def archive_deployment(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    settings: OperatorSettings,
    aws_secret: str | None,
) -> dict[str, Any]:
    """The mission's archive runner (`mpcs lambdas run-archive`): closed hours of telemetry as
    Parquet and payload products into S3, read with the mission's bucket token."""
    assert settings.archive_bucket, "archive_deployment needs settings.archive_bucket"
    create = "true" if settings.archive_create_bucket else "false"
    return _runner_deployment(
        namespace=namespace,
        mission=mission,
        owner=owner,
        settings=settings,
        component=ARCHIVE,
        args=["lambdas", "run-archive"],
        env=[
            {"name": "MPCS_ARCHIVE_BUCKET", "value": settings.archive_bucket},
            {"name": "MPCS_ARCHIVE_CREATE_BUCKET", "value": create},
        ],
        aws_secret=aws_secret,
    )


# --- Satellite -----------------------------------------------------------------------------------


def satellite_children(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    config: SimulatorConfig,
    settings: OperatorSettings,
) -> list[dict[str, Any]]:
    """The simulator's ConfigMap and Deployment; a change of its input rolls the Deployment.

    The ConfigMap holds the `SimulatorConfig` JSON that `mpcs sim run` reads from
    `MPCS_SATELLITE_SPEC`: the Satellite's spec and its mission's ground stations.
    """
    satellite = config.satellite
    name = names.child_name(satellite, SIMULATOR)
    meta = _meta(
        name=name,
        namespace=namespace,
        owner=owner,
        component=SIMULATOR,
        mission=mission,
        satellite=satellite,
    )
    wire = config.to_wire()
    env: list[dict[str, Any]] = [
        {"name": "MPCS_NAMESPACE", "value": namespace},
        {"name": "MPCS_MISSION", "value": mission},
        {"name": "MPCS_SATELLITE", "value": satellite},
        *kafka_env(mission, settings),
        {
            "name": "MPCS_SATELLITE_SPEC",
            "valueFrom": {"configMapKeyRef": {"name": name, "key": SIMULATOR_CONFIG_KEY}},
        },
        # The probes below ask this port; the simulator serves /healthz, /readyz, /metrics there.
        {"name": "MPCS_METRICS_PORT", "value": str(names.METRICS_PORT)},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {SIMULATOR_CONFIG_KEY: json.dumps(wire, sort_keys=True)},
        },
        _deployment(
            meta=meta,
            component=SIMULATOR,
            replicas=1 if config.spec.simulator.enabled else 0,
            args=["sim", "run"],
            env=env,
            settings=settings,
            service_account=None,
            ports=[{"name": "metrics", "containerPort": names.METRICS_PORT}],
            annotations={SPEC_HASH_ANNOTATION: spec_hash(wire)},
        ),
    ]


# --- Pooled simulation (Mission.spec.simulation.pods) --------------------------------------------

SIMULATOR_POOL = "simulator-pool"
#: Key of a simulator pod's ConfigMap that holds its `PoolConfig` JSON.
POOL_CONFIG_KEY = "pool.json"
#: Label of a pooled simulator's objects: its index among the mission's simulator pods.
SHARD_LABEL = f"{names.GROUP}/shard"


def pool_name(mission: str, shard: int) -> str:
    """`<mission>-simulator-<shard>`: a pooled simulator's ConfigMap and Deployment."""
    return names.child_name(mission, f"{SIMULATOR}-{shard}")


def pool_names(mission: str, spec: MissionSpec) -> list[str]:
    """The ConfigMap (and Deployment) names of every simulator pod of a pooled Mission."""
    return [pool_name(mission, shard) for shard in range(spec.simulation.pods or 0)]


def pool_config(
    *,
    shard: int,
    pods: int,
    satellites: list[dict[str, Any]],
    stations: list[NamedGroundStation],
) -> dict[str, Any]:
    """A simulator pod's `PoolConfig` on the wire, from its Satellites already on the wire
    (`pooled_satellite`, cached by the pool reconcile: re-dumping 10,000 specs per change would
    cost a second)."""
    return {
        "shard": shard,
        "pods": pods,
        "satellites": satellites,
        "groundStations": [station.to_wire() for station in stations],
    }


def pooled_satellite(name: str, spec: SatelliteSpec) -> dict[str, Any]:
    """One Satellite of a `PoolConfig`, defaults left out (about 250 bytes instead of 600: a
    ConfigMap holds at most 1 MiB, so a pod's shard fits about 3,500 Satellites)."""
    return PooledSatellite(name=name, spec=spec).model_dump(
        mode="json", by_alias=True, exclude_defaults=True
    )


def pool_children(
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    config: dict[str, Any],
    settings: OperatorSettings,
) -> list[dict[str, Any]]:
    """One simulator pod of a pooled Mission: its ConfigMap (`config`, from `pool_config`) and
    Deployment.

    The pod (`mpcs sim pool`) reads the ConfigMap through the API server with the mission's
    workloads ServiceAccount, and re-reads it while it runs: a rebalance rewrites the ConfigMap
    and never rolls the Deployment (whose template does not depend on the shard's Satellites).
    """
    shard = int(config["shard"])
    name = pool_name(mission, shard)
    meta = _meta(
        name=name, namespace=namespace, owner=owner, component=SIMULATOR_POOL, mission=mission
    )
    meta["labels"][SHARD_LABEL] = str(shard)
    env: list[dict[str, Any]] = [
        {"name": "MPCS_NAMESPACE", "value": namespace},
        {"name": "MPCS_MISSION", "value": mission},
        *kafka_env(mission, settings),
        {"name": "MPCS_SIM_POOL_CONFIGMAP", "value": name},
        _metrics_env(),
    ]
    deployment = _deployment(
        meta=meta,
        component=SIMULATOR_POOL,
        replicas=1,
        args=["sim", "pool"],
        env=env,
        settings=settings,
        service_account=names.child_name(mission, "workloads"),
        ports=[{"name": "metrics", "containerPort": names.METRICS_PORT}],
    )
    # Every pod of the pool shares instance and component: the shard tells their pods apart.
    deployment["spec"]["selector"]["matchLabels"][SHARD_LABEL] = str(shard)
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {POOL_CONFIG_KEY: json.dumps(config, sort_keys=True, separators=(",", ":"))},
        },
        deployment,
    ]


def pool_refs(namespace: str, mission: str, shard: int) -> list[dict[str, Any]]:
    """Enough of a pooled simulator's ConfigMap and Deployment to read or delete them."""
    meta = {"name": pool_name(mission, shard), "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta)},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta)},
    ]


def satellite_simulator_refs(namespace: str, satellite: str) -> list[dict[str, Any]]:
    """Enough of a Satellite's own simulator ConfigMap and Deployment to delete them."""
    meta = {"name": names.child_name(satellite, SIMULATOR), "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta)},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta)},
    ]
