"""`helm lint --strict` and `helm template` of every ci/ scenario, the output validated against
the apiserver version we run (unknown fields fail), and what the chart promises checked in it:
the operator's RBAC, its MPCS_* settings, restricted pods, probes, metrics and the runner's labels.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from chartutil import CHART, KUBE_VERSION, SCENARIOS, helm, only, render, values_of
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from mpcs.core import names
from mpcs.dev import chart, cluster
from mpcs.operator import rbac
from mpcs.operator.settings import OperatorSettings

#: Kinds of other projects' CRDs the chart may render; the Kubernetes schemas do not know them.
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}

scenarios = pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)


def _pod_spec(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    spec: dict[str, Any] = only(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def _container(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    containers = _pod_spec(docs)["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_there_is_a_scenario_for_each_documented_use() -> None:
    assert {p.name for p in SCENARIOS} == {
        "default-values.yaml",
        "namespaced-values.yaml",
        "aws-values.yaml",
        "grafana-operator-values.yaml",
        "servicemonitor-values.yaml",
    }


@scenarios
def test_helm_lint_strict(scenario: Path) -> None:
    result = helm("lint", "--strict", str(CHART), "--values", str(scenario))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@scenarios
def test_rendered_manifests_are_valid_for_our_apiserver(scenario: Path) -> None:
    unvalidated = []
    for doc in render(scenario):
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except SchemaNotFoundError:
            unvalidated.append((doc["apiVersion"], doc["kind"]))
        except ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {exc.path}")
    assert set(unvalidated) <= FOREIGN_KINDS, unvalidated


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validation above would catch a misspelt field (strict: additionalProperties false)."""
    deployment = copy.deepcopy(only(render(None), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(ValidationError, match="readinessProbes"):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_the_schema_used_is_the_closest_to_our_apiserver() -> None:
    from kubernetes_validate.utils import all_versions, major_minor

    usable = [v for v in all_versions() if major_minor(v) <= major_minor(KUBE_VERSION)]
    assert major_minor(usable[-1]) == major_minor(KUBE_VERSION), usable[-1]


def test_values_schema_refuses_a_bad_value_at_template_time() -> None:
    result = helm(
        "template", "rel", str(CHART), "--kube-version", KUBE_VERSION,
        "--set", "operator.settings.peeringLifetime=1",
    )  # fmt: skip
    assert result.returncode != 0
    assert "peeringLifetime" in result.stderr


def test_cluster_role_is_the_operators_rbac_and_bound_to_its_service_account() -> None:
    docs = render(None)
    role = only(docs, "ClusterRole")
    binding = only(docs, "ClusterRoleBinding")
    account = only(docs, "ServiceAccount")
    assert role["rules"] == rbac.RULES
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "ops"}
    ]
    assert _pod_spec(docs)["serviceAccountName"] == account["metadata"]["name"]


def test_the_dev_operator_identity_is_the_charts() -> None:
    """`make demo`, the tests' operator and the benches run under what this chart grants."""
    identity = cluster.chart_identity()
    chart_kinds = [d["kind"] for d in render(None) if d["kind"] in cluster.IDENTITY_KINDS]
    assert [m["kind"] for m in identity.manifests] == chart_kinds
    role = only(identity.manifests, "ClusterRole")
    binding = only(identity.manifests, "ClusterRoleBinding")
    assert role["rules"] == only(render(None), "ClusterRole")["rules"] == rbac.RULES
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": identity.service_account,
            "namespace": identity.namespace,
        }
    ]


