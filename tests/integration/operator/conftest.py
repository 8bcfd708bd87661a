"""Fixtures for the CRD tests of this folder: the generated CRDs, applied and Established."""

from __future__ import annotations

import time

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import KINDS, crd_manifests
from mpcs.core.resources.peering import peering_crd_manifests

FIELD_MANAGER = "mpcs-tests"


@pytest.fixture(scope="module")
def crds(kube_client: ApiClient) -> None:
    """Server-side apply the four CRDs and Kopf's peering CRDs; wait until they are Established.

    Stricter than `utils.kube.install_crds`: it also fails on a NonStructuralSchema condition,
    which the API server reports instead of refusing the CRD. The CRDs are cluster-scoped and
    applying is idempotent, so other modules may apply them too. This fixture replaces the root
    `crds` for the whole folder, so it installs everything that one does: the operator replicas of
    test_peering.py meet in a KopfPeering.
    """
    ext = k8s.ApiextensionsV1Api(kube_client)
    manifests = crd_manifests() + peering_crd_manifests()
    for manifest in manifests:
        ext.patch_custom_resource_definition(
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    deadline = time.monotonic() + 30
    for manifest in manifests:
        while True:
            crd = ext.read_custom_resource_definition(manifest["metadata"]["name"])
            conditions = {c.type: c for c in (crd.status.conditions or [])}
            assert "NonStructuralSchema" not in conditions, conditions["NonStructuralSchema"]
            established = conditions.get("Established")
            if established is not None and established.status == "True":
                break
            assert time.monotonic() < deadline, f"{crd.metadata.name} not Established"
            time.sleep(0.2)
    # Discovery catches up a moment after Established.
    api = k8s.CustomObjectsApi(kube_client)
    while True:
        try:
            api.list_cluster_custom_object(GROUP, VERSION, KINDS[-1].plural, limit=1)
            return
        except ApiException:
            assert time.monotonic() < deadline, "custom resources not served"
            time.sleep(0.2)
