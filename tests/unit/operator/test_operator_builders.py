"""Pure builders: the exact children a Mission and a Satellite get, without any server."""

from __future__ import annotations

import datetime as dt
import doctest
from typing import Any

import yaml
from utils.kube import EXAMPLES

from mpcs.core import names, resources
from mpcs.operator import builders, conditions
from mpcs.operator.handlers import telemetry_flowing
from mpcs.operator.influx_buckets import _parse_last_times
from mpcs.operator.settings import OperatorSettings
from mpcs.simulator import SatelliteSpec as SimulatorSpec

OWNER = {
    "apiVersion": "mpcs.io/v1alpha1",
    "kind": "Mission",
    "name": "wildfire",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
SETTINGS = OperatorSettings(kafka_bootstrap="k:9092", influx_url="http://i:8086", image="mpcs:t")


def _example(kind: str) -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return dict(doc)
    raise AssertionError(kind)


def test_conditions_doctest() -> None:
    assert doctest.testmod(conditions).failed == 0


def test_mission_topics_follow_the_spec() -> None:
    spec = {"kafka": {"partitions": 6, "replicationFactor": 1, "retentionHours": 24}}
    topics = builders.mission_topics("ops", "wildfire", spec)
    assert [t.name for t in topics] == list(names.mission_topics("ops", "wildfire").values())
    assert {t.partitions for t in topics} == {6}
    assert {t.configs["retention.ms"] for t in topics} == {str(24 * 3_600_000)}


def test_mission_workloads_are_owned_labelled_and_use_one_image() -> None:
    objs = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec={"commandApi": {"replicas": 2}},
        settings=SETTINGS,
    )
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
    assert kinds == [
        "Deployment/wildfire-command-api",
        "Deployment/wildfire-ingest",
        "Role/wildfire-workloads",
        "RoleBinding/wildfire-workloads",
        "Service/wildfire-command-api",
        "ServiceAccount/wildfire-workloads",
    ]
    for obj in objs:
        assert obj["metadata"]["ownerReferences"] == [OWNER]
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mpcs-operator"
        assert obj["metadata"]["labels"]["mpcs.io/mission"] == "wildfire"
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    api = deployments["wildfire-command-api"]
    assert api["spec"]["replicas"] == 2
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["command"]) == ("mpcs:t", ["mpcs"])
    assert container["args"][:2] == ["api", "serve"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MPCS_INFLUX_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "wildfire-influxdb"
    assert env["MPCS_API_TOKEN_ADMIN"]["valueFrom"]["secretKeyRef"] == {
        "name": "wildfire-api-tokens",
        "key": "admin",
    }
    # The Service selects exactly the command-API pods.
    service = next(o for o in objs if o["kind"] == "Service")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())


def test_satellite_children_carry_a_valid_simulator_spec_and_roll_on_change() -> None:
    sat = _example("Satellite")
    model = resources.SatelliteSpec.model_validate(sat["spec"])
    station = builders.station_for_simulator(
        "svalbard", {"latitudeDeg": 78.2, "longitudeDeg": 15.4, "altitudeM": 500}
    )
    config = model.simulator_config([station])
    owner = {**OWNER, "kind": "Satellite", "name": sat["metadata"]["name"]}
    children = builders.satellite_children(
        namespace="ops",
        satellite=sat["metadata"]["name"],
        mission="wildfire",
        owner=owner,
        config=config,
        settings=SETTINGS,
    )
    config_map, deployment = children
    import json

    parsed = SimulatorSpec.from_dict(json.loads(config_map["data"]["satellite.json"]))
    assert parsed.simulator.ground_stations[0].name == "svalbard"
    first = deployment["spec"]["template"]["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION]
    sat["spec"]["tle"]["line2"] = sat["spec"]["tle"]["line2"]  # unchanged → same hash
    again = builders.satellite_children(
        namespace="ops",
        satellite="x",
        mission="wildfire",
        owner=owner,
        config=config,
        settings=SETTINGS,
    )[1]
    assert (
        again["spec"]["template"]["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION] == first
    )
    changed = dict(config, telemetryIntervalSeconds=1)
    rolled = builders.satellite_children(
        namespace="ops",
        satellite="x",
        mission="wildfire",
        owner=owner,
        config=changed,
        settings=SETTINGS,
    )[1]
    assert (
        rolled["spec"]["template"]["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION]
        != first
    )


def test_disabled_simulator_scales_to_zero() -> None:
    children = builders.satellite_children(
        namespace="ops",
        satellite="s",
        mission="m",
        owner=OWNER,
        config={"simulator": {"enabled": False}},
        settings=SETTINGS,
    )
    assert children[1]["spec"]["replicas"] == 0


def test_child_names_stay_dns_labels() -> None:
    long_name = "s" * 63
    children = builders.satellite_children(
        namespace="ops", satellite=long_name, mission="m", owner=OWNER, config={}, settings=SETTINGS
    )
    assert all(len(c["metadata"]["name"]) <= 63 for c in children)


def test_telemetry_flowing_rules() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert telemetry_flowing(None, interval_s=10, now=now)[:2] == (None, "NoTelemetryYet")
    fresh = now - dt.timedelta(seconds=20)
    assert telemetry_flowing(fresh, interval_s=10, now=now)[:2] == (True, "Flowing")
    stale = now - dt.timedelta(seconds=120)
    assert telemetry_flowing(stale, interval_s=10, now=now)[:2] == (False, "Stale")
    # A scaled spacecraft clock runs ahead of the wall clock: still flowing.
    ahead = now + dt.timedelta(hours=1)
    assert telemetry_flowing(ahead, interval_s=10, now=now)[0] is True


def test_last_times_parsed_from_flux_csv() -> None:
    csv = (
        ",result,table,_time,satellite\r\n"
        ",_result,0,2026-01-01T00:00:10Z,firewatch-1\r\n"
        ",_result,1,2026-01-01T00:00:12.5Z,firewatch-2\r\n\r\n"
    )
    times = _parse_last_times(csv)
    assert times["firewatch-2"] == dt.datetime(2026, 1, 1, 0, 0, 12, 500000, tzinfo=dt.UTC)
    assert set(times) == {"firewatch-1", "firewatch-2"}
