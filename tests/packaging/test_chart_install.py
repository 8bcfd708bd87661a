"""The chart installed for real into the dev stack's apiserver: what helm creates, what an
upgrade with changed values rolls, and that uninstall leaves nothing of the release behind but
the CRDs and the custom resources (as Helm treats crds/).

There is no kubelet in the dev stack, so the operator pods stay Pending here; the Deployment's
controller still creates a ReplicaSet per pod template, which is what shows an upgrade rolls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartutil import CHART, helm, only
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import eventually

from mpcs.core.names import API_VERSION, GROUP, VERSION
from mpcs.dev import cluster

pytestmark = pytest.mark.integration


def _helm(kubeconfig: Path, *argv: str) -> str:
    result = helm(*argv, "--kubeconfig", str(kubeconfig))
    assert result.returncode == 0, f"helm {argv[0]} failed: {result.stderr}"
    return result.stdout


@pytest.fixture
def release(unique: str) -> str:
    return f"mpcs-{unique}"


@pytest.fixture
def installed(
    kubeconfig: Path, kube_client: ApiClient, namespace: str, release: str
) -> Iterator[tuple[str, str]]:
    """The chart installed as `release` in `namespace`; uninstalled afterwards if still there.

    The namespace enforces the restricted Pod Security Standard, so the apiserver's admission
    refuses any pod of the chart that is not restricted.
    """
    k8s.CoreV1Api(kube_client).patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    notes = _helm(kubeconfig, "install", release, str(CHART), "--namespace", namespace)
    try:
        yield release, notes
    finally:
        helm("uninstall", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig))


def _instance(release: str) -> str:
    return f"app.kubernetes.io/instance={release}"


def _template_hash(deployment: Any, api: ApiClient) -> str:
    template = api.sanitize_for_serialization(deployment.spec.template)  # type: ignore[no-untyped-call]
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()


def test_install_creates_the_operator_and_its_identity(
    installed: tuple[str, str], kube_client: ApiClient, namespace: str
) -> None:
    release, notes = installed
    apps, core = k8s.AppsV1Api(kube_client), k8s.CoreV1Api(kube_client)
    rbac_api = k8s.RbacAuthorizationV1Api(kube_client)
    name = release  # the release name contains the chart's name: it is the full name

    deployment = apps.read_namespaced_deployment(name, namespace)
    assert deployment.spec.replicas == 2
    assert deployment.spec.template.spec.service_account_name == name
    core.read_namespaced_service_account(name, namespace)
    assert core.read_namespaced_service(f"{name}-metrics", namespace).spec.ports[0].name == (
        "metrics"
    )
    k8s.PolicyV1Api(kube_client).read_namespaced_pod_disruption_budget(name, namespace)
    assert rbac_api.read_cluster_role_binding(name).subjects[0].namespace == namespace
    assert rbac_api.read_cluster_role(name).metadata.labels["app.kubernetes.io/instance"] == (
        release
    )
    crds = k8s.ApiextensionsV1Api(kube_client).list_custom_resource_definition().items
    assert {f"missions.{GROUP}", "kopfpeerings.kopf.dev"} <= {c.metadata.name for c in crds}
    assert "kubectl apply -f examples/" in notes


def test_the_pods_are_admitted_under_restricted_pod_security(
    installed: tuple[str, str], kube_client: ApiClient, kubeconfig: Path, namespace: str
) -> None:
    release, _ = installed
    core = k8s.CoreV1Api(kube_client)
    # The ReplicaSet controller creates the operator pods only if admission lets it.
    eventually(
        lambda: (
            len(core.list_namespaced_pod(namespace, label_selector=_instance(release)).items) == 2
        ),
        what="two operator pods admitted",
    )
    rendered = helm(
        "get", "hooks", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig)
    )
    assert rendered.returncode == 0, rendered.stderr
    (test_pod,) = [d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Pod"]
    core.create_namespaced_pod(namespace, test_pod, dry_run="All")  # the helm test Pod
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
        },
    }
    with pytest.raises(ApiException) as refused:  # the namespace does enforce the standard
        core.create_namespaced_pod(namespace, privileged, dry_run="All")
    assert refused.value.status == 403
    assert "violates PodSecurity" in str(refused.value.body)


def test_the_service_account_may_do_what_the_operator_does_and_no_more(
    installed: tuple[str, str], kube_client: ApiClient, namespace: str
) -> None:
    """The ClusterRoleBinding grants the release's ServiceAccount the operator's rules
    cluster-wide (the apiserver's own authorizer answers)."""
    release, _ = installed
    user = f"system:serviceaccount:{namespace}:{release}"
    auth = k8s.AuthorizationV1Api(kube_client)

    def allowed(verb: str, resource: str, group: str = "", ns: str | None = "elsewhere") -> bool:
        review = k8s.V1SubjectAccessReview(
            spec=k8s.V1SubjectAccessReviewSpec(
                user=user,
                resource_attributes=k8s.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace=ns
                ),
            )
        )
        return bool(auth.create_subject_access_review(review).status.allowed)

    assert allowed("watch", "missions", GROUP, ns=None)
    assert allowed("patch", "satellites/status", GROUP)
    assert allowed("create", "deployments", "apps")
    assert allowed("create", "clusterkopfpeerings", "kopf.dev", ns=None)
    assert not allowed("delete", "namespaces", ns=None)
    assert not allowed("list", "secrets")
    assert not allowed("delete", "missions", GROUP)
    assert not allowed("create", "clusterroles", "rbac.authorization.k8s.io", ns=None)


