"""The local runner against the real apiserver: each replica runs as its pod's ServiceAccount,
its probes are honoured, and what it reports is what happened.

The replicas are `fake_pod.py` processes (the runner's `entrypoint`), whose answers to the probes
a test chooses; the Deployments are selected by a label of this test alone (the runner's
`selector`), so no operator is needed and no other test's Deployments are run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient
from utils.kube import eventually

from mpcs.dev.pods import Phase, PodStatus, TokenPolicy
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import DevStack

pytestmark = pytest.mark.integration

FAKE_POD = Path(__file__).with_name("fake_pod.py")
METRICS = 9090


def deployment(
    name: str,
    *,
    run: str,
    args: list[str] | None = None,
    service_account: str | None = None,
    probes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Deployment shaped like the operator's (`command: [mpcs]`, a port named metrics)."""
    labels = {"app": name, "mpcs.io/test-run": run}
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "mpcs:test",
                "command": ["mpcs"],
                "args": args or [],
                "env": [{"name": "MPCS_METRICS_PORT", "value": str(METRICS)}],
                "ports": [{"name": "metrics", "containerPort": METRICS}],
                **(probes or {}),
            }
        ]
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def _http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "metrics"}, **timing}


@pytest.fixture
def run_label(unique: str) -> str:
    return f"r{unique}"


def _runner(
    stack: DevStack, kube_client: ApiClient, run_label: str, **extra: Any
) -> Iterator[LocalRunner]:
    local = LocalRunner(
        api=kube_client,
        kubeconfig=stack.apiserver.kubeconfig,
        log_dir=stack.root / "logs" / f"runner-{run_label}",
        selector=f"mpcs.io/test-run={run_label}",
        entrypoint=(sys.executable, str(FAKE_POD)),
        interval_s=0.5,
        **extra,
    )
    with local.running():
        yield local


@pytest.fixture
def runner(stack: DevStack, kube_client: ApiClient, run_label: str) -> Iterator[LocalRunner]:
    yield from _runner(stack, kube_client, run_label)


def _create(kube_client: ApiClient, namespace: str, body: dict[str, Any]) -> None:
    k8s.AppsV1Api(kube_client).create_namespaced_deployment(namespace, body)


def _status(runner: LocalRunner, key: str) -> PodStatus | None:
    return runner.pod_status().get(key)


def _identities(runner: LocalRunner, key: str) -> list[dict[str, Any]]:
    """The `{"whoami": …}` lines the replica's processes printed, oldest first."""
    path = runner.log_dir / f"{key.replace('/', '_')}.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if '"whoami"' in line]


def test_each_replica_is_its_pods_service_account_and_never_the_admin(
    kube_client: ApiClient, namespace: str, runner: LocalRunner, run_label: str
) -> None:
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "telemetry"}})
    _create(
        kube_client,
        namespace,
        deployment("named", run=run_label, service_account="telemetry"),
    )
    _create(kube_client, namespace, deployment("unnamed", run=run_label))

    named = eventually(
        lambda: _identities(runner, f"{namespace}/named/0"),
        timeout_s=60,
        what="the replica of `named` said who it is",
    )
    unnamed = eventually(
        lambda: _identities(runner, f"{namespace}/unnamed/0"),
        timeout_s=60,
        what="the replica of `unnamed` said who it is",
    )
    assert named[0]["whoami"] == f"system:serviceaccount:{namespace}:telemetry"
    assert unnamed[0]["whoami"] == f"system:serviceaccount:{namespace}:default"
    assert "system:masters" not in named[0]["groups"]

    # What the process was given: a kubeconfig with the token and no client certificate.
    config_path = Path(runner.replicas[f"{namespace}/named/0"].env["KUBECONFIG"])
    assert config_path != runner.kubeconfig
    config = json.loads(config_path.read_text())
    [user] = config["users"]
    assert set(user["user"]) == {"tokenFile"}
    # The same token, used by the test, is the same identity (SelfSubjectReview).
    api = k8s_config.new_client_from_config(config_file=str(config_path))
    try:
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
    finally:
        api.close()
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:telemetry"
    status = eventually(lambda: _status(runner, f"{namespace}/named/0"), what="a status")
    assert status.phase is Phase.RUNNING
    assert status.service_account == "telemetry"
    assert status.token_expires_at is not None


def test_a_missing_service_account_keeps_the_replica_waiting_until_it_exists(
    kube_client: ApiClient, namespace: str, runner: LocalRunner, run_label: str
) -> None:
    key = f"{namespace}/late/0"
    _create(kube_client, namespace, deployment("late", run=run_label, service_account="late"))
    waiting = eventually(
        lambda: (s := _status(runner, key)) and s.reason == "ServiceAccountNotFound" and s,
        timeout_s=30,
        what="the replica reported waiting for its ServiceAccount",
    )
    assert waiting.phase is Phase.PENDING
    assert key not in runner.endpoints()
    time.sleep(2 * runner.interval_s)  # a few passes: still not started
    assert not _identities(runner, key)

    k8s.CoreV1Api(kube_client).create_namespaced_service_account(
        namespace, {"metadata": {"name": "late"}}
    )
    [identity] = eventually(lambda: _identities(runner, key), timeout_s=60, what="started")
    assert identity["whoami"] == f"system:serviceaccount:{namespace}:late"
    assert runner.pod_status()[key].phase is Phase.RUNNING


