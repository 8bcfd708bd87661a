"""Kubernetes I/O of the executor: list the mission's CommandPlans and merge-patch their status.

The official client is synchronous, so every call runs in a worker thread (`asyncio.to_thread`).
Status patches carry the resourceVersion the decision was made from: if anyone changed the plan in
between (the operator rescheduling it, a user editing it), the apiserver answers 409 and the runner
decides again from a fresh read instead of overwriting newer state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION

PLURAL = "commandplans"


class Conflict(Exception):
    """The plan changed since it was read (409) or is gone (404); read it again."""


class PlanStore:
    """The mission's CommandPlans in one namespace."""

    def __init__(self, api: ApiClient, *, namespace: str, mission: str) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.namespace = namespace
        self.mission = mission

    def _list(self) -> list[dict[str, Any]]:
        result: Any = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, _request_timeout=30
        )
        items = result.get("items") or []
        return [
            dict(item)
            for item in items
            if ((item.get("spec") or {}).get("missionRef") or {}).get("name") == self.mission
        ]

    async def list(self) -> list[dict[str, Any]]:
        """Every CommandPlan of the mission (a consistent read from the apiserver)."""
        return await asyncio.to_thread(self._list)

    def _patch_status(
        self, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        try:
            result: Any = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                body,
                _content_type="application/merge-patch+json",
                _request_timeout=30,
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                raise Conflict(f"{name}: {exc.reason}") from None
            raise
        return dict(result)

    async def patch_status(
        self, name: str, *, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the whole status; raises Conflict when the plan changed or is gone."""
        return await asyncio.to_thread(self._patch_status, name, resource_version, status)
