"""The archive runner's Deployment, without a server: what `mpcs lambdas run-archive` reads.

The runner parses its environment with the archive's own settings model, so the test does too:
a variable the builder names differently from the settings would fail here, not in the cluster.
"""

from __future__ import annotations

from typing import Any

import pytest
from utils.owners import mission_owner

from mpcs.core import names
from mpcs.lambdas.archive.settings import ArchiveSettings
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()
SETTINGS = OperatorSettings(
    kafka_bootstrap="k:9092",
    influx_url="http://i:8086",
    image="mpcs:t",
    archive_bucket="mission-archive",
    aws_region="eu-north-1",
    aws_endpoint_url="http://moto:5000",
)
SECRETS = {"url": "http://i:8086", "org": "mpcs", "bucket": "ops.wildfire", "token": "t0k"}


def _deployment(**settings: Any) -> dict[str, Any]:
    return builders.archive_deployment(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        settings=SETTINGS.model_copy(update=settings),
        aws_secret="wildfire-aws",
    )


def _environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The container's env as the kubelet would resolve it (bucket Secret values filled in)."""
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {}
    for var in container["env"]:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[var["name"]] = var["value"]
        elif ref["name"] == builders.bucket_secret_name("wildfire"):
            env[var["name"]] = SECRETS[ref["key"]]
        else:
            env[var["name"]] = f"from {ref['name']}"
    return env


def test_the_archive_runs_the_archive_command_under_the_workloads_account() -> None:
    deployment = _deployment()
    assert deployment["metadata"]["name"] == "wildfire-archive"
    assert deployment["metadata"]["ownerReferences"] == [OWNER]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "archive"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "wildfire-workloads"
    [container] = pod["containers"]
    assert container["args"] == ["lambdas", "run-archive"]
    assert container["ports"] == [{"name": "metrics", "containerPort": names.METRICS_PORT}]


def test_the_runner_reads_what_the_builder_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _environment(_deployment())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ArchiveSettings()
    assert settings.archive_bucket == "mission-archive"
    assert settings.influx_url == "http://i:8086"
    assert settings.influx_token.get_secret_value() == "t0k"
    assert settings.aws_region == "eu-north-1"
    assert env["AWS_ACCESS_KEY_ID"] == "from wildfire-aws"


def test_a_new_bucket_rolls_the_runner() -> None:
    annotation = builders.SPEC_HASH_ANNOTATION

    def rolled(**settings: Any) -> str:
        return str(
            _deployment(**settings)["spec"]["template"]["metadata"]["annotations"][annotation]
        )

    assert rolled() == rolled()
    assert rolled() != rolled(archive_bucket="another-archive")
