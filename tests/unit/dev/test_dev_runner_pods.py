"""The kubelet rules of the local runner, without a server: the token kubeconfig, the token's
renewal schedule, probes with Kubernetes' defaults and thresholds, and the Pod-like status."""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.dev.pods import (
    Phase,
    PodStatus,
    ProbeEvent,
    ProbeSpec,
    ProbeState,
    TokenPolicy,
    container_port,
    token_kubeconfig,
)
from mpcs.dev.runner import LocalRunner, UnsupportedPod
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()

# --- the token kubeconfig ------------------------------------------------------------------------


def test_the_token_kubeconfig_keeps_the_ca_and_drops_any_client_certificate() -> None:
    admin_cluster = {
        "server": "https://127.0.0.1:1",
        "certificate-authority-data": "Q0E=",
        "client-certificate": "/pki/admin.crt",  # never in a cluster entry, but never copied
    }
    config = token_kubeconfig(
        server="https://127.0.0.1:6443",
        cluster=admin_cluster,
        token_file=Path("/pods/t"),
        user="system:serviceaccount:ops:default",
    )
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"] == [
        {"name": "system:serviceaccount:ops:default", "user": {"tokenFile": "/pods/t"}}
    ]
    context = config["contexts"][0]
    assert config["current-context"] == context["name"]
    assert context["context"]["user"] == "system:serviceaccount:ops:default"


# --- the token's schedule ------------------------------------------------------------------------


def test_a_token_is_renewed_before_a_process_holding_it_is_restarted_and_both_before_expiry() -> (
    None
):
    policy = TokenPolicy()
    issued, expires = 0.0, 3600.0
    renew = policy.renew_at(issued_at=issued, expires_at=expires)
    restart = policy.restart_at(issued_at=issued, expires_at=expires)
    assert issued < renew < restart < expires
    assert renew == pytest.approx(2880.0)  # the kubelet's 80 %
    assert expires - restart == pytest.approx(360.0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"expiration_s": 599}, "600 s or more"),
        ({"renew_fraction": 0.95}, "renew_fraction=0.95"),
        ({"renew_fraction": 0.0}, "renew_fraction=0.0"),
    ],
)
def test_a_token_policy_the_apiserver_or_the_schedule_cannot_honour_is_refused(
    kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        TokenPolicy(**kwargs)


# --- probes --------------------------------------------------------------------------------------


def test_a_probe_without_timings_gets_kubernetes_defaults() -> None:
    spec = ProbeSpec.parse({"httpGet": {"port": 8000}})
    assert spec == ProbeSpec(
        port=8000,
        path="/",
        initial_delay_s=0.0,
        period_s=10.0,
        timeout_s=1.0,
        success_threshold=1,
        failure_threshold=3,
    )


def test_probe_kinds_not_run_locally_parse_to_none_and_tcp_has_no_path() -> None:
    assert ProbeSpec.parse({"exec": {"command": ["true"]}}) is None
    assert ProbeSpec.parse(None) is None
    tcp = ProbeSpec.parse({"tcpSocket": {"port": "http"}, "periodSeconds": 2})
    assert tcp is not None
    assert (tcp.path, tcp.port, tcp.period_s) == (None, "http", 2.0)


def test_a_named_probe_port_must_be_a_port_of_the_container() -> None:
    ports = [{"name": "metrics", "containerPort": 9090}, {"name": "http", "containerPort": 8000}]
    assert container_port("http", ports) == 8000
    assert container_port("9090", ports) == 9090
    with pytest.raises(KeyError, match=r"'grpc'.*\['metrics', 'http'\]"):
        container_port("grpc", ports)


def test_liveness_turns_unhealthy_only_after_failure_threshold_consecutive_failures() -> None:
    spec = ProbeSpec(port=1, initial_delay_s=5, period_s=10, failure_threshold=3)
    state = ProbeState.started(spec, at=100.0, healthy=True)
    assert not state.due(104.9)
    assert state.due(105.0)
    assert state.record(False, now=105.0) is None
    assert state.record(False, now=115.0) is None
    assert state.record(True, now=125.0) is None  # a success resets the count
    assert state.record(False, now=135.0) is None
    assert state.record(False, now=145.0) is None
    assert state.record(False, now=155.0, message="500") is ProbeEvent.UNHEALTHY
    assert (state.healthy, state.last_message, state.next_at) == (False, "500", 165.0)
    assert state.record(False, now=165.0) is None  # reported once, not on every failure


def test_readiness_starts_unready_and_needs_success_threshold_successes() -> None:
    spec = ProbeSpec(port=1, period_s=1, success_threshold=2, failure_threshold=1)
    state = ProbeState.started(spec, at=0.0, healthy=False)
    assert state.record(True, now=0.0) is None
    assert state.record(True, now=1.0) is ProbeEvent.HEALTHY
    assert state.record(False, now=2.0) is ProbeEvent.UNHEALTHY
    assert state.record(True, now=3.0) is None
    assert state.record(True, now=4.0) is ProbeEvent.HEALTHY


# --- status --------------------------------------------------------------------------------------


def test_a_crashed_replica_stays_running_in_crash_loop_back_off_with_its_last_state() -> None:
    status = PodStatus(key="ops/x/0", service_account="default")
    assert (status.phase, status.reason, status.ready) == (
        Phase.PENDING,
        "ContainerCreating",
        False,
    )
    status.running(pid=42)
    status.ready = True
    status.terminated(reason="Error", exit_code=3)
    assert status.phase is Phase.RUNNING  # restartPolicy Always: the pod is not Failed
    assert (status.reason, status.ready, status.pid) == ("CrashLoopBackOff", False, None)
    assert status.last_state == {"reason": "Error", "exitCode": 3, "message": ""}
    status.terminated(reason="TokenRenewal", exit_code=None)
    assert status.reason == "TokenRenewal"
    assert json.loads(json.dumps(status.to_dict()))["phase"] == "Running"


# --- pod template → replica ----------------------------------------------------------------------


def _ingest_template() -> dict[str, Any]:
    objects = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=OWNER,
        spec=resources.MissionSpec.model_validate({}),
        settings=OperatorSettings(kafka_bootstrap="k:9092", image="mpcs:t"),
    )
    (ingest,) = (o for o in objects if o["metadata"]["name"] == "wildfire-ingest")
    template: dict[str, Any] = ingest["spec"]["template"]
    return template


