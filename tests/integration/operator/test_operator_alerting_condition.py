"""The operator's Satellite status writes keep the alerts runner's `Alerting` condition, against
the real apiserver: the operator writes its own condition types merged by type into what the
server holds now (not the list it read when its reconcile began), under the resourceVersion it
read, and redoes the merge when the runner wrote in between (a 409)."""

from __future__ import annotations

import copy
import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client import ApiClient
from utils.kube import Custom, examples

from mpcs.lambdas.flowback import merge_alerting
from mpcs.lambdas.kube import KubeSatellites
from mpcs.operator.kube import Kube
from mpcs.operator.objects import read_satellite
from mpcs.operator.reconcile import Outcome
from mpcs.operator.reconcile.satellite import write_conditions

pytestmark = pytest.mark.integration

FIRING = [{"rule": "battery-low", "severity": "critical"}]


def _ready(status: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": "Provisioned" if status == "True" else "Waiting",
        "message": "test",
        "lastTransitionTime": "2026-01-01T00:00:00.000Z",
        "observedGeneration": 1,
    }


def _runner_sets_alerting(
    kube_client: ApiClient, namespace: str, name: str, firing: list[dict[str, Any]]
) -> None:
    """What the alerts runner's flow-back does: merge Alerting into the conditions it reads."""
    sats = KubeSatellites(kube_client, namespace=namespace, mission="wildfire")
    body = sats.get(name)
    assert body is not None
    sats.patch_conditions(
        name,
        resource_version=body["metadata"]["resourceVersion"],
        conditions=merge_alerting(
            (body.get("status") or {}).get("conditions"),
            firing,
            generation=1,
            now=dt.datetime.now(dt.UTC),
        ),
    )


class _RacingKube(Kube):
    """A Kube whose first status PATCH is preceded by the runner's write (a real concurrent
    change on the server, so that PATCH carries a stale resourceVersion)."""

    def __init__(self, api: ApiClient, race: Any) -> None:
        super().__init__(api)
        self.race = race
        self.patches = 0

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH" and path.endswith("/status"):
            self.patches += 1
            if self.patches == 1:
                self.race()
        return super()._request(method, path, **kwargs)


def _conditions(custom: Custom, name: str) -> dict[str, str]:
    found = (custom.get("satellites", name) or {}).get("status", {}).get("conditions", [])
    return {c["type"]: c["status"] for c in found}


@pytest.mark.usefixtures("crds")
async def test_operator_status_writes_keep_the_runners_alerting_condition(
    kube_client: ApiClient, namespace: str
) -> None:
    custom = Custom(kube_client, namespace)
    sat = copy.deepcopy(next(o for o in examples() if o["kind"] == "Satellite"))
    name = sat["metadata"]["name"]
    custom.create(sat)
    stale = read_satellite(custom.get("satellites", name) or {})  # read before the runner wrote

    # 1. The runner sets Alerting; the operator then writes from its stale read.
    _runner_sets_alerting(kube_client, namespace, name, FIRING)
    services: Any = SimpleNamespace(kube=Kube(kube_client))
    outcome = await write_conditions(
        stale, Outcome({"phase": "Ready", "conditions": [_ready("False")]}), services=services
    )
    assert "conditions" not in outcome.status  # Kopf's patch no longer carries the list
    assert outcome.status == {"phase": "Ready"}
    assert _conditions(custom, name) == {"Alerting": "True", "Ready": "False"}

    # 2. The runner resolves the alert between the operator's read and its patch: a 409, merged
    # again onto what the runner wrote.
    racing = _RacingKube(
        kube_client, lambda: _runner_sets_alerting(kube_client, namespace, name, [])
    )
    custom_read = read_satellite(custom.get("satellites", name) or {})
    await write_conditions(
        custom_read,
        Outcome({"conditions": [_ready("True")]}),
        services=SimpleNamespace(kube=racing),  # type: ignore[arg-type]
    )
    assert racing.patches == 2  # the first PATCH was refused (409) and the merge redone
    assert _conditions(custom, name) == {"Alerting": "False", "Ready": "True"}

    # 3. Nothing of ours changed since the read: no write at all.
    quiet = _RacingKube(kube_client, lambda: None)
    latest = read_satellite(custom.get("satellites", name) or {})
    await write_conditions(
        latest,
        Outcome({"conditions": [c for c in latest.status["conditions"] if c["type"] == "Ready"]}),
        services=SimpleNamespace(kube=quiet),  # type: ignore[arg-type]
    )
    assert quiet.patches == 0
