"""A workload whose Role lacks a verb fails as it would in a cluster: 403 from the apiserver.

The mission's ServiceAccount, Role, RoleBinding and command-API Deployment are the operator's own
manifests (`builders.mission_workloads`), created here by hand so a test can take one verb out of
the Role (the operator, were it running, would put it back). The local runner then starts the real
`mpcs api serve` under that ServiceAccount's token; listing the mission's satellites through the
API works with the Role as built, and without `list` on satellites the apiserver refuses the
API's own request, naming the ServiceAccount; likewise the CommandPlan executor inside it writes a
plan's status only while the Role grants `patch` on commandplans/status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import eventually

from mpcs.core import names
from mpcs.core.resources import KafkaSettings, MissionSpec
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import ConnectionInfo, DevStack
from mpcs.operator import builders
from mpcs.operator.builders import mission_topics
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.operator.settings import OperatorSettings
from mpcs.orbit.timeutil import format_rfc3339

pytestmark = pytest.mark.integration

# From examples/20-satellites.yaml.
TLE = {
    "line1": "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992",
    "line2": "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043",
}
TOKENS = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}


def without_verb(role: dict[str, Any], *, resource: str, verb: str) -> dict[str, Any]:
    """The Role with `verb` taken away on `resource` and on nothing else."""
    rules = []
    for rule in role["rules"]:
        if resource in rule["resources"] and verb in rule["verbs"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                rules.append({**rule, "resources": others})
            verbs = [v for v in rule["verbs"] if v != verb]
            rules.append({**rule, "resources": [resource], "verbs": verbs})
        else:
            rules.append(rule)
    return {**role, "rules": rules}


@pytest.fixture
def mission(unique: str) -> str:
    return f"m{unique}"


@pytest.fixture
def runner(
    stack: DevStack, kube_client: ApiClient, mission: str, crds: None
) -> Iterator[LocalRunner]:
    """The real MPCS entrypoint, for this mission's Deployments only."""
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / f"forbidden-{mission}",
        selector=f"{names.GROUP}/mission={mission}",
    )
    with local.running():
        yield local


def _deploy(
    kube_client: ApiClient,
    conn: ConnectionInfo,
    namespace: str,
    mission: str,
    *,
    without: tuple[str, str] | None,
) -> None:
    """The mission's workloads identity and command API; `without` (resource, verb) is taken
    out of its Role."""
    core = k8s.CoreV1Api(kube_client)
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    # An owner that exists, so the garbage collector leaves the children alone.
    owner_cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner_cm.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    settings = OperatorSettings(kafka_bootstrap=conn.kafka_bootstrap_servers, image="mpcs:test")
    objects = builders.mission_workloads(
        namespace=namespace,
        mission=mission,
        owner=owner,
        spec=MissionSpec.model_validate({}),
        settings=settings,
    )
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    workloads = names.child_name(mission, "workloads")
    role = by_kind[("Role", workloads)]
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": builders.bucket_secret_name(mission)},
            "stringData": {
                "url": conn.influx_url,
                "org": conn.influx_org,
                "bucket": "default",
                "token": conn.influx_token,
            },
        },
    )
    core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": names.child_name(mission, "api-tokens")}, "stringData": TOKENS},
    )
    core.create_namespaced_service_account(namespace, by_kind[("ServiceAccount", workloads)])
    if without is not None:
        role = without_verb(role, resource=without[0], verb=without[1])
    rbac.create_namespaced_role(namespace, role)
    rbac.create_namespaced_role_binding(namespace, by_kind[("RoleBinding", workloads)])
    k8s.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        names.GROUP,
        names.VERSION,
        namespace,
        "satellites",
        {
            "apiVersion": names.API_VERSION,
            "kind": "Satellite",
            "metadata": {"name": "firewatch-1"},
            "spec": {"missionRef": {"name": mission}, "tle": TLE},
        },
    )
    k8s.AppsV1Api(kube_client).create_namespaced_deployment(
        namespace, by_kind[("Deployment", names.child_name(mission, builders.COMMAND_API))]
    )


