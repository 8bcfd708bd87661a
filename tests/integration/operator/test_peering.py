"""Two operator replicas in one Kopf peering: exactly one acts; the standby takes over.

Both replicas are real `mpcs operator run` processes under the operator's ClusterRole, watching
only this test's namespace (so they meet in a KopfPeering there, which the first one creates).
Which replica acted is read from each one's own Prometheus counter of Satellite reconciles.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom, eventually, examples
from utils.logs import register_log
from utils.operator import OperatorProcess

from mpcs.core.resources.peering import NAMESPACED_PEERING, PEERING_GROUP, PEERING_VERSION
from mpcs.dev.cluster import operator_kubeconfig
from mpcs.dev.process import free_port
from mpcs.dev.stack import DevStack

pytestmark = pytest.mark.integration

PEERING = "mpcs-operator"
LIFETIME_S = 6  # how long a silently dead replica still counts as alive


def _satellite_reconciles(replica: OperatorProcess) -> float:
    text = httpx.get(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=5).text
    return sum(
        float(m.group(1))
        for m in re.finditer(
            r'^mpcs_operator_reconciles_total\{kind="Satellite"[^}]*\} (\S+)$', text, re.M
        )
    )


def _peers(kube_client: ApiClient, namespace: str) -> dict[str, Any]:
    try:
        obj = k8s.CustomObjectsApi(kube_client).get_namespaced_custom_object(
            PEERING_GROUP, PEERING_VERSION, namespace, NAMESPACED_PEERING.plural, PEERING
        )
    except ApiException as exc:
        if exc.status == 404:  # the first replica has not created it yet
            return {}
        raise
    return dict(obj.get("status") or {})


def _orphan_satellite(name: str) -> dict[str, Any]:
    """A Satellite whose Mission does not exist: whoever is active marks it WaitingForMission."""
    sat = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    sat["metadata"] = {"name": name}
    sat["spec"]["missionRef"] = {"name": "no-such-mission"}
    return sat


def _phase(custom: Custom, name: str) -> str | None:
    status = (custom.get("satellites", name) or {}).get("status") or {}
    phase: str | None = status.get("phase")
    return phase


@pytest.fixture
def replicas(
    kube_client: ApiClient, stack: DevStack, crds: None, namespace: str
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    kubeconfig = operator_kubeconfig(
        kube_client,
        admin_kubeconfig=stack.apiserver.kubeconfig,
        out=stack.root / "operator.kubeconfig",
    )
    pair = tuple(
        OperatorProcess(
            kubeconfig=kubeconfig,
            stack=stack,
            log=stack.root / "logs" / f"operator-peer-{label}.log",
            metrics_port=free_port(),
            standalone=False,
            namespaces=[namespace],
            extra_env={"MPCS_PEERING_LIFETIME": str(LIFETIME_S)},
        )
        for label in ("a", "b")
    )
    for replica in pair:
        register_log(replica.log.stem, replica.log)
    try:
        yield pair[0], pair[1]
    finally:
        for replica in pair:
            replica.stop()


def test_one_replica_active_and_standby_takes_over(
    replicas: tuple[OperatorProcess, OperatorProcess], kube_client: ApiClient, namespace: str
) -> None:
    first, second = replicas
    custom = Custom(kube_client, namespace)
    first.start()
    eventually(lambda: len(_peers(kube_client, namespace)) == 1, what="first replica registered")
    second.start()
    peers = eventually(
        lambda: (p := _peers(kube_client, namespace)) and len(p) == 2 and p,
        what="second replica registered",
    )
    # The longest-running replica ranks highest; a replica starts paused until it knows that.
    priorities = sorted((peer["priority"] for peer in peers.values()), reverse=True)
    assert priorities[0] > priorities[1], peers

    custom.create(_orphan_satellite("while-both-run"))
    eventually(lambda: _phase(custom, "while-both-run") == "WaitingForMission")
    assert _satellite_reconciles(first) > 0
    assert _satellite_reconciles(second) == 0, "the standby reconciled while the active one ran"

    first.stop(hard=True)  # no goodbye: the standby waits out the lifetime, then resumes
    custom.create(_orphan_satellite("after-failover"))
    eventually(
        lambda: _phase(custom, "after-failover") == "WaitingForMission",
        timeout_s=LIFETIME_S + 45,
        what="the standby took over",
    )
    assert _satellite_reconciles(second) > 0
    assert "Resuming operations" in second.log.read_text()
