"""The operator under test: a real `mpcs operator run` process, under its own ClusterRole.

It authenticates with a ServiceAccount token bound to the ClusterRole from `mpcs.operator.rbac`
— never as cluster-admin — so every test here also proves that role is sufficient.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import install_crds
from utils.logs import register_log

from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import DevStack
from mpcs.operator.rbac import cluster_role, cluster_role_binding

OPERATOR_NS = "mpcs-system"
OPERATOR_SA = "mpcs-operator"
RESYNC_SECONDS = "3"


@pytest.fixture(scope="session")
def crds(kube_client: ApiClient) -> None:
    install_crds(kube_client)


def _ensure(create: object, *args: object) -> None:
    try:
        create(*args)  # type: ignore[operator]
    except ApiException as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="session")
def operator_kubeconfig(kube_client: ApiClient, stack: DevStack, crds: None) -> Path:
    """A kubeconfig holding the operator ServiceAccount's token (RBAC-limited)."""
    core = k8s.CoreV1Api(kube_client)
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    _ensure(core.create_namespace, {"metadata": {"name": OPERATOR_NS}})
    _ensure(
        core.create_namespaced_service_account, OPERATOR_NS, {"metadata": {"name": OPERATOR_SA}}
    )
    _ensure(rbac.create_cluster_role, cluster_role())
    _ensure(
        rbac.create_cluster_role_binding,
        cluster_role_binding(namespace=OPERATOR_NS, service_account=OPERATOR_SA),
    )
    token = core.create_namespaced_service_account_token(
        OPERATOR_SA,
        OPERATOR_NS,
        {
            "spec": {
                "audiences": ["https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": 7200,
            }
        },
    ).status.token
    admin = json.loads(stack.apiserver.kubeconfig.read_text())
    admin["users"] = [{"name": OPERATOR_SA, "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = OPERATOR_SA
    path = stack.root / "operator.kubeconfig"
    path.write_text(json.dumps(admin))
    return path


@dataclass
class OperatorProcess:
    """`mpcs operator run` as a child process; `restart()` kills it hard and starts it again."""

    kubeconfig: Path
    stack: DevStack
    log: Path
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conn = self.stack.connection_info()
        env = {
            "KUBECONFIG": str(self.kubeconfig),
            "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
            "MPCS_INFLUX_URL": conn.influx_url,
            "MPCS_INFLUX_ORG": conn.influx_org,
            "MPCS_INFLUX_TOKEN": conn.influx_token,
            "MPCS_RESYNC_SECONDS": RESYNC_SECONDS,
            "MPCS_METRICS_PORT": str(self.metrics_port),
            "MPCS_IMAGE": "mpcs:test",
        }
        self.proc = spawn(
            [sys.executable, "-m", "mpcs.core.cli", "operator", "run", "--standalone"],
            log=self.log,
            env={**os.environ, **env},
            die_with_parent=True,
        )

    def stop(self, *, hard: bool = False) -> None:
        if self.proc is not None:
            if hard:
                self.proc.kill()
                self.proc.wait()
            else:
                stop_group(self.proc.pid, proc=self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop(hard=True)
        self.start()


@pytest.fixture(scope="session")
def operator(operator_kubeconfig: Path, stack: DevStack) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        kubeconfig=operator_kubeconfig,
        stack=stack,
        log=stack.root / "logs" / "operator.log",
        metrics_port=free_port(),
    )
    register_log("operator", process.log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
