"""Kopf's peering kinds, shipped with MPCS so two operator replicas keep exactly one active.

Kopf does not install these itself. Each running operator writes its identity, priority and
lifetime into the status of one peering object. Operators that see a live peer with a higher
priority pause. The schema is Kopf's own (group `kopf.dev`, version `v1`): an open status map
keyed by operator identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"


@dataclass(frozen=True)
class PeeringKind:
    """One of the two peering kinds: cluster-wide operators use the first, namespaced the second."""

    kind: str
    plural: str
    scope: str

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{PEERING_GROUP}"

    @property
    def file_name(self) -> str:
        return f"{PEERING_GROUP}_{self.plural}.yaml"


CLUSTER_PEERING = PeeringKind("ClusterKopfPeering", "clusterkopfpeerings", "Cluster")
NAMESPACED_PEERING = PeeringKind("KopfPeering", "kopfpeerings", "Namespaced")
PEERING_KINDS = (CLUSTER_PEERING, NAMESPACED_PEERING)


def peering_crd_manifest(info: PeeringKind) -> dict[str, Any]:
    """The CRD of one peering kind (no status subresource: Kopf patches the object itself)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "labels": {"app.kubernetes.io/part-of": "mpcs"}},
        "spec": {
            "group": PEERING_GROUP,
            "scope": info.scope,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.kind.lower(),
            },
            "versions": [
                {
                    "name": PEERING_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Kopf operators' liveness and priority, by identity.",
                            "properties": {
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def peering_crd_manifests() -> list[dict[str, Any]]:
    """Both peering CRDs, installed next to the four MPCS CRDs."""
    return [peering_crd_manifest(info) for info in PEERING_KINDS]


def peering_object(name: str, namespace: str | None = None) -> dict[str, Any]:
    """The peering object replicas meet in: cluster-wide without a namespace, else namespaced."""
    info = NAMESPACED_PEERING if namespace else CLUSTER_PEERING
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "mpcs"}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}",
        "kind": info.kind,
        "metadata": metadata,
    }


def peering_path(name: str, namespace: str | None = None) -> str:
    """The object's URL path on the apiserver."""
    prefix = f"/apis/{PEERING_GROUP}/{PEERING_VERSION}"
    if namespace:
        return f"{prefix}/namespaces/{namespace}/{NAMESPACED_PEERING.plural}/{name}"
    return f"{prefix}/{CLUSTER_PEERING.plural}/{name}"
