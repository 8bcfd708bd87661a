"""Pure builders: the exact children a Mission and a Satellite get, without any server."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml
from utils.doctests import run_doctests
from utils.kube import EXAMPLES
from utils.owners import mission_owner

from mpcs.core import names, resources
from mpcs.core.resources.simulation import NamedGroundStation, SimulatorConfig
from mpcs.operator import builders, conditions, objects
from mpcs.operator.influx_buckets import _parse_last_times
from mpcs.operator.reconcile.satellite import telemetry_flowing
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()
SETTINGS = OperatorSettings(kafka_bootstrap="k:9092", influx_url="http://i:8086", image="mpcs:t")


def _example(kind: str) -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return dict(doc)
    raise AssertionError(kind)


def _config(sat: dict[str, Any], stations: list[NamedGroundStation]) -> SimulatorConfig:
    return SimulatorConfig(
        satellite=sat["metadata"]["name"],
        spec=resources.SatelliteSpec.model_validate(sat["spec"]),
        ground_stations=stations,
    )


def test_doctests() -> None:
    run_doctests(conditions)
    run_doctests(objects)


def test_mission_topics_follow_the_spec() -> None:
    kafka = resources.KafkaSettings(partitions=6, replication_factor=1, retention_hours=24)
    topics = builders.mission_topics("ops", "wildfire", kafka)
    assert [t.name for t in topics] == list(names.mission_topics("ops", "wildfire").values())
    assert {t.partitions for t in topics} == {6}
    retained = [t for t in topics if not t.name.endswith(".checkpoints")]
    assert {t.configs["retention.ms"] for t in retained} == {str(24 * 3_600_000)}
    # The simulator checkpoints: the latest per satellite, kept as long as the mission lives.
    [checkpoints] = [t for t in topics if t.name == "mpcs.ops.wildfire.checkpoints"]
    assert checkpoints.configs["cleanup.policy"] == "compact"
    assert "retention.ms" not in checkpoints.configs


def test_mission_workloads_are_owned_labelled_and_use_one_image() -> None:
    objs = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=resources.MissionSpec.model_validate({"commandApi": {"replicas": 2}}),
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
    # The tokens are files of the mounted Secret (rotated in place), not variables.
    assert not any(name.startswith("MPCS_API_TOKEN_") for name in env)
    assert env["MPCS_API_TOKENS_DIR"]["value"] == "/etc/mpcs/api-tokens"
    (volume,) = api["spec"]["template"]["spec"]["volumes"]
    assert volume["secret"]["secretName"] == "wildfire-api-tokens"
    assert container["volumeMounts"] == [
        {"name": volume["name"], "mountPath": "/etc/mpcs/api-tokens", "readOnly": True}
    ]
    # The Service selects exactly the command-API pods.
    service = next(o for o in objs if o["kind"] == "Service")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())


def test_mission_defaults_come_from_the_model() -> None:
    """An empty Mission spec gets the model's defaults, and the generated token Secret."""
    spec = resources.MissionSpec.model_validate({})
    topics = builders.mission_topics("ops", "m", spec.kafka)
    assert {(t.partitions, t.replication_factor) for t in topics} == {
        (spec.kafka.partitions, spec.kafka.replication_factor)
    }
    assert builders.api_tokens_secret_name("m", spec.command_api) == "m-api-tokens"
    own = resources.MissionSpec.model_validate({"commandApi": {"authSecretName": "mine"}})
    assert builders.api_tokens_secret_name("m", own.command_api) == "mine"


def test_satellite_children_carry_the_simulator_config_and_roll_on_change() -> None:
    sat = _example("Satellite")
    gs = _example("GroundStation")
    station = NamedGroundStation(
        name=gs["metadata"]["name"],
        spec=resources.GroundStationSpec.model_validate(gs["spec"]),
    )
    config = _config(sat, [station])
    owner = {**OWNER, "kind": "Satellite", "name": sat["metadata"]["name"]}

    def children(config: SimulatorConfig) -> list[dict[str, Any]]:
        return builders.satellite_children(
            namespace="ops", mission="wildfire", owner=owner, config=config, settings=SETTINGS
        )

    config_map, deployment = children(config)
    # The ConfigMap holds exactly the SimulatorConfig the simulator reads, horizon mask included.
    parsed = SimulatorConfig.model_validate(
        json.loads(config_map["data"][builders.SIMULATOR_CONFIG_KEY])
    )
    assert parsed == config
    assert parsed.ground_stations[0].spec.horizon_mask == station.spec.horizon_mask != []
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MPCS_SATELLITE_SPEC"]["valueFrom"]["configMapKeyRef"] == {
        "name": config_map["metadata"]["name"],
        "key": builders.SIMULATOR_CONFIG_KEY,
    }
    # The simulator is told the port its probes ask.
    assert env["MPCS_METRICS_PORT"]["value"] == str(names.METRICS_PORT)
    assert {p["containerPort"] for p in container["ports"]} == {names.METRICS_PORT}

    def spec_hash(deployment: dict[str, Any]) -> str:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return str(annotations[builders.SPEC_HASH_ANNOTATION])

    assert spec_hash(children(_config(sat, [station]))[1]) == spec_hash(deployment)
    faster = dict(sat, spec={**sat["spec"], "telemetryIntervalSeconds": 1})
    assert spec_hash(children(_config(faster, [station]))[1]) != spec_hash(deployment)
    # A station change (here: it is gone) reaches the simulator too.
    assert spec_hash(children(_config(sat, []))[1]) != spec_hash(deployment)


def test_disabled_simulator_scales_to_zero() -> None:
    sat = _example("Satellite")
    sat["spec"]["simulator"] = {"enabled": False}
    children = builders.satellite_children(
        namespace="ops", mission="m", owner=OWNER, config=_config(sat, []), settings=SETTINGS
    )
    assert children[1]["spec"]["replicas"] == 0


def test_child_names_stay_dns_labels() -> None:
    sat = _example("Satellite")
    sat["metadata"]["name"] = "s" * 63
    children = builders.satellite_children(
        namespace="ops", mission="m", owner=OWNER, config=_config(sat, []), settings=SETTINGS
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
