"""End-to-end tier: the operator plus the local runner standing in for a kubelet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient

from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import DevStack


@pytest.fixture(scope="module")
def runner(stack: DevStack, kube_client: ApiClient, operator: object) -> Iterator[LocalRunner]:
    """Runs every operator-created Deployment of the MPCS image as local processes, each
    replica under its pod's ServiceAccount token (never the admin kubeconfig, which only lends
    the runner the apiserver's URL and CA), with its probes honoured."""
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / "workloads",
        targets_dir=stack.prometheus.targets_dir,
    )
    with local.running():
        yield local
