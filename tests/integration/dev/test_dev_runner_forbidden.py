"""A workload whose Role lacks a verb fails as it would in a cluster: 403 from the apiserver.

The mission's ServiceAccount, Role, RoleBinding and command-API Deployment are the operator's own
manifests (`builders.mission_workloads`), created here by hand so a test can take one verb out of
the Role (the operator, were it running, would put it back). The local runner then starts the real
`mpcs api serve` under that ServiceAccount's token; listing the mission's satellites through the
API works with the Role as built, and without `list` on satellites the apiserver refuses the
API's own request, naming the ServiceAccount.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import eventually

from mpcs.core import names
from mpcs.core.resources import MissionSpec
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import ConnectionInfo, DevStack
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

pytestmark = pytest.mark.integration

# From examples/20-satellites.yaml.
TLE = {
    "line1": "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992",
    "line2": "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043",
}
TOKENS = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}


def without_list_on_satellites(role: dict[str, Any]) -> dict[str, Any]:
    """The Role with `list` taken away on satellites and on nothing else."""
    rules = []
    for rule in role["rules"]:
        if "satellites" in rule["resources"] and "list" in rule["verbs"]:
            others = [r for r in rule["resources"] if r != "satellites"]
            rules.append({**rule, "resources": others})
            rules.append(
                {
                    **rule,
                    "resources": ["satellites"],
                    "verbs": [v for v in rule["verbs"] if v != "list"],
                }
            )
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
    thread = local.start_in_thread()
    try:
        yield local
    finally:
        local.stop()
        thread.join(timeout=60)


def _deploy(
    kube_client: ApiClient, conn: ConnectionInfo, namespace: str, mission: str, *, drop_list: bool
) -> None:
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
    rbac.create_namespaced_role(namespace, without_list_on_satellites(role) if drop_list else role)
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
    _deploy(kube_client, conn, namespace, mission, drop_list=drop_list)
    key = f"{namespace}/{names.child_name(mission, builders.COMMAND_API)}/0"
    answer = _list_satellites(runner, key)
    # JSON log lines quoting the apiserver's JSON answer: its quotes arrive escaped twice.
    log = (runner.log_dir / f"{key.replace('/', '_')}.log").read_text().replace("\\", "")
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
