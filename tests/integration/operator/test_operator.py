"""The operator against the real apiserver, Kafka and InfluxDB, running under its own ClusterRole.

Apply the examples → every topic, bucket, Secret, Deployment and condition appears; a second
reconcile changes nothing; drift is repaired; deletion follows the policy; a hard restart mid-way
converges with nothing duplicated.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom, eventually, examples

from mpcs.core import names
from mpcs.dev.stack import ConnectionInfo

pytestmark = pytest.mark.integration

SIMULATORS = ["firewatch-1", "firewatch-2", "firewatch-3"]


def _apply_examples(custom: Custom) -> None:
    for obj in examples():
        custom.create(copy.deepcopy(obj))


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=None)]
        )
        return {e[0]: e[1] for e in described[0].resources[0][4]}
    finally:
        await admin.close()


def _influx(conn: ConnectionInfo, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{conn.influx_url}{path}",
        params=params,
        headers={"Authorization": f"Token {conn.influx_token}"},
    )
    response.raise_for_status()
    return response.json()


def _bucket_tokens(conn: ConnectionInfo, bucket: str) -> list[dict[str, Any]]:
    auths = _influx(conn, "/api/v2/authorizations")["authorizations"]
    return [a for a in auths if a.get("description") == f"mpcs bucket token: {bucket}"]


def _children(kube_client: ApiClient, namespace: str) -> dict[str, str]:
    """name/kind → resourceVersion of everything the operator created in the namespace."""
    selector = "app.kubernetes.io/managed-by=mpcs-operator"
    core, apps = k8s.CoreV1Api(kube_client), k8s.AppsV1Api(kube_client)
    items = (
        [
            ("Deployment", d)
            for d in apps.list_namespaced_deployment(namespace, label_selector=selector).items
        ]
        + [
            ("ConfigMap", c)
            for c in core.list_namespaced_config_map(namespace, label_selector=selector).items
        ]
        + [
            ("Secret", s)
            for s in core.list_namespaced_secret(namespace, label_selector=selector).items
        ]
        + [
            ("Service", s)
            for s in core.list_namespaced_service(namespace, label_selector=selector).items
        ]
    )
    return {f"{kind}/{o.metadata.name}": o.metadata.resource_version for kind, o in items}


@pytest.fixture
def custom(kube_client: ApiClient, namespace: str, operator: Any) -> Custom:
    return Custom(kube_client, namespace)


def _mission_reconciles(operator: Any) -> float:
    """How many Mission reconciles the operator has finished without error (its metrics)."""
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10).text
    prefix = 'mpcs_operator_reconciles_total{kind="Mission",result="ok"} '
    return sum(
        float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix)
    )


async def test_examples_yield_the_whole_stack(
    custom: Custom, kube_client: ApiClient, namespace: str, conn: ConnectionInfo, operator: Any
) -> None:
    _apply_examples(custom)
    mission = custom.wait_phase("missions", "wildfire", "Ready", timeout_s=90)
    status = mission["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    for kind in ("TopicsReady", "BucketReady", "IngestReady", "CommandApiReady", "Ready"):
        assert conditions[kind] == "True", status
    assert status["observedGeneration"] == mission["metadata"]["generation"]
    assert status["bucket"] == names.bucket(namespace, "wildfire")
    expected_topics = set(names.mission_topics(namespace, "wildfire").values())
    assert set(status["topics"].values()) == expected_topics
    assert expected_topics <= await _topics(conn.kafka_bootstrap_servers)
    assert _influx(conn, "/api/v2/buckets", name=status["bucket"])["buckets"]
    assert len(_bucket_tokens(conn, status["bucket"])) == 1

    for sat in SIMULATORS:
        obj = custom.wait_phase("satellites", sat, "Ready", timeout_s=60)
        assert 94 < obj["status"]["orbit"]["periodMinutes"] < 96
        assert obj["metadata"]["labels"]["mpcs.io/mission"] == "wildfire"
        # Refreshed by the mission's refresher, not per-object timers: nothing to finalize.
        assert "mpcs.io/finalizer" not in (obj["metadata"].get("finalizers") or [])
    eventually(
        lambda: (custom.get("satellites", "firewatch-1") or {}).get("status", {}).get("nextPass"),
        timeout_s=60,
        what="next pass in status",
    )

    children = _children(kube_client, namespace)
    for name in [
        "Deployment/wildfire-ingest",
        "Deployment/wildfire-command-api",
        "Service/wildfire-command-api",
        "Secret/wildfire-influxdb",
        "Secret/wildfire-api-tokens",
        *[f"Deployment/{s}-simulator" for s in SIMULATORS],
        *[f"ConfigMap/{s}-simulator" for s in SIMULATORS],
    ]:
        assert name in children, sorted(children)
    deployment = k8s.AppsV1Api(kube_client).read_namespaced_deployment(
        "firewatch-1-simulator", namespace
    )
    owner = deployment.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Satellite", "firewatch-1", True)
    assert deployment.metadata.labels["app.kubernetes.io/part-of"] == "mpcs"

    plan = custom.wait_phase("commandplans", "image-fire-front", "Scheduled", timeout_s=60)
    schedule = plan["status"]["schedule"]
    assert [s["state"] for s in schedule] == ["pending"] * len(schedule)
    assert schedule == sorted(schedule, key=lambda s: s["scheduledAt"])

    gs = eventually(
        lambda: (
            (custom.get("groundstations", "svalbard") or {}).get("status", {}).get("nextPasses")
        ),
        timeout_s=30,
        what="station passes",
    )
    assert {p["satellite"] for p in gs} <= set(SIMULATORS)

    # A second (and third) reconcile by the resync timer changes nothing. Compared with the
    # state once everything above is settled: the first reconciles may overlap (the create
    # handler and the resync timer both start from the status without conditions, and the later
    # write moves lastTransitionTime; seen once, 0.9 s after Ready).
    before = _children(kube_client, namespace)
    tokens_before = _bucket_tokens(conn, status["bucket"])
    settled = custom.get("missions", "wildfire")
    assert settled is not None
    reconciled = _mission_reconciles(operator)
    eventually(
        lambda: _mission_reconciles(operator) >= reconciled + 2,
        timeout_s=60,
        what="two more Mission reconciles (resync timer)",
    )
    assert _children(kube_client, namespace) == before
    assert _bucket_tokens(conn, status["bucket"]) == tokens_before
    after = custom.get("missions", "wildfire")
    assert after is not None
    assert after["status"]["conditions"] == settled["status"]["conditions"]


async def test_drift_is_repaired(
    custom: Custom, kube_client: ApiClient, namespace: str, conn: ConnectionInfo
) -> None:
    _apply_examples(custom)
    custom.wait_phase("missions", "wildfire", "Ready", timeout_s=90)
    custom.wait_phase("satellites", "firewatch-2", "Ready", timeout_s=60)
    apps = k8s.AppsV1Api(kube_client)

    apps.delete_namespaced_deployment("wildfire-ingest", namespace)
    apps.delete_namespaced_deployment("firewatch-2-simulator", namespace)
    telemetry = names.topic(namespace, "wildfire", names.Topic.TELEMETRY)
    admin = AIOKafkaAdminClient(bootstrap_servers=conn.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([names.topic(namespace, "wildfire", names.Topic.DLQ)])
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, telemetry, configs={"retention.ms": "1000"})]
        )
    finally:
        await admin.close()

    def exists(name: str) -> bool:
        try:
            apps.read_namespaced_deployment(name, namespace)
        except ApiException:
            return False
        return True

    eventually(lambda: exists("wildfire-ingest"), timeout_s=30, what="ingest Deployment back")
    eventually(lambda: exists("firewatch-2-simulator"), timeout_s=30, what="simulator back")
    dlq = names.topic(namespace, "wildfire", names.Topic.DLQ)
    for _ in range(120):
        if dlq in await _topics(conn.kafka_bootstrap_servers):
            break
        await asyncio.sleep(0.25)
    assert dlq in await _topics(conn.kafka_bootstrap_servers)
    for _ in range(120):
        config = await _topic_config(conn.kafka_bootstrap_servers, telemetry)
        if config["retention.ms"] == str(168 * 3_600_000):
            break
        await asyncio.sleep(0.25)
    assert config["retention.ms"] == str(168 * 3_600_000)


def _mission(name: str, policy: str) -> dict[str, Any]:
    return {
        "apiVersion": "mpcs.io/v1alpha1",
        "kind": "Mission",
        "metadata": {"name": name},
        "spec": {"groundStations": [], "deletionPolicy": policy},
    }


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
async def test_deletion_follows_the_policy(
    custom: Custom, namespace: str, conn: ConnectionInfo, policy: str
) -> None:
    custom.create(_mission("m1", policy))
    custom.wait_phase("missions", "m1", "Ready", timeout_s=60)
    bucket = names.bucket(namespace, "m1")
    topics = set(names.mission_topics(namespace, "m1").values())
    custom.delete("missions", "m1")
    eventually(lambda: custom.get("missions", "m1") is None, timeout_s=30, what="mission gone")
    present = topics & await _topics(conn.kafka_bootstrap_servers)
    buckets = _influx(conn, "/api/v2/buckets", name=bucket)["buckets"]
    if policy == "Retain":
        assert present == topics
        assert buckets
    else:
        assert not present
        assert not buckets
        assert not _bucket_tokens(conn, bucket)


async def test_mission_deletion_waits_for_its_satellites(custom: Custom) -> None:
    sat = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    sat["spec"]["missionRef"]["name"] = "m2"
    custom.create(_mission("m2", "Delete"))
    custom.create(sat)
    custom.wait_phase("satellites", sat["metadata"]["name"], "Ready", timeout_s=60)
    custom.delete("missions", "m2")
    custom.wait_phase("missions", "m2", "Deleting", timeout_s=30)
    custom.delete("satellites", sat["metadata"]["name"])
    eventually(lambda: custom.get("missions", "m2") is None, timeout_s=40, what="mission gone")


def test_satellite_waits_for_its_mission_then_provisions(custom: Custom) -> None:
    sat = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    sat["spec"]["missionRef"]["name"] = "late"
    custom.create(sat)
    waiting = custom.wait_phase("satellites", sat["metadata"]["name"], "WaitingForMission")
    assert custom.condition("satellites", sat["metadata"]["name"], "Ready")["reason"] == (
        "MissionNotFound"
    ), waiting
    custom.create(_mission("late", "Delete"))
    custom.wait_phase("satellites", sat["metadata"]["name"], "Ready", timeout_s=60)


def test_bad_tle_checksum_is_reported_as_condition_and_event(
    custom: Custom, kube_client: ApiClient, namespace: str
) -> None:
    sat = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    line1 = sat["spec"]["tle"]["line1"]
    sat["spec"]["tle"]["line1"] = line1[:-1] + str((int(line1[-1]) + 1) % 10)
    sat["spec"]["missionRef"]["name"] = "nope"
    custom.create(sat)
    custom.wait_phase("satellites", sat["metadata"]["name"], "Invalid")
    ready = custom.condition("satellites", sat["metadata"]["name"], "Ready")
    assert ready is not None
    assert "spec.tle" in ready["message"]
    assert "checksum" in ready["message"]

    def event() -> Any:
        events = k8s.CoreV1Api(kube_client).list_namespaced_event(namespace).items
        return [e for e in events if e.reason == "InvalidSpec"]

    assert "checksum" in eventually(event, timeout_s=20, what="InvalidSpec event")[0].message


def test_hard_restart_mid_reconcile_converges_without_duplicates(
    custom: Custom, kube_client: ApiClient, namespace: str, conn: ConnectionInfo, operator: Any
) -> None:
    _apply_examples(custom)
    operator.restart()  # SIGKILL while the examples are being reconciled
    custom.wait_phase("missions", "wildfire", "Ready", timeout_s=90)
    for sat in SIMULATORS:
        custom.wait_phase("satellites", sat, "Ready", timeout_s=60)
    assert len(_bucket_tokens(conn, names.bucket(namespace, "wildfire"))) == 1
    deployments = k8s.AppsV1Api(kube_client).list_namespaced_deployment(namespace).items
    # The test operator knows the stack's SNS topic and S3 bucket: the mission (it has alert
    # rules) gets its alerts and archive runners too, each exactly once.
    assert sorted(d.metadata.name for d in deployments) == sorted(
        [
            "wildfire-ingest",
            "wildfire-command-api",
            "wildfire-alerts",
            "wildfire-archive",
            *[f"{s}-simulator" for s in SIMULATORS],
        ]
    )


def test_operator_role_is_least_privilege(operator: Any) -> None:
    """The token the operator runs with may do its job and nothing beyond it.

    Each question is a SelfSubjectAccessReview sent with that token, so the answers are about
    the identity the operator process really has (not a ServiceAccount named in the test).
    """
    from kubernetes import config as k8s_config

    own = k8s_config.new_client_from_config(config_file=str(operator.kubeconfig))
    review_api = k8s.AuthorizationV1Api(own)

    def allowed(verb: str, resource: str, group: str = "") -> bool:
        review = review_api.create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "group": group}}}
        )
        return bool(review.status.allowed)

    try:
        who = k8s.AuthenticationV1Api(own).create_self_subject_review({}).status.user_info
        assert who.username == "system:serviceaccount:mpcs-system:mpcs-operator", who
        assert allowed("patch", "deployments", "apps")
        assert allowed("patch", "missions/status", "mpcs.io") or allowed(
            "patch", "missions", "mpcs.io"
        )
        for verb, resource, group in [
            ("delete", "namespaces", ""),
            ("list", "nodes", ""),
            ("create", "clusterroles", "rbac.authorization.k8s.io"),
            ("list", "secrets", ""),
            ("delete", "missions", "mpcs.io"),
            ("create", "pods", ""),
        ]:
            assert not allowed(verb, resource, group), f"{verb} {resource} should be denied"
    finally:
        own.close()


def test_metrics_count_reconciles(operator: Any, custom: Custom) -> None:
    custom.create(_mission("metered", "Delete"))
    custom.wait_phase("missions", "metered", "Ready", timeout_s=60)
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics").text
    assert 'mpcs_operator_reconciles_total{kind="Mission",result="ok"}' in text
    ready = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/readyz")
    assert ready.status_code == 200
