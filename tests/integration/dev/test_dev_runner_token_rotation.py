"""A token rotated by updating the mission's tokens Secret reaches the running command API with no
restart: the operator's own command-API Deployment (`builders.mission_workloads`, the Secret
mounted at MPCS_API_TOKENS_DIR) run by the local runner, which keeps a mounted Secret current as a
kubelet does, and the API, which re-reads the folder.

The rotation is the documented one (docs/api.md): the new token added on a line of its own, the
old one removed once clients have moved. The process id stays the same throughout.
"""

from __future__ import annotations

from collections.abc import Iterator

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

OLD, NEW = "rotation-viewer-old-0123456789", "rotation-viewer-new-0123456789"


@pytest.fixture
def rotation_mission(unique: str) -> str:
    return f"m{unique}"


@pytest.fixture
def rotation_runner(
    stack: DevStack, kube_client: ApiClient, rotation_mission: str, crds: None
) -> Iterator[LocalRunner]:
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / f"rotation-{rotation_mission}",
        selector=f"{names.GROUP}/mission={rotation_mission}",
        extra_env={"MPCS_API_TOKENS_RELOAD_S": "0.5", "MPCS_EXECUTOR_ENABLED": "false"},
    )
    with local.running():
        yield local


def _deploy(kube_client: ApiClient, conn: ConnectionInfo, namespace: str, mission: str) -> None:
    core = k8s.CoreV1Api(kube_client)
    owner_cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner_cm.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    objects = builders.mission_workloads(
        namespace=namespace,
        mission=mission,
        owner=owner,
        spec=MissionSpec.model_validate({}),
        settings=OperatorSettings(kafka_bootstrap=conn.kafka_bootstrap_servers, image="mpcs:t"),
    )
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    workloads = names.child_name(mission, "workloads")
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
        {
            "metadata": {"name": names.child_name(mission, "api-tokens")},
            "stringData": {"viewer": OLD},
        },
    )
    core.create_namespaced_service_account(namespace, by_kind[("ServiceAccount", workloads)])
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    rbac.create_namespaced_role(namespace, by_kind[("Role", workloads)])
    rbac.create_namespaced_role_binding(namespace, by_kind[("RoleBinding", workloads)])
    k8s.AppsV1Api(kube_client).create_namespaced_deployment(
        namespace, by_kind[("Deployment", names.child_name(mission, builders.COMMAND_API))]
    )


def _status(port: int, token: str) -> int | None:
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/commands/dictionary",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.TransportError:
        return None
    return response.status_code


def test_a_token_rotated_in_its_secret_is_honoured_without_a_restart(
    kube_client: ApiClient,
    conn: ConnectionInfo,
    namespace: str,
    rotation_mission: str,
    rotation_runner: LocalRunner,
) -> None:
    mission = rotation_mission
    _deploy(kube_client, conn, namespace, mission)
    key = f"{namespace}/{names.child_name(mission, builders.COMMAND_API)}/0"
    port = eventually(
        lambda: rotation_runner.endpoints().get(key, {}).get("http"),
        timeout_s=90,
        what="API started",
    )
    eventually(lambda: _status(port, OLD) == 200, timeout_s=90, what="the old token accepted")
    assert _status(port, NEW) == 401
    pid = rotation_runner.pod_status()[key].pid
    core = k8s.CoreV1Api(kube_client)
    secret = names.child_name(mission, "api-tokens")
    core.patch_namespaced_secret(secret, namespace, {"stringData": {"viewer": f"{OLD}\n{NEW}\n"}})
    eventually(lambda: _status(port, NEW) == 200, timeout_s=60, what="the new token accepted")
    assert _status(port, OLD) == 200  # both, while clients move
    core.patch_namespaced_secret(secret, namespace, {"stringData": {"viewer": NEW}})
    eventually(lambda: _status(port, OLD) == 401, timeout_s=60, what="the old token refused")
    assert _status(port, NEW) == 200
    status = rotation_runner.pod_status()[key]
    assert (status.pid, status.restarts) == (pid, 0)  # the same process all along
