"""Put MPCS into a dev stack's apiserver the way a cluster admin would: CRDs and the operator's
identity, taken from the Helm chart itself (never cluster-admin).

`chart_identity()` renders charts/mpcs with the bootstrap's helm (`helm template`, once per
process) and keeps what makes the operator's identity: its ServiceAccount and the (Cluster)Roles
and bindings the chart grants it. `operator_kubeconfig()` applies those into the apiserver and
writes a kubeconfig holding a token of that ServiceAccount. `make demo`, the tests' operator
fixture and the benches run `mpcs operator run` with it, so the RBAC in use everywhere is the one
`helm install` creates (itself generated from `mpcs.operator.rbac`).
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import KINDS, crd_manifests
from mpcs.core.resources.peering import peering_crd_manifests
from mpcs.dev import tools

CHART = tools.REPO_ROOT / "charts" / "mpcs"
OPERATOR_NAMESPACE = "mpcs-system"
#: The release the dev identity is rendered as. It contains the chart's name, so the chart's full
#: name — its ServiceAccount, ClusterRole and binding — is exactly this.
OPERATOR_RELEASE = "mpcs-operator"
OPERATOR_SERVICE_ACCOUNT = OPERATOR_RELEASE
#: The kinds of the chart's manifests that make up the operator's identity.
IDENTITY_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
#: The apiserver's own audience (its --service-account-issuer, the API audience when none is
#: configured): what a projected token without `audience` gets, for the operator and every replica
#: the local runner starts.
TOKEN_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
FIELD_MANAGER = "mpcs-dev"


def install_crds(api: ApiClient, *, timeout_s: float = 30.0) -> None:
    """Server-side apply the generated CRDs (idempotent) and wait until they are served."""
    ext = k8s.ApiextensionsV1Api(api)
    for manifest in crd_manifests() + peering_crd_manifests():
        ext.patch_custom_resource_definition(
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager=FIELD_MANAGER,
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


@dataclass(frozen=True)
class OperatorIdentity:
    """The operator's ServiceAccount and RBAC as the chart renders them for one release."""

    namespace: str
    service_account: str
    manifests: tuple[dict[str, Any], ...]


@functools.cache
def chart_identity(
    *, release: str = OPERATOR_RELEASE, namespace: str = OPERATOR_NAMESPACE
) -> OperatorIdentity:
    """`helm template` of charts/mpcs, reduced to the operator's identity (cached per process)."""
    result = subprocess.run(
        [
            str(tools.binary("helm")),
            "template",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            tools.KUBE_VERSION.removeprefix("v"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm template {CHART} failed: {result.stderr.strip()}")
    manifests = tuple(
        doc
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc.get("kind") in IDENTITY_KINDS
    )
    accounts = [m for m in manifests if m["kind"] == "ServiceAccount"]
    if len(accounts) != 1:
        raise RuntimeError(f"the chart rendered {len(accounts)} ServiceAccounts, expected 1")
    return OperatorIdentity(
        namespace=namespace,
        service_account=accounts[0]["metadata"]["name"],
        manifests=manifests,
    )


def _ensure(create: Callable[..., Any], *args: Any) -> None:
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:  # already there: converge by leaving it
            raise


def install_identity(api: ApiClient, identity: OperatorIdentity) -> None:
    """Server-side apply the identity's manifests (idempotent), its namespace first."""
    core = k8s.CoreV1Api(api)
    rbac = k8s.RbacAuthorizationV1Api(api)
    _ensure(core.create_namespace, {"metadata": {"name": identity.namespace}})
    apply: dict[str, Callable[..., Any]] = {
        "ServiceAccount": core.patch_namespaced_service_account,
        "Role": rbac.patch_namespaced_role,
        "RoleBinding": rbac.patch_namespaced_role_binding,
        "ClusterRole": rbac.patch_cluster_role,
        "ClusterRoleBinding": rbac.patch_cluster_role_binding,
    }
    for manifest in identity.manifests:
        metadata = manifest["metadata"]
        where = (metadata["namespace"],) if "namespace" in metadata else ()
        apply[manifest["kind"]](
            metadata["name"],
            *where,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )


def operator_kubeconfig(api: ApiClient, *, admin_kubeconfig: Path, out: Path) -> Path:
    """A kubeconfig for the operator: a token of the chart's ServiceAccount, with its RBAC."""
    identity = chart_identity()
    install_identity(api, identity)
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[TOKEN_AUDIENCE], expiration_seconds=24 * 3600)
    )
    granted = k8s.CoreV1Api(api).create_namespaced_service_account_token(
        identity.service_account, identity.namespace, request
    )
    assert granted.status is not None
    token = granted.status.token
    config = json.loads(admin_kubeconfig.read_text())
    config["users"] = [{"name": identity.service_account, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = identity.service_account
    out.write_text(json.dumps(config, indent=2))
    return out
