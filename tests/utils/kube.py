"""Helpers for tests that drive the real apiserver: CRD install, applying examples, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import KINDS_BY_NAME
from mpcs.dev import cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout_s: float = 60.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        if last and not isinstance(last, AssertionError):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what or check}; last: {last!r}")
        time.sleep(0.25)


install_crds = cluster.install_crds  # re-exported for the tests


@contextmanager
def temporary_namespace(kube_client: ApiClient, name: str) -> Iterator[str]:
    """Namespace `name`, created on entry and deleted on exit (tests isolate by namespace)."""
    core = k8s.CoreV1Api(kube_client)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


def examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


class Custom:
    """Terse access to MPCS objects in one namespace."""

    def __init__(self, kube_client: ApiClient, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(kube_client)
        self.namespace = namespace

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        plural = KINDS_BY_NAME[obj["kind"]].plural
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, obj
        )
        return result

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def delete(self, plural: str, name: str) -> None:
        try:
            self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, body)

    def condition(self, plural: str, name: str, kind: str) -> dict[str, Any] | None:
        obj = self.get(plural, name) or {}
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == kind:
                return dict(cond)
        return None

    def wait_phase(
        self, plural: str, name: str, phase: str, timeout_s: float = 60
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.get(plural, name)
            return obj if obj and (obj.get("status") or {}).get("phase") == phase else None

        return eventually(check, timeout_s=timeout_s, what=f"{plural}/{name} phase {phase}")
