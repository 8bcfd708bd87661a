"""The operator (a real process, under its own ClusterRole, configured with the dev stack's moto
topic and table) gives a Mission with alert rules its alerts runner, rolls it when a rule changes
and removes it when the rules go, reporting each step in `AlertsReady`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom, eventually

from mpcs.dev.stack import ALERTS_TOPIC

pytestmark = pytest.mark.integration

RULE = {
    "name": "battery-low",
    "channel": "power.battery_soc_pct",
    "operator": "<",
    "threshold": 25,
    "severity": "critical",
}


def _deployment(kube_client: ApiClient, namespace: str) -> Any:
    try:
        return k8s.AppsV1Api(kube_client).read_namespaced_deployment("wildfire-alerts", namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _env(deployment: Any) -> dict[str, str]:
    container = deployment.spec.template.spec.containers[0]
    return {e.name: e.value for e in container.env if e.value is not None}


def test_the_alerts_runner_follows_the_rules(
    kube_client: ApiClient, namespace: str, operator: Any
) -> None:
    custom = Custom(kube_client, namespace)
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": "wildfire"},
            "spec": {"groundStations": [], "alerts": [RULE]},
        }
    )

    def alerts_ready(status: str) -> dict[str, Any] | None:
        found = custom.condition("missions", "wildfire", "AlertsReady")
        return found if found and found["status"] == status else None

    ready = eventually(lambda: alerts_ready("True"), timeout_s=90, what="AlertsReady=True")
    assert ready["reason"] == "DeploymentApplied"
    deployment = eventually(lambda: _deployment(kube_client, namespace), what="the Deployment")
    container = deployment.spec.template.spec.containers[0]
    assert container.args == ["lambdas", "run-alerts"]
    assert deployment.spec.template.spec.service_account_name == "wildfire-workloads"
    env = _env(deployment)
    assert env["MPCS_ALERTS_TOPIC_ARN"].endswith(f":{ALERTS_TOPIC}")
    rules = json.loads(env["MPCS_ALERTS_MISSIONS"])[f"{namespace}/wildfire"]["rules"]
    assert [r["name"] for r in rules] == ["battery-low"]
    secret = k8s.CoreV1Api(kube_client).read_namespaced_secret("wildfire-aws", namespace)
    assert set(secret.data) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    first_hash = deployment.spec.template.metadata.annotations["mpcs.io/spec-hash"]

    custom.patch("missions", "wildfire", {"spec": {"alerts": [{**RULE, "threshold": 20}]}})
    rolled = eventually(
        lambda: (
            (d := _deployment(kube_client, namespace))
            and d.spec.template.metadata.annotations["mpcs.io/spec-hash"] != first_hash
            and d
        ),
        timeout_s=60,
        what="the Deployment rolled by the new threshold",
    )
    rules = json.loads(_env(rolled)["MPCS_ALERTS_MISSIONS"])[f"{namespace}/wildfire"]["rules"]
    assert rules[0]["threshold"] == 20

    custom.patch("missions", "wildfire", {"spec": {"alerts": []}})
    gone = eventually(lambda: alerts_ready("False"), timeout_s=60, what="AlertsReady=False")
    assert gone["reason"] == "NoRules"
    eventually(
        lambda: _deployment(kube_client, namespace) is None,
        timeout_s=30,
        what="the Deployment deleted",
    )
    ready_overall = custom.condition("missions", "wildfire", "Ready")
    assert ready_overall is not None
    assert ready_overall["status"] == "True"  # no rules is a choice, not a fault
