"""Put MPCS into a dev stack's apiserver the way a cluster admin would: CRDs and the operator's
identity (a ServiceAccount bound to the operator's ClusterRole, never cluster-admin).

Shared by `make demo` and the tests, so both run the operator with exactly the RBAC it ships with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import KINDS, crd_manifests
from mpcs.core.resources.peering import peering_crd_manifests
from mpcs.operator.rbac import cluster_role, cluster_role_binding

OPERATOR_NAMESPACE = "mpcs-system"
OPERATOR_SERVICE_ACCOUNT = "mpcs-operator"
#: The apiserver's own audience (its --service-account-issuer, the API audience when none is
#: configured): what a projected token without `audience` gets, for the operator and every replica
#: the local runner starts.
TOKEN_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def install_crds(api: ApiClient, *, timeout_s: float = 30.0) -> None:
    """Server-side apply the generated CRDs (idempotent) and wait until they are served."""
    ext = k8s.ApiextensionsV1Api(api)
    for manifest in crd_manifests() + peering_crd_manifests():
        ext.patch_custom_resource_definition(
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager="mpcs-dev",
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    custom = k8s.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            custom.list_cluster_custom_object(GROUP, VERSION, KINDS[-1].plural, limit=1)
            return
        except ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ensure(create: Callable[..., Any], *args: Any) -> None:
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:  # already there: converge by leaving it
            raise


def operator_kubeconfig(api: ApiClient, *, admin_kubeconfig: Path, out: Path) -> Path:
    """A kubeconfig for the operator: its ServiceAccount's token, bound to its ClusterRole."""
    core = k8s.CoreV1Api(api)
    rbac = k8s.RbacAuthorizationV1Api(api)
    _ensure(core.create_namespace, {"metadata": {"name": OPERATOR_NAMESPACE}})
    _ensure(
        core.create_namespaced_service_account,
        OPERATOR_NAMESPACE,
        {"metadata": {"name": OPERATOR_SERVICE_ACCOUNT}},
    )
    _ensure(rbac.create_cluster_role, cluster_role())
    _ensure(
        rbac.create_cluster_role_binding,
        cluster_role_binding(
            namespace=OPERATOR_NAMESPACE, service_account=OPERATOR_SERVICE_ACCOUNT
        ),
    )
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[TOKEN_AUDIENCE], expiration_seconds=24 * 3600)
    )
    granted = core.create_namespaced_service_account_token(
        OPERATOR_SERVICE_ACCOUNT, OPERATOR_NAMESPACE, request
    )
    assert granted.status is not None
    token = granted.status.token
    config = json.loads(admin_kubeconfig.read_text())
    config["users"] = [{"name": OPERATOR_SERVICE_ACCOUNT, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = OPERATOR_SERVICE_ACCOUNT
    out.write_text(json.dumps(config, indent=2))
    return out
