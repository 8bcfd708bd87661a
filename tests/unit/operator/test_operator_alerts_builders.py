"""The alerts runner's Deployment, its credentials Secret and the workloads' Role, without a server.

The runner reads MPCS_ALERTS_MISSIONS with the handler's own settings model, so the test parses
what the builder wrote with it: a rule the operator serialises differently from the CRD would fail
here, not in the cluster.
"""

from __future__ import annotations

import json
from typing import Any

from utils.owners import mission_owner

from mpcs.core import names, resources
from mpcs.lambdas.settings import load as load_alerts_settings
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()
TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:mpcs-alerts.fifo"
SETTINGS = OperatorSettings(
    kafka_bootstrap="k:9092",
    influx_url="http://i:8086",
    image="mpcs:t",
    alerts_topic_arn=TOPIC_ARN,
    alerts_table="alerts-t",
    aws_region="us-east-1",
    aws_endpoint_url="http://moto:5000",
)
RULES: list[dict[str, Any]] = [
    {
        "name": "battery-low",
        "channel": "power.battery_soc_pct",
        "operator": "<",
        "threshold": 25,
        "clearThreshold": 30,
        "forSeconds": 10,
        "severity": "critical",
    },
    {"name": "silent", "kind": "stale", "staleSeconds": 120},
]


def _spec(rules: list[dict[str, Any]]) -> resources.MissionSpec:
    return resources.MissionSpec.model_validate({"alerts": rules})


def _deployment(rules: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return builders.alerts_deployment(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=_spec(rules),
        settings=SETTINGS.model_copy(update=settings),
        aws_secret="wildfire-aws",
    )


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_runner_deployment_runs_the_lambda_command_under_the_workloads_account() -> None:
    deployment = _deployment(RULES)
    assert deployment["metadata"]["name"] == "wildfire-alerts"
    assert deployment["metadata"]["ownerReferences"] == [OWNER]
    labels = deployment["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "alerts"
    assert labels["mpcs.io/mission"] == "wildfire"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "wildfire-workloads"
    (container,) = pod["containers"]
    assert (container["command"], container["args"]) == (["mpcs"], ["lambdas", "run-alerts"])
    assert container["ports"] == [{"name": "metrics", "containerPort": names.METRICS_PORT}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_the_runner_env_carries_the_rules_the_handler_parses(monkeypatch: Any) -> None:
    env = _env(_deployment(RULES))
    assert env["MPCS_NAMESPACE"] == "ops"
    assert env["MPCS_MISSION"] == "wildfire"
    assert env["MPCS_ALERTS_TOPIC_ARN"] == TOPIC_ARN
    assert env["MPCS_ALERTS_TABLE"] == "alerts-t"
    assert env["MPCS_AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert env["MPCS_AWS_REGION"] == "us-east-1"
    assert env["MPCS_METRICS_PORT"] == str(names.METRICS_PORT)
    assert env["MPCS_INFLUX_TOKEN"] == {
        "secretKeyRef": {"name": "wildfire-influxdb", "key": "token"}
    }
    assert env["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "wildfire-aws", "key": "AWS_ACCESS_KEY_ID"}
    }
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    parsed = load_alerts_settings()
    mission = parsed.alerts_missions["ops/wildfire"]
    assert [r.name for r in mission.rules] == ["battery-low", "silent"]
    assert mission.rules[0].clear_threshold == 30
    assert mission.rules[0].for_seconds == 10
    assert mission.rules[1].stale_seconds == 120
    assert mission.api_url == builders.command_api_endpoint("ops", "wildfire")
    stale = json.loads(env["MPCS_ALERTS_MISSIONS"])["ops/wildfire"]["rules"][1]
    assert (stale["kind"], stale["staleSeconds"]) == ("stale", 120)
    assert parsed.alerts_retention_days == 90


def test_the_runner_gets_the_operators_alert_retention(monkeypatch: Any) -> None:
    env = _env(_deployment(RULES, alerts_retention_days=7))
    assert env["MPCS_ALERTS_RETENTION_DAYS"] == "7"
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    assert load_alerts_settings().alerts_retention_days == 7


def test_a_rule_change_rolls_the_deployment_and_nothing_else_does() -> None:
    def rolled(deployment: dict[str, Any]) -> str:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return str(annotations[builders.SPEC_HASH_ANNOTATION])

    same = rolled(_deployment(RULES))
    assert rolled(_deployment(RULES)) == same
    changed = [{**RULES[0], "threshold": 20}, RULES[1]]
    assert rolled(_deployment(changed)) != same
    assert rolled(_deployment(RULES, aws_endpoint_url="http://elsewhere:5000")) != same


def test_without_credentials_no_aws_keys_are_passed() -> None:
    deployment = builders.alerts_deployment(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=_spec(RULES),
        settings=SETTINGS,
        aws_secret=None,
    )
    env = _env(deployment)
    assert "AWS_ACCESS_KEY_ID" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_the_credentials_secret_is_owned_by_the_mission() -> None:
    secret = builders.aws_credentials_secret(
        namespace="ops", mission="wildfire", owner=OWNER, access_key_id="k", secret_access_key="s"
    )
    assert secret["metadata"]["name"] == builders.aws_secret_name("wildfire") == "wildfire-aws"
    assert secret["metadata"]["ownerReferences"] == [OWNER]
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}


def test_the_workloads_role_lets_the_runner_set_conditions_and_raise_events() -> None:
    objs = builders.mission_workloads(
        namespace="ops", mission="wildfire", owner=OWNER, spec=_spec(RULES), settings=SETTINGS
    )
    (role,) = [o for o in objs if o["kind"] == "Role"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for needed in [
        ("mpcs.io", "satellites", "get"),
        ("mpcs.io", "satellites", "list"),
        ("mpcs.io", "satellites/status", "get"),
        ("mpcs.io", "satellites/status", "patch"),
        ("", "events", "create"),
    ]:
        assert needed in granted, needed


def test_the_command_api_gets_the_alerts_table_and_credentials() -> None:
    objs = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=_spec(RULES),
        settings=SETTINGS,
        aws_secret="wildfire-aws",
    )
    (api,) = [
        o
        for o in objs
        if o["metadata"]["name"] == "wildfire-command-api" and o["kind"] == "Deployment"
    ]
    env = _env(api)
    assert env["MPCS_ALERTS_TABLE"] == "alerts-t"
    assert env["MPCS_AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "wildfire-aws", "key": "AWS_SECRET_ACCESS_KEY"}
    }