def test_the_test_operator_token_is_the_charts_service_account(
    operator_identity: Path, kube_client: ApiClient
) -> None:
    """The tests' operator fixture (and `make demo`) authenticate as the ServiceAccount the chart
    renders, which the chart's ClusterRoleBinding binds: the apiserver says whose token it is."""
    identity = cluster.chart_identity()
    token = json.loads(operator_identity.read_text())["users"][0]["user"]["token"]
    review = k8s.AuthenticationV1Api(kube_client).create_token_review(
        k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token))
    )
    assert review.status.authenticated
    account = f"system:serviceaccount:{identity.namespace}:{identity.service_account}"
    assert review.status.user.username == account
    labels = (
        k8s.CoreV1Api(kube_client)
        .read_namespaced_service_account(identity.service_account, identity.namespace)
        .metadata.labels
    )
    assert labels["app.kubernetes.io/instance"] == cluster.OPERATOR_RELEASE
    assert labels["helm.sh/chart"].startswith("mpcs-")
    binding = k8s.RbacAuthorizationV1Api(kube_client).read_cluster_role_binding(
        only(identity.manifests, "ClusterRoleBinding")["metadata"]["name"]
    )
    assert [(s.name, s.namespace) for s in binding.subjects] == [
        (identity.service_account, identity.namespace)
    ]


def test_upgrade_with_changed_values_rolls_the_operator(
    installed: tuple[str, str], kube_client: ApiClient, kubeconfig: Path, namespace: str
) -> None:
    release, _ = installed
    apps = k8s.AppsV1Api(kube_client)
    before = apps.read_namespaced_deployment(release, namespace)
    eventually(
        lambda: (
            apps.list_namespaced_replica_set(namespace, label_selector=_instance(release)).items
        ),
        what="the first ReplicaSet",
    )

    _helm(
        kubeconfig, "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values",
        "--set", "operator.settings.logLevel=DEBUG",
    )  # fmt: skip

    after = apps.read_namespaced_deployment(release, namespace)
    assert after.metadata.generation > before.metadata.generation
    assert _template_hash(after, kube_client) != _template_hash(before, kube_client)
    env = {e.name: e.value for e in after.spec.template.spec.containers[0].env}
    assert env["MPCS_LOG_LEVEL"] == "DEBUG"

    def two_pod_templates() -> bool:
        sets = apps.list_namespaced_replica_set(namespace, label_selector=_instance(release))
        hashes = {rs.metadata.labels["pod-template-hash"] for rs in sets.items}
        return len(hashes) == 2

    eventually(two_pod_templates, what="a new ReplicaSet for the changed pod template")


def test_uninstall_leaves_no_object_of_the_release_but_crds_and_custom_resources(
    installed: tuple[str, str], kube_client: ApiClient, kubeconfig: Path, namespace: str
) -> None:
    release, _ = installed
    custom = k8s.CustomObjectsApi(kube_client)
    station = {
        "apiVersion": API_VERSION,
        "kind": "GroundStation",
        "metadata": {"name": "svalbard"},
        "spec": {"latitudeDeg": 78.23, "longitudeDeg": 15.39, "altitudeM": 500.0},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "groundstations", station)
    apps = k8s.AppsV1Api(kube_client)
    eventually(
        lambda: (
            apps.list_namespaced_replica_set(namespace, label_selector=_instance(release)).items
        ),
        what="the operator's ReplicaSet",
    )

    _helm(kubeconfig, "uninstall", release, "--namespace", namespace)

    core, policy = k8s.CoreV1Api(kube_client), k8s.PolicyV1Api(kube_client)
    rbac_api = k8s.RbacAuthorizationV1Api(kube_client)
    selector = _instance(release)
    listers = {
        "deployments": lambda: apps.list_namespaced_deployment(namespace, label_selector=selector),
        "replicasets": lambda: apps.list_namespaced_replica_set(namespace, label_selector=selector),
        "pods": lambda: core.list_namespaced_pod(namespace, label_selector=selector),
        "services": lambda: core.list_namespaced_service(namespace, label_selector=selector),
        "serviceaccounts": lambda: core.list_namespaced_service_account(
            namespace, label_selector=selector
        ),
        "poddisruptionbudgets": lambda: policy.list_namespaced_pod_disruption_budget(
            namespace, label_selector=selector
        ),
        "clusterroles": lambda: rbac_api.list_cluster_role(label_selector=selector),
        "clusterrolebindings": lambda: rbac_api.list_cluster_role_binding(label_selector=selector),
        # Helm's own release records.
        "release secrets": lambda: core.list_namespaced_secret(
            namespace, label_selector=f"owner=helm,name={release}"
        ),
    }

    def nothing_left() -> bool:
        found = {
            kind: [o.metadata.name for o in lister().items] for kind, lister in listers.items()
        }
        left = {kind: names for kind, names in found.items() if names}
        assert not left, left
        return True

    # ReplicaSets and Pods go by garbage collection after their Deployment; give it time.
    eventually(nothing_left, timeout_s=60, what="no object of the release left")
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment(release, namespace)
    assert missing.value.status == 404
    crds = k8s.ApiextensionsV1Api(kube_client).list_custom_resource_definition().items
    assert f"groundstations.{GROUP}" in {c.metadata.name for c in crds}
    kept = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "groundstations", "svalbard"
    )
    assert kept["spec"]["latitudeDeg"] == 78.23
