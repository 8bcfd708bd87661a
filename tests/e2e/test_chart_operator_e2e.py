"""The operator as `helm install` deploys it flies the examples.

charts/mpcs is installed into the dev stack's apiserver; one local runner (the dev stand-in for a
kubelet) runs the chart's operator Deployment — both replicas, each with a token of the chart's
ServiceAccount, the settings the chart's values put into its env, the InfluxDB token from a
Secret — and a second runner runs what that operator creates. The examples applied in another
namespace then reach Ready and their telemetry lands in InfluxDB. Both replicas are ready: one is
active, the other a standby of the Kopf peering.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import Custom, eventually, examples, temporary_namespace

from mpcs.core import names
from mpcs.dev import tools
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import ConnectionInfo, DevStack

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[2] / "charts" / "mpcs"
SATELLITES = ("firewatch-1", "firewatch-2", "firewatch-3")


def _helm(kubeconfig: Path, *argv: str) -> None:
    import subprocess

    result = subprocess.run(
        [str(tools.binary("helm")), *argv, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, f"helm {argv[0]}: {result.stderr}"


@pytest.fixture(scope="module")
def release(
    kube_client: ApiClient, kubeconfig: Path, conn: ConnectionInfo
) -> Iterator[tuple[str, str]]:
    """The chart installed in its own namespace, configured for the dev stack's servers."""
    release = f"mpcs-{uuid.uuid4().hex[:6]}"
    with temporary_namespace(kube_client, f"{release}-system") as namespace:
        k8s.CoreV1Api(kube_client).create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "influxdb-admin"},
                "stringData": {"token": conn.influx_token},
            },
        )
        settings = {
            "kafkaBootstrap": conn.kafka_bootstrap_servers,
            "influxUrl": conn.influx_url,
            "influxOrg": conn.influx_org,
            "influxToken.name": "influxdb-admin",
            "resyncSeconds": "5",
            "peering": release,
        }
        sets = [f"operator.settings.{key}={value}" for key, value in settings.items()]
        _helm(
            kubeconfig,
            "install",
            release,
            str(CHART),
            "--namespace",
            namespace,
            *[arg for item in sets for arg in ("--set", item)],
        )
        try:
            yield release, namespace
        finally:
            _helm(kubeconfig, "uninstall", release, "--namespace", namespace)


def _runner(stack: DevStack, kube_client: ApiClient, selector: str, name: str) -> LocalRunner:
    return LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / name,
        targets_dir=stack.prometheus.targets_dir,
        selector=selector,
    )


@pytest.fixture(scope="module")
def runners(
    stack: DevStack, kube_client: ApiClient, release: tuple[str, str]
) -> Iterator[LocalRunner]:
    """The chart's operator replicas and, separately, the workloads that operator creates."""
    name, _ = release
    chart_runner = _runner(
        stack,
        kube_client,
        f"app.kubernetes.io/instance={name},app.kubernetes.io/component=operator",
        "chart-operator",
    )
    workloads_runner = _runner(
        stack, kube_client, f"app.kubernetes.io/managed-by={names.MANAGED_BY}", "chart-workloads"
    )
    with chart_runner.running(), workloads_runner.running():
        yield chart_runner


def test_the_chart_operator_flies_the_examples(
    kube_client: ApiClient,
    conn: ConnectionInfo,
    release: tuple[str, str],
    runners: LocalRunner,
) -> None:
    name, system = release
    with temporary_namespace(kube_client, f"fly-{uuid.uuid4().hex[:6]}") as namespace:
        custom = Custom(kube_client, namespace)
        for obj in examples():
            obj = copy.deepcopy(obj)
            if obj["kind"] == "Satellite":
                obj["spec"]["telemetryIntervalSeconds"] = 2
            if obj["kind"] != "CommandPlan":
                custom.create(obj)
        custom.wait_phase("missions", "wildfire", "Ready", timeout_s=120)
        for satellite in SATELLITES:
            custom.wait_phase("satellites", satellite, "Ready", timeout_s=90)
        bucket = names.bucket(namespace, "wildfire")

        def stored() -> bool:
            text = conn.flux_csv(
                f'from(bucket: "{bucket}") |> range(start: -1h) '
                '|> filter(fn: (r) => r._measurement == "power") '
                '|> keep(columns: ["satellite"]) |> distinct(column: "satellite")'
            )
            return all(satellite in text for satellite in SATELLITES)

        eventually(stored, timeout_s=120, what="telemetry of every satellite in InfluxDB")

        # Both replicas run under the chart's ServiceAccount and both become ready (one is the
        # active replica, the other a standby of the peering).
        def replicas() -> dict[str, Any] | None:
            found = {
                key: status
                for key, status in runners.pod_status().items()
                if key.startswith(f"{system}/{name}/")
            }
            ready = len(found) == 2 and all(status.ready for status in found.values())
            return found if ready else None

        statuses = eventually(replicas, timeout_s=60, what="both operator replicas ready")
        assert {status.service_account for status in statuses.values()} == {name}
