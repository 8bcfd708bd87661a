"""The operator passes its Kafka security settings to every workload it builds that uses Kafka.

Each Deployment with `MPCS_KAFKA_BOOTSTRAP` gets the same `MPCS_KAFKA_*` security variables next
to it (the settings' own `env()`); with PLAIN/SCRAM also `MPCS_KAFKA_SASL_PASSWORD`, never as a
value but as a `secretKeyRef` to the mission's `<mission>-kafka` Secret, the namespace's copy of
the operator's password that the Mission's reconcile writes (and deletes when there is none to
pass); a workload parsing its env gets the operator's `KafkaSecurity`.
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest
import yaml
from utils.kube import EXAMPLES
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.core.resources.simulation import NamedGroundStation, SimulatorConfig
from mpcs.kit.settings import ServiceSettings, load_settings
from mpcs.operator import builders
from mpcs.operator.objects import ObjectMeta
from mpcs.operator.reconcile import mission as mission_reconcile
from mpcs.operator.settings import OperatorSettings

MSK = OperatorSettings(
    kafka_bootstrap="b-1.msk:9098",
    kafka_security_protocol="SASL_SSL",
    kafka_sasl_mechanism="OAUTHBEARER",
    kafka_sasl_token_provider="aws-msk-iam",
    kafka_aws_region="eu-west-1",
    influx_url="http://i:8086",
    image="mpcs:t",
    alerts_topic_arn="arn:aws:sns:eu-west-1:123456789012:a.fifo",
    archive_bucket="archive",
)
SCRAM = OperatorSettings(
    kafka_bootstrap="k:9093",
    kafka_security_protocol="SASL_PLAINTEXT",
    kafka_sasl_mechanism="SCRAM-SHA-512",
    kafka_sasl_username="mpcs",
    kafka_sasl_password="s3cret",  # type: ignore[arg-type]  # pydantic makes it a SecretStr
    influx_url="http://i:8086",
    image="mpcs:t",
)


def _satellite() -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Satellite":
                return dict(doc)
    raise AssertionError("no Satellite example")


def _deployments(settings: OperatorSettings) -> list[dict[str, Any]]:
    owner = mission_owner()
    spec = resources.MissionSpec.model_validate({})
    sat = _satellite()
    sat_spec = resources.SatelliteSpec.model_validate(sat["spec"])
    station = NamedGroundStation.model_validate(
        {"name": "toulouse", "spec": {"latitudeDeg": 43.6, "longitudeDeg": 1.4}}
    )
    config = SimulatorConfig(satellite="sat-a", spec=sat_spec, ground_stations=[station])
    pool = builders.pool_config(
        shard=0, pods=1, satellites=[builders.pooled_satellite("sat-a", sat_spec)], stations=[]
    )
    common = {"namespace": "ops", "mission": "wildfire", "owner": owner, "settings": settings}
    objs = [
        *builders.mission_workloads(spec=spec, **common),
        *builders.satellite_children(config=config, **common),
        *builders.pool_children(config=pool, **common),
    ]
    if settings.alerts_topic_arn:
        objs.append(builders.alerts_deployment(spec=spec, aws_secret=None, **common))
    if settings.archive_bucket:
        objs.append(builders.archive_deployment(aws_secret=None, **common))
    return [o for o in objs if o["kind"] == "Deployment"]


def _kafka_envs(settings: OperatorSettings) -> dict[str, list[dict[str, Any]]]:
    envs = {}
    for deployment in _deployments(settings):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = container.get("env", [])
            if any(e["name"] == "MPCS_KAFKA_BOOTSTRAP" for e in env):
                envs[deployment["metadata"]["name"]] = env
    return envs


@pytest.mark.parametrize("settings", [MSK, SCRAM], ids=["msk-iam", "scram"])
def test_every_kafka_workload_gets_the_operators_security(settings: OperatorSettings) -> None:
    envs = _kafka_envs(settings)
    assert {"wildfire-ingest", "wildfire-command-api", "sat-a-simulator"} <= set(envs)
    expected = settings.kafka_security.env()
    for name, env in envs.items():
        kafka = [e for e in env if e["name"].startswith("MPCS_KAFKA_")]
        password = (
            [
                {
                    "name": "MPCS_KAFKA_SASL_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "wildfire-kafka", "key": "password"}},
                }
            ]
            if settings is SCRAM
            else []
        )
        assert kafka == [
            {"name": "MPCS_KAFKA_BOOTSTRAP", "value": settings.kafka_bootstrap},
            *expected,
            *password,
        ], name
        assert "s3cret" not in repr(env), name  # where the password is, never the password


def test_a_workload_parses_the_env_into_the_operators_security(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _kafka_envs(MSK)["wildfire-ingest"]
    for var in ("MPCS_KAFKA_CA_FILE", "MPCS_KAFKA_SASL_USERNAME", "MPCS_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    for e in env:
        if e["name"].startswith("MPCS_KAFKA_"):
            monkeypatch.setenv(e["name"], e["value"])
    assert load_settings(ServiceSettings).kafka_security == MSK.kafka_security


def test_a_workload_resolving_its_secret_gets_the_operators_scram_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The env as the kubelet resolves it (the Secret's key for the secretKeyRef) parses into
    the operator's own KafkaSecurity, password included."""
    env = _kafka_envs(SCRAM)["sat-a-simulator"]
    secret = builders.kafka_password_secret(
        namespace="ops", mission="wildfire", owner=mission_owner(), password="s3cret"
    )
    for var in ("MPCS_KAFKA_CA_FILE", "MPCS_KAFKA_SASL_TOKEN_PROVIDER", "MPCS_KAFKA_AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    for e in env:
        if not e["name"].startswith("MPCS_KAFKA_"):
            continue
        if "valueFrom" in e:
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"]
            monkeypatch.setenv(e["name"], secret["stringData"][ref["key"]])
        else:
            monkeypatch.setenv(e["name"], e["value"])
    assert load_settings(ServiceSettings).kafka_security == SCRAM.kafka_security


def test_the_mission_secret_is_owned_by_the_mission_and_labelled() -> None:
    owner = mission_owner()
    secret = builders.kafka_password_secret(
        namespace="ops", mission="wildfire", owner=owner, password="s3cret"
    )
    assert secret["metadata"]["name"] == "wildfire-kafka"
    assert secret["metadata"]["namespace"] == "ops"
    assert secret["metadata"]["ownerReferences"] == [owner]
    assert secret["metadata"]["labels"]["mpcs.io/mission"] == "wildfire"
    assert secret["stringData"] == {"password": "s3cret"}


class _Kube:
    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(obj)
        return obj

    async def delete(self, obj: dict[str, Any]) -> None:
        self.deleted.append(obj)


class _Services:
    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.kube = _Kube()


def _meta(uid: str) -> ObjectMeta:
    return ObjectMeta.of(
        kopf.Body(
            {
                "apiVersion": "mpcs.io/v1alpha1",
                "kind": "Mission",
                "metadata": {"namespace": "ops", "name": "wildfire", "uid": uid, "generation": 1},
            }
        )
    )


async def test_the_reconcile_copies_the_password_into_the_missions_namespace() -> None:
    services = _Services(SCRAM)
    for _ in range(2):  # every reconcile: a password the operator restarted with replaces it
        await mission_reconcile._ensure_kafka_secret(
            services,  # type: ignore[arg-type]
            meta=_meta("uid-scram"),
            owner=mission_owner(),
        )
    assert [o["stringData"] for o in services.kube.applied] == [{"password": "s3cret"}] * 2
    assert services.kube.deleted == []


@pytest.mark.parametrize("settings", [MSK, OperatorSettings()], ids=["msk-iam", "plaintext"])
async def test_without_a_password_a_stale_copy_is_deleted_once_per_process(
    settings: OperatorSettings,
) -> None:
    services = _Services(settings)
    uid = f"uid-none-{settings.kafka_security_protocol}"
    for _ in range(3):
        await mission_reconcile._ensure_kafka_secret(
            services,  # type: ignore[arg-type]
            meta=_meta(uid),
            owner=mission_owner(),
        )
    assert services.kube.applied == []
    assert [(o["kind"], o["metadata"]["name"]) for o in services.kube.deleted] == [
        ("Secret", "wildfire-kafka")
    ]
    mission_reconcile._NO_KAFKA_SECRET.discard(uid)
