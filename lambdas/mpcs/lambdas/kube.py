"""The alerts runner's Kubernetes calls: the mission's Satellites, their status, Events.

Under the mission's workloads ServiceAccount (its Role grants satellites get/list,
satellites/status get/patch and events create). The official client is synchronous; the
flow-back calls these from worker threads. A status patch carries the resourceVersion its
conditions were merged from, so a concurrent write by the operator is a 409 (`StatusConflict`)
and the merge is done again rather than dropping the operator's conditions.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION

from .flowback import StatusConflict

PLURAL = "satellites"
_TIMEOUT_S = 30


class KubeSatellites:
    """The Satellites of one mission in one namespace."""

    def __init__(self, api: ApiClient, *, namespace: str, mission: str) -> None:
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        self.namespace = namespace
        self.mission = mission

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            found: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=_TIMEOUT_S
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    def list_names(self) -> list[str]:
        found: Any = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, _request_timeout=_TIMEOUT_S
        )
        return sorted(
            item["metadata"]["name"]
            for item in found.get("items") or []
            if ((item.get("spec") or {}).get("missionRef") or {}).get("name") == self.mission
        )

    def patch_conditions(
        self, name: str, *, resource_version: str, conditions: list[dict[str, Any]]
    ) -> None:
        body = {
            "metadata": {"resourceVersion": resource_version},
            "status": {"conditions": conditions},
        }
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                body,
                _content_type="application/merge-patch+json",
                _request_timeout=_TIMEOUT_S,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise StatusConflict(f"satellite {name}: {exc.reason}") from None
            raise

    def create_event(self, event: dict[str, Any]) -> None:
        """POST a core/v1 Event; one that already exists (a retried transition) is success.

        A raw call rather than `CoreV1Api`, whose generated module alone costs ~85 MB of RSS.
        """
        method, url, headers, payload, post = self.api.param_serialize(
            method="POST",
            resource_path=f"/api/v1/namespaces/{self.namespace}/events",
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=event,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method,
                url,
                header_params=headers,
                body=payload,
                post_params=post,
                _request_timeout=_TIMEOUT_S,
            )
            response.read()  # type: ignore[no-untyped-call]
            if not 200 <= response.status <= 299:
                text = response.data.decode() if response.data else ""
                raise ApiException.from_response(http_resp=response, body=text, data=None)
        except ApiException as exc:
            if exc.status != 409:
                raise
