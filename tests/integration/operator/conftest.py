"""The operator under test: a real `mpcs operator run` process, under its own ClusterRole.

It authenticates with a ServiceAccount token bound to the ClusterRole from `mpcs.operator.rbac`
— never as cluster-admin — so every test here also proves that role is sufficient.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client import ApiClient
from utils.logs import register_log

from mpcs.dev.cluster import install_crds
from mpcs.dev.cluster import operator_kubeconfig as operator_kubeconfig_for
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import DevStack

RESYNC_SECONDS = "3"


@pytest.fixture(scope="session")
def crds(kube_client: ApiClient) -> None:
    install_crds(kube_client)


@pytest.fixture(scope="session")
def operator_kubeconfig(kube_client: ApiClient, stack: DevStack, crds: None) -> Path:
    """A kubeconfig holding the operator ServiceAccount's token (RBAC-limited)."""
    return operator_kubeconfig_for(
        kube_client,
        admin_kubeconfig=stack.apiserver.kubeconfig,
        out=stack.root / "operator.kubeconfig",
    )


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
