"""Pooled simulation: the shard assignment (balanced, deterministic, minimal moves) and the
pooled simulator pods' children, without any server."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import yaml
from utils.doctests import run_doctests
from utils.kube import EXAMPLES
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.core.resources.simulation import NamedGroundStation, PoolConfig
from mpcs.operator import builders, sharding
from mpcs.operator.settings import OperatorSettings

SETTINGS = OperatorSettings(kafka_bootstrap="k:9092", influx_url="http://i:8086", image="mpcs:t")


def _names(n: int, prefix: str = "sat") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def _loads(assignment: dict[str, int], pods: int) -> list[int]:
    return [len(members) for members in sharding.shards(assignment, pods=pods)]


def test_doctests() -> None:
    run_doctests(sharding)


def test_every_satellite_gets_one_pod_and_no_pod_holds_more_than_its_share() -> None:
    for n, pods in [(1, 1), (5, 2), (7, 3), (100, 8), (1000, 7), (3, 5)]:
        assignment = sharding.assign(_names(n), pods=pods)
        assert sorted(assignment) == _names(n)
        assert set(assignment.values()) <= set(range(pods))
        loads = _loads(assignment, pods)
        assert max(loads) <= sharding.share(n, pods)
        assert max(loads) - min(loads) <= 1  # filled from empty: least loaded first


def test_the_assignment_depends_on_the_inputs_only() -> None:
    names = _names(200)
    shuffled = random.Random(7).sample(names, len(names))
    previous = sharding.assign(names[:150], pods=4)
    assert sharding.assign(names, pods=4, previous=previous) == sharding.assign(
        shuffled, pods=4, previous=dict(reversed(list(previous.items())))
    )


def test_adding_a_satellite_moves_no_other() -> None:
    names = _names(101)
    before = sharding.assign(names[:100], pods=4)
    after = sharding.assign(names, pods=4, previous=before)
    assert sharding.moves(before, after) == 0
    assert max(_loads(after, 4)) <= sharding.share(101, 4)


def test_removing_satellites_moves_at_most_what_the_smaller_share_forces() -> None:
    names = _names(100)
    before = sharding.assign(names, pods=4)
    for removed in (1, 5, 30):
        gone = set(random.Random(removed).sample(names, removed))
        kept = [n for n in names if n not in gone]
        after = sharding.assign(kept, pods=4, previous=before)
        cap = sharding.share(len(kept), 4)
        overfull = sum(max(0, load - cap) for load in _loads({n: before[n] for n in kept}, 4))
        assert sharding.moves(before, after) == overfull
        assert max(_loads(after, 4)) <= cap


def test_one_satellite_removed_moves_nothing_when_the_share_stays() -> None:
    names = _names(10)
    before = sharding.assign(names, pods=2)  # 5 + 5, share 5
    after = sharding.assign(names[1:], pods=2, previous=before)  # share still 5
    assert sharding.moves(before, after) == 0


def test_growing_the_pool_moves_only_what_the_new_pods_take() -> None:
    names = _names(120)
    before = sharding.assign(names, pods=3)
    after = sharding.assign(names, pods=4, previous=before)
    assert _loads(after, 4) == [30, 30, 30, 30]
    assert sharding.moves(before, after) == 30


def test_shrinking_the_pool_moves_only_the_removed_pods_satellites() -> None:
    names = _names(120)
    before = sharding.assign(names, pods=4)
    after = sharding.assign(names, pods=3, previous=before)
    on_removed = sum(1 for pod in before.values() if pod == 3)
    assert sharding.moves(before, after) == on_removed
    assert max(_loads(after, 3)) == 40


def _example_satellite() -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Satellite":
                return dict(doc)
    raise AssertionError("no Satellite example")


def test_pool_children_are_owned_labelled_and_name_their_shard() -> None:
    sat = _example_satellite()
    spec = resources.SatelliteSpec.model_validate(sat["spec"])
    station = NamedGroundStation.model_validate(
        {"name": "toulouse", "spec": {"latitudeDeg": 43.6, "longitudeDeg": 1.4}}
    )
    wire = [builders.pooled_satellite(name, spec) for name in ("a", "b")]
    config = builders.pool_config(shard=1, pods=2, satellites=wire, stations=[station])
    configmap, deployment = builders.pool_children(
        namespace="ops", mission="wildfire", owner=mission_owner(), config=config, settings=SETTINGS
    )
    for obj in (configmap, deployment):
        meta = obj["metadata"]
        assert meta["name"] == "wildfire-simulator-1"
        assert meta["ownerReferences"] == [mission_owner()]
        assert meta["labels"]["app.kubernetes.io/component"] == builders.SIMULATOR_POOL
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "mpcs-operator"
        assert meta["labels"]["mpcs.io/mission"] == "wildfire"
        assert meta["labels"][builders.SHARD_LABEL] == "1"
    # The pod reads exactly this back, defaults included.
    parsed = PoolConfig.model_validate_json(configmap["data"][builders.POOL_CONFIG_KEY])
    assert [s.name for s in parsed.satellites] == ["a", "b"]
    assert parsed.satellites[0].spec == spec
    assert parsed.ground_stations == [station]
    assert (parsed.shard, parsed.pods) == (1, 2)
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector[builders.SHARD_LABEL] == "1"
    assert all(template["metadata"]["labels"][k] == v for k, v in selector.items())
    container = template["spec"]["containers"][0]
    assert container["args"] == ["sim", "pool"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MPCS_SIM_POOL_CONFIGMAP"] == "wildfire-simulator-1"
    assert template["spec"]["serviceAccountName"] == "wildfire-workloads"
    # The shard's Satellites are not in the template: a rebalance never rolls the pod.
    other = builders.pool_config(shard=1, pods=2, satellites=wire[:1], stations=[])
    _, same = builders.pool_children(
        namespace="ops", mission="wildfire", owner=mission_owner(), config=other, settings=SETTINGS
    )
    assert json.dumps(same, sort_keys=True) == json.dumps(deployment, sort_keys=True)


def test_a_pooled_missions_workloads_may_read_only_their_pool_configmaps() -> None:
    def configmap_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
        objs = builders.mission_workloads(
            namespace="ops",
            mission="wildfire",
            owner=mission_owner(),
            spec=resources.MissionSpec.model_validate(spec),
            settings=SETTINGS,
        )
        role = next(o for o in objs if o["kind"] == "Role")
        return [r for r in role["rules"] if "configmaps" in r["resources"]]

    assert configmap_rules({}) == []
    assert configmap_rules({"simulation": {"pods": 2}}) == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["wildfire-simulator-0", "wildfire-simulator-1"],
            "verbs": ["get"],
        }
    ]


def test_a_pooled_satellite_is_about_250_bytes_on_the_wire() -> None:
    spec = resources.SatelliteSpec.model_validate(_example_satellite()["spec"])
    size = len(json.dumps(builders.pooled_satellite("sat-00001", spec), separators=(",", ":")))
    assert size < 450  # a 1 MiB ConfigMap then holds a few thousand Satellites per pod


def test_the_ingest_scales_by_replicas_up_to_the_partitions() -> None:
    spec = resources.MissionSpec.model_validate(
        {"kafka": {"partitions": 6}, "ingest": {"replicas": 3}}
    )
    objs = builders.mission_workloads(
        namespace="ops", mission="wildfire", owner=mission_owner(), spec=spec, settings=SETTINGS
    )
    ingest = next(o for o in objs if o["metadata"]["name"] == "wildfire-ingest")
    assert ingest["spec"]["replicas"] == 3
    with pytest.raises(ValueError, match=r"must not exceed kafka\.partitions"):
        resources.MissionSpec.model_validate({"ingest": {"replicas": 4}})  # 3 partitions
