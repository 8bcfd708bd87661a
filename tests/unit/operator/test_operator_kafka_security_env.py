"""The operator passes its Kafka security settings to every workload it builds that uses Kafka.

Each Deployment with `MPCS_KAFKA_BOOTSTRAP` gets the same `MPCS_KAFKA_*` security variables next
to it (the settings' own `env()`), never the SASL password; a workload parsing its env gets the
operator's `KafkaSecurity`.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from utils.kube import EXAMPLES
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.core.resources.simulation import NamedGroundStation, SimulatorConfig
from mpcs.kit.settings import ServiceSettings, load_settings
from mpcs.operator import builders
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
        assert kafka == [
            {"name": "MPCS_KAFKA_BOOTSTRAP", "value": settings.kafka_bootstrap},
            *expected,
        ], name
        assert "MPCS_KAFKA_SASL_PASSWORD" not in {e["name"] for e in env}, name
        assert "s3cret" not in repr(env), name


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
