"""The operator's ClusterRole: exactly the verbs its handlers and Kopf itself use.

One definition, used by the Helm chart (rendered by `mpcs operator rbac`) and by the tests, which
run the operator under this role and not as cluster-admin.
"""

from __future__ import annotations

from typing import Any

from mpcs.core import names

CLUSTER_ROLE = "mpcs-operator"

RULES: list[dict[str, Any]] = [
    # Kopf: discover resources, watch our kinds, keep its finalizers/annotations, write status.
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": [names.GROUP],
        "resources": ["missions", "satellites", "groundstations", "commandplans"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        "apiGroups": [names.GROUP],
        "resources": [
            "missions/status",
            "satellites/status",
            "groundstations/status",
            "commandplans/status",
        ],
        "verbs": ["get", "patch"],
    },
    {
        "apiGroups": ["kopf.dev"],
        "resources": ["clusterkopfpeerings", "kopfpeerings"],
        "verbs": ["get", "list", "watch", "patch", "create"],
    },
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
    # Children, written by server-side apply (patch) and read back.
    {
        "apiGroups": [""],
        "resources": ["configmaps", "secrets", "services", "serviceaccounts"],
        "verbs": ["get", "patch", "create", "delete"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "patch", "create", "delete"],
    },
    # A Mission's dashboards for grafana-operator, where its CRDs are installed (discovery reads
    # the group's resource list, which needs no rule).
    {
        "apiGroups": ["grafana.integreatly.org"],
        "resources": ["grafanadashboards", "grafanadatasources"],
        "verbs": ["get", "patch", "create", "delete"],
    },
    # Granting a Role requires holding its permissions; the workloads' Role is a subset of these
    # plus reading the mission's token Secret (the alerts runner's satellites/status get+patch
    # and events create are granted above: the operator needs them itself).
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["roles", "rolebindings"],
        "verbs": ["get", "patch", "create", "delete"],
    },
]


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE, "labels": {"app.kubernetes.io/part-of": names.PART_OF}},
        "rules": RULES,
    }


def cluster_role_binding(*, namespace: str, service_account: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": f"{CLUSTER_ROLE}-{namespace}",
            "labels": {"app.kubernetes.io/part-of": names.PART_OF},
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": CLUSTER_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }
