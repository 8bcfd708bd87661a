"""The local runner starts the operator's alerts Deployment as `python -m mpcs.cli lambdas
run-alerts`, with its Secrets resolved and its metrics port remapped like every other replica."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.dev.runner import LocalRunner
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()
SECRETS = {
    ("wildfire-influxdb", "token"): "bucket-token",
    ("wildfire-influxdb", "url"): "http://127.0.0.1:8086",
    ("wildfire-influxdb", "org"): "mpcs",
    ("wildfire-influxdb", "bucket"): "ops.wildfire",
    ("wildfire-aws", "AWS_ACCESS_KEY_ID"): "key-id",
    ("wildfire-aws", "AWS_SECRET_ACCESS_KEY"): "secret-key",
}


def test_the_alerts_deployment_runs_locally_as_the_lambdas_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = builders.alerts_deployment(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=resources.MissionSpec.model_validate(
            {"alerts": [{"name": "silent", "kind": "stale", "staleSeconds": 60}]}
        ),
        settings=OperatorSettings(
            image="mpcs:t", alerts_topic_arn="arn:aws:sns:us-east-1:0:mpcs-alerts.fifo"
        ),
        aws_secret="wildfire-aws",
    )
    local = LocalRunner(api=ApiClient(), kubeconfig=tmp_path / "k", log_dir=tmp_path / "logs")

    def resolve(namespace: str, var: dict[str, Any]) -> str:
        if "value" in var:
            return str(var["value"])
        ref = var["valueFrom"]["secretKeyRef"]
        return SECRETS[(ref["name"], ref["key"])]

    monkeypatch.setattr(local, "_env_value", resolve)
    meta = types.SimpleNamespace(metadata=types.SimpleNamespace(namespace="ops"))
    replica = local._replica("ops/wildfire-alerts/0", meta, deployment["spec"]["template"], "hash")
    assert replica.argv == [sys.executable, "-m", "mpcs.cli", "lambdas", "run-alerts"]
    assert replica.env["MPCS_METRICS_PORT"] == str(replica.ports["metrics"])
    assert replica.env["MPCS_INFLUX_TOKEN"] == "bucket-token"
    assert replica.env["AWS_SECRET_ACCESS_KEY"] == "secret-key"
    # The command line the runner would start exists (its help, not a service).
    shown = subprocess.run(
        [*replica.argv, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert "SIGTERM" in shown.stdout
