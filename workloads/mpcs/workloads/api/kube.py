"""The mission's Satellite, Mission and GroundStation objects, read from the Kubernetes API.

The `kubernetes` client is synchronous, so every call runs in a worker thread
(`asyncio.to_thread`). Lists are cached for `ttl_s` seconds: a stale list is served while one
refresh runs in the background, and a name missing from the cache forces a fresh read (a Satellite
created a moment ago is found at once).

Credentials: `KUBECONFIG` when set (development), else the pod's in-cluster service account.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from mpcs.core.names import GROUP, VERSION

log = logging.getLogger(__name__)


class ObjectSource(Protocol):
    """Where custom objects come from (the Kubernetes API, or a fixed list in unit tests)."""

    async def list(self, plural: str) -> list[dict[str, Any]]: ...

    async def get(self, plural: str, name: str) -> dict[str, Any] | None: ...


class KubeSource:
    """Namespaced custom objects of group mpcs.io through the Kubernetes API."""

    def __init__(self, namespace: str, *, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        self.namespace = namespace
        path = kubeconfig if kubeconfig is not None else os.environ.get("KUBECONFIG")
        if path:
            self._api_client = config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            self._api_client = client.ApiClient()
        self._api = client.CustomObjectsApi(self._api_client)

    def close(self) -> None:
        self._api_client.close()

    async def list(self, plural: str) -> list[dict[str, Any]]:
        def call() -> list[dict[str, Any]]:
            result = self._api.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, _request_timeout=10
            )
            return list(_as_dict(result).get("items") or [])

        return await asyncio.to_thread(call)

    async def get(self, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        def call() -> dict[str, Any] | None:
            try:
                result = self._api.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, name, _request_timeout=10
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return _as_dict(result)

        return await asyncio.to_thread(call)


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        converted = to_dict()
        if isinstance(converted, dict):
            return converted
    raise TypeError(f"unexpected Kubernetes API answer: {type(result).__name__}")


@dataclass
class _Cached:
    items: dict[str, dict[str, Any]]
    at: float


class Directory:
    """The mission's satellites and ground stations, cached briefly."""

    def __init__(self, source: ObjectSource, *, mission: str, ttl_s: float = 2.0) -> None:
        self.source = source
        self.mission = mission
        self.ttl_s = ttl_s
        self._cache: dict[str, _Cached] = {}
        self._refreshing: dict[str, asyncio.Task[dict[str, dict[str, Any]]]] = {}

    async def _read(self, plural: str) -> dict[str, dict[str, Any]]:
        items = await self.source.list(plural)
        by_name = {str(o["metadata"]["name"]): o for o in items if _name(o)}
        self._cache[plural] = _Cached(by_name, time.monotonic())
        return by_name

    async def _refresh(self, plural: str) -> dict[str, dict[str, Any]]:
        """One read at a time per kind; concurrent callers share it."""
        task = self._refreshing.get(plural)
        if task is None or task.done():
            task = asyncio.ensure_future(self._read(plural))
            self._refreshing[plural] = task
        return await asyncio.shield(task)

    async def objects(self, plural: str, *, need: str | None = None) -> dict[str, dict[str, Any]]:
        """Objects of a kind by name; fresh if the cache is empty or lacks `need`."""
        cached = self._cache.get(plural)
        if cached is None or (need is not None and need not in cached.items):
            return await self._refresh(plural)
        if time.monotonic() - cached.at > self.ttl_s:
            running = self._refreshing.get(plural)
            if running is None or running.done():
                self._refreshing[plural] = asyncio.ensure_future(self._quiet_read(plural))
        return cached.items

    async def _quiet_read(self, plural: str) -> dict[str, dict[str, Any]]:
        try:
            return await self._read(plural)
        except Exception as exc:  # a background refresh must not crash; the stale list stays
            log.warning("refreshing %s from the Kubernetes API failed: %s", plural, exc)
            return self._cache[plural].items if plural in self._cache else {}

    async def satellites(self) -> list[dict[str, Any]]:
        """Satellite objects whose spec.missionRef.name is this mission, by name."""
        items = await self.objects("satellites")
        return [o for name, o in sorted(items.items()) if self._ours(o)]

    async def satellite(self, name: str) -> dict[str, Any] | None:
        obj = (await self.objects("satellites", need=name)).get(name)
        return obj if obj is not None and self._ours(obj) else None

    async def ground_stations(self) -> list[dict[str, Any]]:
        """The GroundStation objects the Mission lists (none when the Mission is missing)."""
        missions = await self.objects("missions", need=self.mission)
        mission = missions.get(self.mission)
        if mission is None:
            return []
        wanted = list((mission.get("spec") or {}).get("groundStations") or [])
        stations = await self.objects("groundstations")
        if any(name not in stations for name in wanted):
            stations = await self._refresh("groundstations")
        return [stations[name] for name in wanted if name in stations]

    def _ours(self, obj: dict[str, Any]) -> bool:
        ref = ((obj.get("spec") or {}).get("missionRef") or {}).get("name")
        return bool(ref == self.mission)

    async def close(self) -> None:
        for task in self._refreshing.values():
            task.cancel()
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)


def _name(obj: dict[str, Any]) -> str | None:
    name = (obj.get("metadata") or {}).get("name")
    return str(name) if name else None