def test_the_crds_are_shipped_in_crds() -> None:
    crds = {d["metadata"]["name"] for d in render(None) if d["kind"] == "CustomResourceDefinition"}
    assert {f"{p}.{names.GROUP}" for p in ("missions", "satellites")} <= crds
    assert {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"} <= crds


@scenarios
def test_operator_env_is_exactly_its_settings_from_the_values(
    scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each value reaches the operator as its MPCS_* variable, and the operator parses the
    rendered environment into the same settings (secrets as Secret references)."""
    docs = render(scenario)
    values = values_of(scenario)["operator"]["settings"]
    by_env = {s.env: s for s in chart.settings()}
    env = _container(docs)["env"]
    assert len({e["name"] for e in env}) == len(env), "a variable is set twice"
    for entry in env:
        setting = by_env.pop(entry["name"], None)
        assert setting is not None, f"{entry['name']} is no operator setting"
        if setting.secret:
            ref = values[setting.value_key]
            assert entry["valueFrom"] == {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}
            monkeypatch.setenv(entry["name"], "from-secret")
        else:
            monkeypatch.setenv(entry["name"], entry["value"])
    for setting in by_env.values():  # the unset ones: null, or a Secret reference without name
        value = values[setting.value_key]
        assert value is None or (setting.secret and not value["name"]), setting.value_key
    parsed = OperatorSettings()
    for setting in chart.settings():
        value = values[setting.value_key]
        if setting.secret:
            expected = "from-secret" if value["name"] else None
        elif value is None and setting.field == "image":
            expected = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0][
                "image"
            ]
        elif value is None and setting.field == "image_pull_policy":
            expected = values_of(scenario)["image"]["pullPolicy"]
        else:
            expected = value
        assert getattr(parsed, setting.field) == expected, setting.value_key


@scenarios
def test_operator_pods_meet_the_restricted_pod_security_standard(scenario: Path) -> None:
    docs = render(scenario)
    pods = [_pod_spec(docs), only(docs, "Pod")["spec"]]  # the operator and the helm test
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod)
        assert all("hostPath" not in volume for volume in pod.get("volumes", []))
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert "limits" in container["resources"]
            assert "requests" in container["resources"]


def test_deployment_is_what_the_local_runner_runs() -> None:
    """The dev runner (the kubelet stand-in) finds the chart's operator by name and component
    labels and runs `mpcs <args>` with the container's env, probing the named port."""
    docs = render(None)
    deployment = only(docs, "Deployment")
    container = _container(docs)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "mpcs"
    assert labels["app.kubernetes.io/component"] == "operator"
    assert deployment["spec"]["replicas"] == 2
    assert container["command"] == ["mpcs"]
    assert container["args"] == ["operator", "run"]
    assert container["ports"] == [
        {"name": "metrics", "containerPort": names.METRICS_PORT, "protocol": "TCP"}
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_one_replica_may_run_standalone_and_ports_follow_the_setting() -> None:
    docs = render(
        None,
        "operator.replicaCount=1",
        "operator.standalone=true",
        "operator.settings.metricsPort=9300",
    )
    container = _container(docs)
    assert container["args"] == ["operator", "run", "--standalone"]
    assert container["ports"][0]["containerPort"] == 9300
    assert {"name": "MPCS_METRICS_PORT", "value": "9300"} in container["env"]
    assert only(docs, "Service")["spec"]["ports"][0]["port"] == 9300


def test_metrics_service_selects_the_operator_pods_on_the_metrics_port() -> None:
    docs = render(None)
    service = only(docs, "Service")
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": names.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_monitors_are_off_by_default() -> None:
    assert not [d for d in render(None) if d["kind"] in {"ServiceMonitor", "PodMonitor"}]


def _target_label_sources(relabelings: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["targetLabel"]: r.get("sourceLabels") for r in relabelings}


def test_pod_monitor_scrapes_the_mission_workloads_with_the_dashboards_labels() -> None:
    docs = render(CHART / "ci" / "servicemonitor-values.yaml")
    monitor = only(docs, "PodMonitor")
    # The labels the operator gives an ingest pod (names.labels), which the selector must match.
    ingest = names.labels(name="wildfire-ingest", instance="wildfire", component="ingest",
                          mission="wildfire")  # fmt: skip
    assert monitor["spec"]["selector"]["matchLabels"].items() <= ingest.items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops", "flight"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    sources = _target_label_sources(endpoint["relabelings"])
    assert set(sources) == set(names.PROMETHEUS_LABELS)
    assert sources["mission"] == ["__meta_kubernetes_pod_label_mpcs_io_mission"]


def test_pod_monitor_watches_every_namespace_with_a_cluster_wide_operator() -> None:
    docs = render(None, "podMonitor.enabled=true")
    assert only(docs, "PodMonitor")["spec"]["namespaceSelector"] == {"any": True}


def test_service_monitor_sets_the_dashboards_target_labels() -> None:
    """docs/dashboards.md: series carry namespace, mission and component from the pod's
    namespace and labels; the operator's own component label is `operator`."""
    docs = render(CHART / "ci" / "servicemonitor-values.yaml")
    monitor = only(docs, "ServiceMonitor")
    service = only(docs, "Service")
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    sources = _target_label_sources(endpoint["relabelings"])
    assert set(names.PROMETHEUS_LABELS) <= set(sources)
    assert sources["namespace"] == ["__meta_kubernetes_namespace"]
    assert sources["mission"] == ["__meta_kubernetes_pod_label_mpcs_io_mission"]
    assert sources["component"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    assert pod_labels["app.kubernetes.io/component"] == "operator"
    assert endpoint["relabelings"][-1]["targetLabel"] == "cluster"  # extraRelabelings come last


def test_disruption_budget_keeps_a_replica_through_voluntary_evictions() -> None:
    docs = render(None)
    budget = only(docs, "PodDisruptionBudget")
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["maxUnavailable"] == 1
    # Standbys are never ready; a budget counting them would block every node drain.
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_upgrades_roll_one_ready_standby_at_a_time() -> None:
    """A new pod starts as a ready standby (the operator's /readyz counts only dependencies a
    reconcile saw fail), so a rolling update never lacks an active replica."""
    assert only(render(None), "Deployment")["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def test_helm_test_asks_readyz_through_the_metrics_service() -> None:
    docs = render(None)
    pod = only(docs, "Pod")
    service = only(docs, "Service")["metadata"]["name"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["args"][-1] == f"http://{service}.ops.svc:{names.METRICS_PORT}/readyz"
    assert container["image"] == _container(docs)["image"]
