"""Kubernetes I/O for the operator: server-side apply of children and a few reads.

Server-side apply is what makes the handlers level-based: applying the same manifest twice is a
no-op, and a drifted or deleted child is put back by the next apply. The official client is
synchronous, so every call runs in a worker thread and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Collection
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources.peering import peering_object, peering_path
from mpcs.operator.conditions import merge_owned

FIELD_MANAGER = "mpcs-operator"

#: apiVersion/kind → (URL prefix, plural) for the kinds the operator writes.
_PATHS: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Secret"): ("/api/v1", "secrets"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1",
        "rolebindings",
    ),
    # grafana-operator's kinds, written only where its CRDs are served.
    ("grafana.integreatly.org/v1beta1", "GrafanaDashboard"): (
        "/apis/grafana.integreatly.org/v1beta1",
        "grafanadashboards",
    ),
    ("grafana.integreatly.org/v1beta1", "GrafanaDatasource"): (
        "/apis/grafana.integreatly.org/v1beta1",
        "grafanadatasources",
    ),
}


#: Kinds applied after the others in `Kube.apply_all` (default stage 0).
_STAGES: dict[str, int] = {"RoleBinding": 1}


class PeeringMissing(RuntimeError):
    """Peering was asked for but the cluster has no peering CRDs."""


def _object_path(obj: dict[str, Any]) -> str:
    prefix, plural = _PATHS[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"


class Kube:
    """The handful of API calls the handlers make, all async."""

    def __init__(self, api: ApiClient, *, max_in_flight: int = 32) -> None:
        self.api = api
        self._in_flight = asyncio.Semaphore(max_in_flight)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One raw API call with the client's credentials; raises ApiException on non-2xx."""
        http_method, url, headers, payload, post = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            http_method, url, header_params=headers, body=payload, post_params=post
        )
        response.read()  # type: ignore[no-untyped-call]
        text = response.data.decode() if response.data else ""
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        parsed: dict[str, Any] = json.loads(text) if text else {}
        return parsed

    def _apply_sync(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._request(
            "PATCH",
            _object_path(obj),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply one child (create or converge)."""
        async with self._in_flight:
            return await asyncio.to_thread(self._apply_sync, obj)

    async def apply_all(self, objs: list[dict[str, Any]]) -> None:
        """Apply children side by side, in stages where the apiserver needs an order.

        A RoleBinding is checked against its Role (RBAC escalation prevention): applied in the
        same instant as a new Role, it fails with 404 "not found". So bindings go second.
        """
        for stage in sorted({_STAGES.get(obj["kind"], 0) for obj in objs}):
            batch = [obj for obj in objs if _STAGES.get(obj["kind"], 0) == stage]
            await asyncio.gather(*(self.apply(obj) for obj in batch))

    async def read_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded data, or None when it does not exist.

        A raw GET, not `CoreV1Api`: importing that generated module alone costs 85 MB of RSS.
        """
        path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
        try:
            secret = await asyncio.to_thread(self._request, "GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    async def get_custom(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        path = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"
        try:
            return await asyncio.to_thread(self._request, "GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_status(
        self, *, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """Merge-patch part of an MPCS object's status (the status subresource)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
        async with self._in_flight:
            await asyncio.to_thread(
                self._request,
                "PATCH",
                path,
                body={"status": status},
                content_type="application/merge-patch+json",
            )

    async def patch_conditions(
        self,
        *,
        plural: str,
        namespace: str,
        name: str,
        conditions: list[dict[str, Any]],
        owned: Collection[str],
        attempts: int = 5,
    ) -> None:
        """Write the condition types in `owned` as `conditions` has them, keeping every other
        condition as the server has it now (another writer's: the alerts runner's `Alerting`):
        read, merge by type (`merge_owned`), merge-patch under the resourceVersion read. A
        concurrent write is a 409 and the merge is redone, so neither writer drops the other's
        conditions."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"

        def _write() -> None:
            for attempt in range(attempts):
                current = self._request("GET", path)
                body = {
                    "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                    "status": {
                        "conditions": merge_owned(
                            (current.get("status") or {}).get("conditions"),
                            conditions,
                            owned=owned,
                        )
                    },
                }
                try:
                    self._request(
                        "PATCH",
                        f"{path}/status",
                        body=body,
                        content_type="application/merge-patch+json",
                    )
                    return
                except ApiException as exc:
                    if exc.status != 409 or attempt == attempts - 1:
                        raise

        async with self._in_flight:
            await asyncio.to_thread(_write)

    async def ensure_peering(self, name: str, namespace: str | None) -> None:
        """Create the Kopf peering object when missing (replicas race: a 409 is success)."""

        def _ensure() -> None:
            try:
                self._request("GET", peering_path(name, namespace))
                return
            except ApiException as exc:
                if exc.status != 404:
                    raise
            collection = peering_path(name, namespace).rsplit("/", 1)[0]
            try:
                self._request("POST", collection, body=peering_object(name, namespace))
            except ApiException as exc:
                if exc.status == 404:
                    raise PeeringMissing(
                        "the Kopf peering CRDs are not installed (crds/kopf.dev_*.yaml); "
                        "install them or run the operator with --standalone"
                    ) from exc
                if exc.status != 409:
                    raise

        await asyncio.to_thread(_ensure)

    async def served_resources(self, group_version: str) -> set[str]:
        """The resources (plurals) the apiserver serves under `group_version`; empty if none."""
        try:
            found = await asyncio.to_thread(self._request, "GET", f"/apis/{group_version}")
        except ApiException as exc:
            if exc.status == 404:
                return set()
            raise
        return {str(r["name"]) for r in found.get("resources", []) if "/" not in r["name"]}

    async def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The object `obj` names (apiVersion, kind, namespace, name), or None when absent."""

        def _get() -> dict[str, Any] | None:
            try:
                return self._request("GET", _object_path(obj))
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

        return await asyncio.to_thread(_get)

    async def delete(self, obj: dict[str, Any]) -> None:
        def _delete() -> None:
            try:
                self._request("DELETE", _object_path(obj))
            except ApiException as exc:
                if exc.status != 404:
                    raise

        await asyncio.to_thread(_delete)
