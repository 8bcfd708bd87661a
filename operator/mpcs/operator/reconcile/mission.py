"""Mission: Kafka topics, the InfluxDB bucket and its token, API tokens, ingest, command API and
Grafana dashboards.

Each external resource goes through its own converging adapter, so a failing one (Kafka down)
leaves the others provisioned, marks the Mission Degraded and retries. Deletion waits for the
mission's Satellites, then applies the deletion policy to the topics and the bucket.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import kopf
from aiokafka.errors import KafkaError

from mpcs.core import names
from mpcs.core.resources import MISSION, DeletionPolicy, MissionSpec
from mpcs.operator import aws_cleanup, builders
from mpcs.operator.conditions import ConditionSet
from mpcs.operator.indexes import Indexes
from mpcs.operator.influx_buckets import InfluxError
from mpcs.operator.kube import Kube
from mpcs.operator.metrics import observe
from mpcs.operator.objects import InvalidSpec, ObjectMeta, parse_spec
from mpcs.operator.reconcile import (
    WRITTEN,
    Observed,
    Outcome,
    dashboards,
    invalid_spec,
    reconcile_body,
)
from mpcs.operator.services import Services

SECONDS_PER_DAY = 86_400


async def on_change(
    body: kopf.Body, *, patch: kopf.Patch, services: Services, indexes: Indexes
) -> None:
    """Create, update, resume and resync: reconcile, unless the Mission is being deleted."""
    if body["metadata"].get("deletionTimestamp"):
        return
    await reconcile_body(
        "Mission", reconcile, body, patch=patch, services=services, indexes=indexes
    )


async def reconcile(observed: Observed, *, services: Services, indexes: Indexes) -> Outcome:
    meta = observed.meta
    conditions = ConditionSet(observed.status.get("conditions"), generation=meta.generation)
    try:
        spec = parse_spec(MissionSpec, observed.raw_spec)
    except InvalidSpec as exc:
        # What CEL cannot check, e.g. an unknown alert channel.
        return invalid_spec(meta, conditions, problem=str(exc), status={"phase": "Pending"})
    owner = builders.owner_reference(meta.reference())
    namespace, name = meta.namespace, meta.name
    failures: list[str] = []

    topics = builders.mission_topics(namespace, name, spec.kafka)
    try:
        changes = await services.topics.ensure_topics(topics)
        services.health.mark("kafka", True)
        conditions.set("TopicsReady", True, "Converged", f"{len(topics)} topics converged")
        if changes.changed:
            kopf.event(
                meta.reference(),
                type="Normal",
                reason="TopicsConverged",
                message=f"created {changes.created}, grown {changes.grown}, "
                f"reconfigured {changes.reconfigured}",
            )
    except (TimeoutError, KafkaError, OSError) as exc:
        services.health.mark("kafka", False)
        conditions.set("TopicsReady", False, "KafkaUnavailable", str(exc) or type(exc).__name__)
        failures.append(f"Kafka: {exc!r}")

    bucket = names.bucket(namespace, name)
    try:
        state = await services.influx.ensure_bucket(
            bucket, retention_seconds=spec.telemetry.retention_days * SECONDS_PER_DAY
        )
        services.health.mark("influxdb", True)
        await services.kube.apply(
            builders.bucket_token_secret(
                namespace=namespace,
                mission=name,
                owner=owner,
                bucket=bucket,
                token=state.token,
                settings=services.settings,
            )
        )
        conditions.set(
            "BucketReady",
            True,
            "Converged",
            f"bucket {bucket}, retention {state.retention_seconds // SECONDS_PER_DAY} d",
        )
    except (InfluxError, httpx.HTTPError) as exc:
        services.health.mark("influxdb", False)
        conditions.set("BucketReady", False, "InfluxDBUnavailable", str(exc))
        failures.append(f"InfluxDB: {exc}")

    await _ensure_api_tokens(services.kube, meta=meta, owner=owner, spec=spec)
    await _ensure_kafka_secret(services, meta=meta, owner=owner)
    aws_secret, aws_problem = await _ensure_aws_secret(services, meta=meta, owner=owner)
    await services.kube.apply_all(
        builders.mission_workloads(
            namespace=namespace,
            mission=name,
            owner=owner,
            spec=spec,
            settings=services.settings,
            aws_secret=aws_secret,
        )
    )
    conditions.set(
        "IngestReady",
        True,
        "DeploymentApplied",
        f"Deployment {names.child_name(name, builders.INGEST)} applied",
    )
    conditions.set(
        "CommandApiReady",
        True,
        "DeploymentApplied",
        f"Deployment and Service {names.child_name(name, builders.COMMAND_API)} applied",
    )

    if aws_problem and spec.alerts:
        alerts_ready, alerts_reason, alerts_message = False, "AwsCredentialsMissing", aws_problem
        failures.append(f"Alerts: {aws_problem}")
    else:
        alerts_ready, alerts_reason, alerts_message = await _converge_alerts(
            services, meta=meta, owner=owner, spec=spec, aws_secret=aws_secret
        )
    conditions.set("AlertsReady", alerts_ready, alerts_reason, alerts_message)
    conditions.set(
        "ArchiveReady",
        *await _converge_archive(services, meta=meta, owner=owner, aws_secret=aws_secret),
    )

    shown = await dashboards.converge(
        namespace=namespace,
        mission=name,
        owner=owner,
        spec=spec,
        services=services,
        indexes=indexes,
    )
    conditions.set("DashboardsReady", shown.ready, shown.reason, shown.message)
    if shown.failure:
        failures.append(f"Dashboards: {shown.failure}")

    ready = not failures
    conditions.set(
        "Ready",
        ready,
        "Provisioned" if ready else "Degraded",
        "all mission resources converged" if ready else "; ".join(failures),
    )
    return Outcome(
        {
            "phase": "Ready" if ready else "Degraded",
            "conditions": conditions.items,
            "topics": {t.name.rsplit(".", 1)[-1]: t.name for t in topics},
            "bucket": bucket,
            "endpoints": {"commandApi": builders.command_api_endpoint(namespace, name)},
            "satelliteCount": len(indexes.satellites_of(namespace, name)),
            "observedGeneration": meta.generation,
        },
        retry="; ".join(failures) if failures else None,
    )


async def on_station_change(
    namespace: str, station: str, *, services: Services, indexes: Indexes
) -> None:
    """Reconcile the missions that use a created or edited GroundStation now, not at the next
    resync: their dashboards mark the station where it now is."""
    for name in indexes.missions_using(namespace, station):
        body = await services.kube.get_custom(
            group=names.GROUP,
            version=names.VERSION,
            plural=MISSION.plural,
            namespace=namespace,
            name=name,
        )
        if body is None or body["metadata"].get("deletionTimestamp"):
            continue
        if "observedGeneration" not in (body.get("status") or {}):
            continue  # not reconciled yet: its own create handler is about to, with this station
        with observe("Mission"):
            outcome = await reconcile(Observed.of(body), services=services, indexes=indexes)
        await services.kube.patch_status(
            plural=MISSION.plural, namespace=namespace, name=name, status=outcome.status
        )


async def _ensure_api_tokens(
    kube: Kube, *, meta: ObjectMeta, owner: dict[str, Any], spec: MissionSpec
) -> None:
    """Create missing role tokens once; existing tokens are never rotated by a reconcile."""
    secret_name = builders.api_tokens_secret_name(meta.name, spec.command_api)
    existing = await kube.read_secret_data(meta.namespace, secret_name) or {}
    if all(role in existing for role in builders.API_ROLES):
        return
    tokens = {role: existing.get(role) or secrets.token_urlsafe(32) for role in builders.API_ROLES}
    await kube.apply(
        builders.api_tokens_secret(
            namespace=meta.namespace,
            mission=meta.name,
            owner=owner,
            name=secret_name,
            tokens=tokens,
        )
    )


#: Missions (by uid) this process found with no Kafka Secret to keep: the stale copy (the operator
#: no longer logs in with a password) is deleted once per process, not on every resync.
_NO_KAFKA_SECRET: set[str] = set()


async def _ensure_kafka_secret(
    services: Services, *, meta: ObjectMeta, owner: dict[str, Any]
) -> None:
    """The mission's copy of the operator's Kafka SASL password (PLAIN, SCRAM-*), which its
    Kafka workloads read through `secretKeyRef` (docs/install.md#kafka-security). Written on
    every reconcile (so a password the operator restarted with replaces the old one); when the
    operator has no password to pass, a copy left from before is deleted."""
    settings = services.settings
    password = settings.kafka_security.sasl_password
    if builders.needs_kafka_password(settings) and password is not None:
        _NO_KAFKA_SECRET.discard(meta.uid)
        await services.kube.apply(
            builders.kafka_password_secret(
                namespace=meta.namespace, mission=meta.name, owner=owner, password=password
            )
        )
        return
    if meta.uid in _NO_KAFKA_SECRET:
        return
    await services.kube.delete(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": builders.kafka_secret_name(meta.name),
                "namespace": meta.namespace,
            },
        }
    )
    _NO_KAFKA_SECRET.add(meta.uid)


async def _ensure_aws_secret(
    services: Services, *, meta: ObjectMeta, owner: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The mission's copy of the operator's AWS credentials (None when it was given none), and
    what is wrong with the Secret it was told to read them from, if anything."""
    settings = services.settings
    key_id, secret_key = settings.aws_access_key_id, settings.aws_secret_access_key
    if not (key_id and secret_key) and settings.aws_credentials_secret:
        source_ns, source = settings.aws_credentials_secret.split("/", 1)
        data = await services.kube.read_secret_data(source_ns, source) or {}
        key_id, secret_key = data.get("access_key_id"), data.get("secret_access_key")
        if not (key_id and secret_key):
            return None, (
                f"Secret {settings.aws_credentials_secret} (MPCS_AWS_CREDENTIALS_SECRET) needs "
                "keys access_key_id and secret_access_key"
            )
    if not (key_id and secret_key):
        return None, None
    await services.kube.apply(
        builders.aws_credentials_secret(
            namespace=meta.namespace,
            mission=meta.name,
            owner=owner,
            access_key_id=key_id,
            secret_access_key=secret_key,
        )
    )
    return builders.aws_secret_name(meta.name), None


async def _converge_alerts(
    services: Services,
    *,
    meta: ObjectMeta,
    owner: dict[str, Any],
    spec: MissionSpec,
    aws_secret: str | None,
) -> tuple[bool, str, str]:
    """The alerts runner while the Mission has rules (and the operator knows the SNS topic);
    removed otherwise. (status, reason, message) of `AlertsReady`."""
    settings = services.settings
    if not spec.alerts or not settings.alerts_topic_arn:
        await services.kube.delete(
            builders.deployment_ref(meta.namespace, meta.name, builders.ALERTS)
        )
    if not spec.alerts:
        return False, "NoRules", "spec.alerts is empty: no alerts runner"
    if not settings.alerts_topic_arn:
        return (
            False,
            "AlertsNotConfigured",
            f"{len(spec.alerts)} rule(s) but the operator has no MPCS_ALERTS_TOPIC_ARN: "
            "no alerts runner",
        )
    deployment = builders.alerts_deployment(
        namespace=meta.namespace,
        mission=meta.name,
        owner=owner,
        spec=spec,
        settings=settings,
        aws_secret=aws_secret,
    )
    name = deployment["metadata"]["name"]
    await services.kube.apply(deployment)
    return True, "DeploymentApplied", f"Deployment {name} applied ({len(spec.alerts)} rule(s))"


async def _converge_archive(
    services: Services, *, meta: ObjectMeta, owner: dict[str, Any], aws_secret: str | None
) -> tuple[bool, str, str]:
    """The archive runner while the operator knows the archive bucket; removed otherwise.
    (status, reason, message) of `ArchiveReady`."""
    bucket = services.settings.archive_bucket
    if not bucket:
        await services.kube.delete(
            builders.deployment_ref(meta.namespace, meta.name, builders.ARCHIVE)
        )
        return False, "ArchiveNotConfigured", "the operator has no MPCS_ARCHIVE_BUCKET: no archive"
    deployment = builders.archive_deployment(
        namespace=meta.namespace,
        mission=meta.name,
        owner=owner,
        settings=services.settings,
        aws_secret=aws_secret,
    )
    await services.kube.apply(deployment)
    name = deployment["metadata"]["name"]
    return True, "DeploymentApplied", f"Deployment {name} applied (archive into s3://{bucket})"


async def on_delete(
    body: kopf.Body, *, patch: kopf.Patch, services: Services, indexes: Indexes
) -> None:
    """Wait for the mission's Satellites to go, then apply the deletion policy to Kafka/InfluxDB."""
    meta = ObjectMeta.of(body)
    satellites = sorted(s.meta.name for s in indexes.satellites_of(meta.namespace, meta.name))
    if satellites:
        message = (
            f"waiting for {len(satellites)} Satellite(s) of this mission to be deleted: "
            f"{', '.join(satellites[:10])}"
        )
        kopf.event(meta.reference(), type="Normal", reason="DeletionWaiting", message=message)
        Outcome({"phase": "Deleting"}, retry=message, retry_delay_s=5).apply(patch)
    topics = list(names.mission_topics(meta.namespace, meta.name).values())
    bucket = names.bucket(meta.namespace, meta.name)
    # The dashboards' token goes with the dashboards, whatever happens to the data.
    await services.influx.delete_read_token(bucket)
    try:
        policy = parse_spec(MissionSpec, body.get("spec") or {}).deletion_policy
        kept_because = "deletionPolicy Retain"
    except InvalidSpec as exc:
        # Data is deleted only when the Mission clearly asks for it.
        policy, kept_because = DeletionPolicy.RETAIN, f"spec unreadable ({exc})"
    await _remove_from_aws(
        services, meta=meta, patch=patch, archive=policy is DeletionPolicy.DELETE
    )
    if policy is DeletionPolicy.DELETE:
        deleted = await services.topics.delete_topics(topics)
        bucket_deleted = await services.influx.delete_bucket(bucket)
        kopf.event(
            meta.reference(),
            type="Normal",
            reason="ExternalResourcesDeleted",
            message=f"deleted topics {deleted} and bucket {bucket} ({bucket_deleted})",
        )
    else:
        kopf.event(
            meta.reference(),
            type="Normal",
            reason="ExternalResourcesRetained",
            message=f"{kept_because}: kept topics {topics} and bucket {bucket}",
        )
    # The Mission is gone once this returns: its reconcile lock and remembered conditions go
    # too (after any reconcile that still holds the lock).
    WRITTEN.forget(meta.uid)
    _NO_KAFKA_SECRET.discard(meta.uid)


#: After deleting a runner, how long the Mission's deletion waits before removing what the runner
#: used in AWS: its pod gets SIGTERM, finishes the handler call in hand and stops.
RUNNER_STOP_WAIT_S = 10.0


async def _remove_from_aws(
    services: Services, *, meta: ObjectMeta, patch: kopf.Patch, archive: bool
) -> None:
    """Stop the alerts and archive runners (a running one would recreate its queue or write
    items), then remove the mission's queue, subscription and alert items, and with `archive`
    its S3 archive (`aws_cleanup`). A failure is a Warning Event and a retry: the Mission stays
    (phase Deleting) until AWS answers, rather than leaving a queue that fills forever."""
    runners = [
        builders.deployment_ref(meta.namespace, meta.name, component)
        for component in (builders.ALERTS, builders.ARCHIVE)
    ]
    running = [ref for ref in runners if await services.kube.get(ref) is not None]
    for ref in running:
        await services.kube.delete(ref)
    if running:
        Outcome(
            {"phase": "Deleting"},
            retry="waiting for the alerts and archive runners to stop",
            retry_delay_s=RUNNER_STOP_WAIT_S,
        ).apply(patch)
    try:
        removed = await aws_cleanup.remove(
            services.settings,
            services.kube,
            namespace=meta.namespace,
            mission=meta.name,
            archive=archive,
        )
    except Exception as exc:
        message = f"AWS resources of the mission not removed yet: {exc}"
        kopf.event(meta.reference(), type="Warning", reason="AwsCleanupFailed", message=message)
        Outcome({"phase": "Deleting"}, retry=message, retry_delay_s=30).apply(patch)
        return
    if removed != aws_cleanup.Removed():
        kopf.event(
            meta.reference(), type="Normal", reason="AwsResourcesRemoved", message=removed.summary()
        )