def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalRunner:
    local = LocalRunner(api=ApiClient(), kubeconfig=tmp_path / "admin", log_dir=tmp_path / "logs")
    # Secrets are the apiserver's business, not this test's: every reference resolves to "x".
    monkeypatch.setattr(local, "_env_value", lambda namespace, var: var.get("value", "x"))
    return local


_DEPLOYMENT = types.SimpleNamespace(metadata=types.SimpleNamespace(namespace="ops"))


def test_the_operators_probes_ask_the_remapped_metrics_port_as_the_pods_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/admin/kubeconfig")
    replica = _local(tmp_path, monkeypatch)._replica(
        "ops/wildfire-ingest/0", _DEPLOYMENT, _ingest_template(), "hash"
    )
    assert replica.service_account == "wildfire-workloads"
    assert replica.liveness is not None
    assert replica.readiness is not None
    assert (replica.liveness.path, replica.readiness.path) == ("/healthz", "/readyz")
    assert replica.probe_port(replica.liveness) == replica.ports["metrics"]
    assert replica.probe_port(replica.readiness) == replica.ports["metrics"] != 9090
    # Until its token is written, the replica has no credentials — not the caller's either.
    assert replica.env["KUBECONFIG"] == ""


def test_a_pod_without_service_account_name_runs_as_default_and_field_refs_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "args": ["operator", "run"],
                    "env": [
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {
                            "name": "NS",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                        },
                    ],
                }
            ]
        }
    }
    replica = _local(tmp_path, monkeypatch)._replica("ops/op/1", _DEPLOYMENT, template, "h")
    assert replica.service_account == "default"
    assert (replica.env["POD"], replica.env["NS"]) == ("ops-op-1", "ops")
    assert replica.argv[-2:] == ["operator", "run"]  # no `command`: the image's entrypoint
    assert replica.liveness is None
    assert replica.readiness is None


def test_another_image_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = {"spec": {"containers": [{"command": ["nginx"]}]}}
    with pytest.raises(UnsupportedPod, match="nginx"):
        _local(tmp_path, monkeypatch)._replica("ops/web/0", _DEPLOYMENT, template, "h")


class _TokenApi:
    """The one CoreV1Api call the runner makes for tokens; a ServiceAccount set decides 404."""

    def __init__(self, accounts: set[tuple[str, str]]) -> None:
        self.accounts = accounts
        self.requests: list[tuple[str, str, int]] = []

    def create_namespaced_service_account_token(self, name: str, namespace: str, body: Any) -> Any:
        self.requests.append((namespace, name, body.spec.expiration_seconds))
        if (namespace, name) not in self.accounts:
            raise ApiException(status=404, reason="Not Found")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=body.spec.expiration_seconds)
        status = types.SimpleNamespace(
            token=f"tok-{len(self.requests)}", expiration_timestamp=expires
        )
        return types.SimpleNamespace(status=status)


def test_a_replica_waits_for_its_service_account_then_gets_a_token_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _local(tmp_path, monkeypatch)
    (tmp_path / "admin").write_text(
        json.dumps(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": "https://s:1", "certificate-authority": "ca"},
                    }
                ],
                "users": [{"name": "a", "user": {"client-certificate": "admin.crt"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "a"}}],
                "current-context": "x",
            }
        )
    )
    api = _TokenApi(accounts=set())
    local.core = api  # type: ignore[assignment]
    replica = local._replica("ops/wildfire-ingest/0", _DEPLOYMENT, _ingest_template(), "hash")
    assert local._token_current(replica) is False
    assert replica.status is not None
    assert (replica.status.phase, replica.status.reason) == (
        Phase.PENDING,
        "ServiceAccountNotFound",
    )
    assert "wildfire-workloads" in replica.status.message

    api.accounts.add(("ops", "wildfire-workloads"))
    assert local._token_current(replica) is True
    assert api.requests[-1] == ("ops", "wildfire-workloads", 3600)
    config = json.loads(Path(replica.env["KUBECONFIG"]).read_text())
    assert config["clusters"][0]["cluster"] == {
        "server": "https://s:1",
        "certificate-authority": str(tmp_path / "ca"),  # relative to the admin kubeconfig
    }
    token_file = Path(config["users"][0]["user"]["tokenFile"])
    assert token_file.read_text() == "tok-2"
    assert token_file.stat().st_mode & 0o077 == 0
    # Not due again until 80 % of its life: no further request.
    assert local._token_current(replica) is True
    assert len(api.requests) == 2


def test_an_env_var_whose_empty_value_the_apiserver_dropped_is_set_empty(tmp_path: Path) -> None:
    """`value: ""` comes back from the apiserver as no value at all; a kubelet sets it to ""."""
    runner = LocalRunner(api=ApiClient(), kubeconfig=tmp_path / "kubeconfig", log_dir=tmp_path)
    assert runner._env_value("ns", {"name": "MPCS_NAMESPACES"}) == ""
    assert runner._env_value("ns", {"name": "MPCS_LOG_LEVEL", "value": "INFO"}) == "INFO"