def test_a_failing_liveness_probe_restarts_the_replica(
    kube_client: ApiClient,
    namespace: str,
    runner: LocalRunner,
    run_label: str,
    record_property: Any,
) -> None:
    key = f"{namespace}/sick/0"
    probes = {
        "livenessProbe": _http_probe("/healthz", periodSeconds=1, failureThreshold=2),
        "readinessProbe": _http_probe("/readyz", periodSeconds=1),
    }
    _create(
        kube_client,
        namespace,
        deployment("sick", run=run_label, args=["--healthz", "500"], probes=probes),
    )
    first = eventually(
        lambda: (s := _status(runner, key)) and s.pid and s, timeout_s=60, what="first start"
    )
    started = time.monotonic()
    restarted = eventually(
        lambda: (s := _status(runner, key)) and s.restarts >= 1 and s,
        timeout_s=30,
        what="a restart after two failed liveness probes",
    )
    record_property(
        "measured: liveness restart after start (s)", round(time.monotonic() - started, 1)
    )
    assert restarted.last_state["reason"] == "Unhealthy"
    assert "statuscode: 500" in restarted.last_state["message"]
    # Really another process, not the same one marked restarted.
    eventually(
        lambda: (s := _status(runner, key)) and s.pid not in (None, first.pid),
        timeout_s=30,
        what="a second process",
    )


def test_a_failing_readiness_probe_is_reported_and_not_restarted(
    kube_client: ApiClient, namespace: str, runner: LocalRunner, run_label: str, tmp_path: Path
) -> None:
    key = f"{namespace}/shy/0"
    flag = tmp_path / "ready"
    probes = {
        "livenessProbe": _http_probe("/healthz", periodSeconds=1),
        "readinessProbe": _http_probe("/readyz", periodSeconds=1, failureThreshold=1),
    }
    _create(
        kube_client,
        namespace,
        deployment("shy", run=run_label, args=["--ready-file", str(flag)], probes=probes),
    )
    eventually(lambda: _identities(runner, key), timeout_s=60, what="started")
    # The first probes may find nothing listening yet (connection refused, also a failure); the
    # one that matters is the process answering 503.
    unready = eventually(
        lambda: (s := _status(runner, key)) and "statuscode: 503" in s.message and s,
        timeout_s=30,
        what="a failed readiness probe (503) reported",
    )
    assert unready.ready is False
    assert unready.phase is Phase.RUNNING
    assert unready.message.startswith("Readiness probe failed")
    flag.touch()
    ready = eventually(
        lambda: (s := _status(runner, key)) and s.ready and s, timeout_s=30, what="ready"
    )
    assert ready.restarts == 0
    # The report is also on disk, for tools that do not share the runner's process.
    on_disk = {pod["key"]: pod for pod in json.loads((runner.log_dir / "pods.json").read_text())}
    assert on_disk[key]["ready"] is True


@pytest.fixture
def renewing_runner(
    stack: DevStack, kube_client: ApiClient, run_label: str
) -> Iterator[LocalRunner]:
    """Tokens of the shortest life the apiserver grants (10 min), renewed after 3 s and a
    process restarted onto the new one after 6 s: a kubelet's hour, compressed."""
    policy = TokenPolicy(expiration_s=600, renew_fraction=0.005, restart_margin_fraction=0.99)
    yield from _runner(stack, kube_client, run_label, token_policy=policy)


def test_the_token_is_renewed_before_it_expires_and_the_process_moves_onto_it(
    kube_client: ApiClient,
    namespace: str,
    renewing_runner: LocalRunner,
    run_label: str,
    record_property: Any,
) -> None:
    runner = renewing_runner
    key = f"{namespace}/long/0"
    _create(kube_client, namespace, deployment("long", run=run_label))
    eventually(lambda: _identities(runner, key), timeout_s=60, what="started")
    token_file = Path(runner.replicas[key].env["KUBECONFIG"]).with_name("token")
    first_token = token_file.read_text()
    started = time.monotonic()
    eventually(lambda: token_file.read_text() != first_token, timeout_s=30, what="renewed")
    record_property("measured: token renewed after (s)", round(time.monotonic() - started, 1))
    moved = eventually(
        lambda: (s := _status(runner, key)) and s.last_state.get("reason") == "TokenRenewal" and s,
        timeout_s=30,
        what="the process restarted onto the renewed token",
    )
    record_property(
        "measured: process moved onto it after (s)", round(time.monotonic() - started, 1)
    )
    assert moved.restarts == 0  # a renewal is no crash
    identities = eventually(
        lambda: len(_identities(runner, key)) >= 2 and _identities(runner, key),
        timeout_s=30,
        what="the restarted process said who it is",
    )
    assert identities[1]["whoami"] == f"system:serviceaccount:{namespace}:default"