def _list_satellites(runner: LocalRunner, key: str) -> httpx.Response:
    port = eventually(
        lambda: runner.endpoints().get(key, {}).get("http"), timeout_s=90, what="API started"
    )
    return eventually(
        lambda: _get(f"http://127.0.0.1:{port}/api/v1/satellites"),
        timeout_s=90,
        what="the command API answered",
    )


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, headers={"Authorization": f"Bearer {TOKENS['viewer']}"}, timeout=10)
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("drop_list", [False, True], ids=["role-as-built", "role-without-list"])
def test_the_api_lists_satellites_only_when_its_role_allows_it(
    kube_client: ApiClient,
    conn: ConnectionInfo,
    namespace: str,
    mission: str,
    runner: LocalRunner,
    drop_list: bool,
) -> None:
    without = ("satellites", "list") if drop_list else None
    _deploy(kube_client, conn, namespace, mission, without=without)
    key = _key(namespace, mission)
    answer = _list_satellites(runner, key)
    log = _log(runner, key)
    user = f"system:serviceaccount:{namespace}:{names.child_name(mission, 'workloads')}"
    refusal = f'User "{user}" cannot list resource "satellites"'
    if drop_list:
        assert answer.status_code >= 500, answer.text
        assert refusal in log
    else:
        assert answer.status_code == 200, answer.text
        assert [s["name"] for s in answer.json()["data"]] == ["firewatch-1"]
        assert "forbidden" not in log.lower()
    assert runner.pod_status()[key].service_account == names.child_name(mission, "workloads")


def _key(namespace: str, mission: str) -> str:
    return f"{namespace}/{names.child_name(mission, builders.COMMAND_API)}/0"


def _log(runner: LocalRunner, key: str) -> str:
    path = runner.log_dir / f"{key.replace('/', '_')}.log"
    # JSON log lines quoting the apiserver's JSON answer: its quotes arrive escaped twice.
    return path.read_text().replace("\\", "") if path.exists() else ""


async def _mission_topics(bootstrap: str, namespace: str, mission: str) -> None:
    topics = KafkaTopics(bootstrap)
    try:
        await topics.ensure_topics(mission_topics(namespace, mission, KafkaSettings(partitions=1)))
    finally:
        await topics.close()


def _scheduled_plan(kube_client: ApiClient, namespace: str, mission: str) -> None:
    """A plan whose one step is due now, with the Scheduled status the operator would write."""
    custom = k8s.CustomObjectsApi(kube_client)
    now = dt.datetime.now(dt.UTC)
    obj: Any = custom.create_namespaced_custom_object(
        names.GROUP,
        names.VERSION,
        namespace,
        "commandplans",
        {
            "apiVersion": names.API_VERSION,
            "kind": "CommandPlan",
            "metadata": {"name": "ping"},
            "spec": {
                "missionRef": {"name": mission},
                "satelliteRef": {"name": "firewatch-1"},
                "start": {"at": format_rfc3339(now)},
                "steps": [{"name": "ping", "command": "PING", "timeoutSeconds": 600}],
            },
        },
    )
    status = {
        "phase": "Scheduled",
        "observedGeneration": obj["metadata"]["generation"],
        "schedule": [
            {
                "name": "ping",
                "command": "PING",
                "scheduledAt": format_rfc3339(now),
                "state": "pending",
            }
        ],
    }
    custom.patch_namespaced_custom_object_status(
        names.GROUP,
        names.VERSION,
        namespace,
        "commandplans",
        "ping",
        {"status": status},
        _content_type="application/merge-patch+json",
    )


def _step_state(kube_client: ApiClient, namespace: str) -> str:
    plan: Any = k8s.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        names.GROUP, names.VERSION, namespace, "commandplans", "ping"
    )
    return str(plan["status"]["schedule"][0]["state"])


@pytest.mark.parametrize("drop_patch", [False, True], ids=["role-as-built", "role-without-patch"])
def test_the_executor_writes_plan_status_only_when_its_role_allows_it(
    kube_client: ApiClient,
    conn: ConnectionInfo,
    namespace: str,
    mission: str,
    runner: LocalRunner,
    drop_patch: bool,
) -> None:
    asyncio.run(_mission_topics(conn.kafka_bootstrap_servers, namespace, mission))
    without = ("commandplans/status", "patch") if drop_patch else None
    _deploy(kube_client, conn, namespace, mission, without=without)
    _scheduled_plan(kube_client, namespace, mission)
    key = _key(namespace, mission)
    user = f"system:serviceaccount:{namespace}:{names.child_name(mission, 'workloads')}"
    refusal = f'User "{user}" cannot patch resource "commandplans/status"'
    if drop_patch:
        eventually(lambda: refusal in _log(runner, key), timeout_s=120, what="a 403 on the patch")
        assert _step_state(kube_client, namespace) == "pending"
    else:
        eventually(
            lambda: _step_state(kube_client, namespace) == "sent",
            timeout_s=120,
            what="the executor marked the step sent",
        )
        assert "forbidden" not in _log(runner, key).lower()
