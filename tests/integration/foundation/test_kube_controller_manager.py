"""kube-controller-manager runs beside the apiserver: garbage collection and Deployments work."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import eventually

pytestmark = pytest.mark.integration


def test_deleting_owner_garbage_collects_owned_configmap(
    kube_client: ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(kube_client)
    owner = core.create_namespaced_config_map(
        namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner"))
    )
    core.create_namespaced_config_map(
        namespace,
        k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name="owned",
                owner_references=[
                    k8s.V1OwnerReference(
                        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
                    )
                ],
            )
        ),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone)


def test_deployment_gets_a_replicaset(kube_client: ApiClient, namespace: str) -> None:
    apps = k8s.AppsV1Api(kube_client)
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(
        namespace,
        k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name="smoke"),
            spec=k8s.V1DeploymentSpec(
                replicas=1,
                selector=k8s.V1LabelSelector(match_labels=labels),
                template=k8s.V1PodTemplateSpec(
                    metadata=k8s.V1ObjectMeta(labels=labels),
                    spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")]),
                ),
            ),
        ),
    )
    replica_sets = eventually(
        lambda: apps.list_namespaced_replica_set(namespace, label_selector="app=smoke").items
    )
    assert replica_sets[0].metadata.owner_references[0].name == "smoke"
    # The ReplicaSet controller creates the Pod (no kubelet runs it: there is no node).
    core = k8s.CoreV1Api(kube_client)
    pods = eventually(lambda: core.list_namespaced_pod(namespace, label_selector="app=smoke").items)
    assert pods[0].spec.containers[0].image == "busybox"
