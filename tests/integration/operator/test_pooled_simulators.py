"""Pooled simulation against the real apiserver: a Mission with `simulation.pods: 2` and five
Satellites gets two simulator pods (ConfigMap + Deployment each) with the Satellites split between
them and no per-Satellite simulator; deleting a Satellite rebalances without moving the others;
shrinking the pool to one removes the second pod."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom, eventually, examples

from mpcs.operator import builders

pytestmark = pytest.mark.integration

SATELLITES = ["pool-a", "pool-b", "pool-c", "pool-d", "pool-e"]


def _manifests() -> list[dict[str, Any]]:
    docs = examples()
    stations = [d for d in docs if d["kind"] == "GroundStation"]
    mission = copy.deepcopy(next(d for d in docs if d["kind"] == "Mission"))
    mission["spec"]["simulation"] = {"pods": 2}
    template = next(d for d in docs if d["kind"] == "Satellite")
    satellites = []
    for name in SATELLITES:
        sat = copy.deepcopy(template)
        sat["metadata"] = {"name": name}
        satellites.append(sat)
    return [*stations, mission, *satellites]


def _shards(kube_client: ApiClient, namespace: str, mission: str) -> dict[int, list[str]]:
    """Shard → its Satellites, from the pods' ConfigMaps that exist."""
    core = k8s.CoreV1Api(kube_client)
    result: dict[int, list[str]] = {}
    for shard in range(3):
        try:
            cm = core.read_namespaced_config_map(builders.pool_name(mission, shard), namespace)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        data = json.loads(cm.data[builders.POOL_CONFIG_KEY])
        assert data["shard"] == shard
        result[shard] = [s["name"] for s in data["satellites"]]
    return result


def _deployments(kube_client: ApiClient, namespace: str) -> dict[str, Any]:
    apps = k8s.AppsV1Api(kube_client)
    return {d.metadata.name: d for d in apps.list_namespaced_deployment(namespace).items}


def test_pooled_mission_shards_its_satellites_and_rebalances(
    kube_client: ApiClient, namespace: str, operator: Any
) -> None:
    custom = Custom(kube_client, namespace)
    for obj in _manifests():
        custom.create(obj)
    mission = "wildfire"

    def split() -> dict[int, list[str]] | None:
        shards = _shards(kube_client, namespace, mission)
        names = sorted(n for members in shards.values() for n in members)
        return shards if sorted(shards) == [0, 1] and names == SATELLITES else None

    shards = eventually(split, timeout_s=60, what="two shards holding the five Satellites")
    assert sorted(len(m) for m in shards.values()) == [2, 3]

    deployments = _deployments(kube_client, namespace)
    for shard in (0, 1):
        deployment = deployments[builders.pool_name(mission, shard)]
        owner = deployment.metadata.owner_references[0]
        assert (owner.kind, owner.name) == ("Mission", mission)
        labels = deployment.metadata.labels
        assert labels["app.kubernetes.io/component"] == builders.SIMULATOR_POOL
        assert labels[builders.SHARD_LABEL] == str(shard)
        assert deployment.spec.template.spec.containers[0].args == ["sim", "pool"]
    for name in SATELLITES:
        custom.wait_phase("satellites", name, "Ready", timeout_s=60)
        condition = custom.condition("satellites", name, "SimulatorReady")
        assert condition is not None
        assert condition["reason"] == "Pooled"
    assert not any(n.endswith("-simulator") for n in _deployments(kube_client, namespace))

    # One Satellite goes: it leaves its shard and nobody else moves.
    gone = shards[0][0]
    custom.delete("satellites", gone)
    before = {n: shard for shard, members in shards.items() for n in members}

    def rebalanced() -> dict[int, list[str]] | None:
        now = _shards(kube_client, namespace, mission)
        names = sorted(n for members in now.values() for n in members)
        return now if names == sorted(set(SATELLITES) - {gone}) else None

    after = eventually(rebalanced, timeout_s=60, what=f"{gone} removed from its shard")
    assert {n: shard for shard, members in after.items() for n in members} == {
        n: s for n, s in before.items() if n != gone
    }

    # The pool shrinks to one pod: the second goes, the first flies every Satellite.
    custom.patch("missions", mission, {"spec": {"simulation": {"pods": 1}}})

    def one_pod() -> dict[int, list[str]] | None:
        now = _shards(kube_client, namespace, mission)
        pods = [n for n in _deployments(kube_client, namespace) if "-simulator-" in n]
        return now if list(now) == [0] and len(now[0]) == 4 and len(pods) == 1 else None

    eventually(one_pod, timeout_s=60, what="one simulator pod with the four Satellites")
