"""The generated CRDs in a real kube-apiserver: valid objects are accepted and defaulted.

Every object in examples/ must be accepted, with the defaults the models declare applied by the
server; status objects built from the models must be stored unchanged (the status schema and the
models agree); the kinds are discoverable the way `kubectl get mpcs` finds them.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
from crd_cases import example
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from utils.kube import EXAMPLES, Custom, examples

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import (
    CATEGORY,
    KINDS,
    KINDS_BY_NAME,
    CommandPlanStatus,
    GroundStationStatus,
    MissionStatus,
    SatelliteStatus,
)
from mpcs.dev import tools

pytestmark = pytest.mark.integration


def test_every_example_is_accepted(kube_client: ApiClient, crds: None, namespace: str) -> None:
    custom = Custom(kube_client, namespace)
    for obj in examples():
        stored = custom.create(copy.deepcopy(obj))
        assert stored["metadata"]["name"] == obj["metadata"]["name"]
        # The server applies the defaults the models declare, down into omitted sub-objects.
        model = KINDS_BY_NAME[obj["kind"]].spec_model
        assert model.model_validate(stored["spec"]).model_dump() == (
            model.model_validate(obj["spec"]).model_dump()
        )
    sat = custom.get("satellites", "firewatch-1")
    assert sat is not None
    assert sat["spec"]["bus"]["heaterW"] == 6.0  # not in the example: defaulted by the server


def test_omitted_sub_objects_get_their_defaults(
    kube_client: ApiClient, crds: None, namespace: str
) -> None:
    custom = Custom(kube_client, namespace)
    sat = example("Satellite")
    for key in ("bus", "simulator", "telemetryIntervalSeconds"):
        del sat["spec"][key]
    stored = custom.create(sat)
    assert stored["spec"]["bus"]["batteryWh"] == 80.0
    assert stored["spec"]["simulator"] == {
        "enabled": True,
        "seed": 0,
        "timeScale": 1.0,
        "initialBatteryPct": 80.0,
    }
    assert stored["spec"]["telemetryIntervalSeconds"] == 10.0
    plan = example("CommandPlan")
    stored = custom.create(plan)
    assert stored["spec"]["steps"][0]["timeoutSeconds"] == 60.0
    assert "offsetSeconds" not in stored["spec"]["steps"][0] or (
        stored["spec"]["steps"][0]["offsetSeconds"] == 0
    )


_STATUSES: dict[str, dict[str, Any]] = {
    "GroundStation": GroundStationStatus.model_validate(
        {
            "nextPasses": [
                {
                    "satellite": "firewatch-1",
                    "mission": "wildfire",
                    "aos": "2025-06-01T12:00:00Z",
                    "los": "2025-06-01T12:09:00Z",
                    "maxElevationDeg": 47.5,
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Valid",
                    "message": "ok",
                    "lastTransitionTime": "2025-06-01T11:00:00Z",
                    "observedGeneration": 1,
                }
            ],
            "observedGeneration": 1,
        }
    ).to_wire(),
    "Mission": MissionStatus.model_validate(
        {
            "phase": "Ready",
            "conditions": [{"type": "TopicsReady", "status": "True"}],
            "topics": {"telemetry": "mpcs.ns.wildfire.telemetry", "dlq": "mpcs.ns.wildfire.dlq"},
            "bucket": "ns.wildfire",
            "endpoints": {"commandApi": "http://wildfire-api.ns.svc:8080"},
            "satelliteCount": 3,
            "observedGeneration": 2,
        }
    ).to_wire(),
    "Satellite": SatelliteStatus.model_validate(
        {
            "phase": "Ready",
            "orbit": {
                "periodMinutes": 95.03,
                "inclinationDeg": 97.45,
                "apogeeKm": 524.8,
                "perigeeKm": 509.2,
            },
            "nextPass": {
                "station": "svalbard",
                "aos": "2025-06-01T12:00:00Z",
                "los": "2025-06-01T12:09:00Z",
                "maxElevationDeg": 35.2,
            },
            "lastTelemetryTime": "2025-06-01T11:59:50Z",
            "observedGeneration": 1,
        }
    ).to_wire(),
    "CommandPlan": CommandPlanStatus.model_validate(
        {
            "phase": "Scheduled",
            "schedule": [
                {
                    "name": "payload-on",
                    "command": "PAYLOAD_ON",
                    "scheduledAt": "2025-06-01T12:01:00Z",
                    "state": "executed",
                    "sentAt": "2025-06-01T12:01:00Z",
                    "ackedAt": "2025-06-01T12:01:01Z",
                    "executedAt": "2025-06-01T12:01:01Z",
                    "commandId": "0b5f4c9e-3f7c-4f56-9a0c-0c5cb3c0a3f1",
                }
            ],
            "observedGeneration": 1,
        }
    ).to_wire(),
}


@pytest.mark.parametrize("kind", [k.kind for k in KINDS])
def test_status_from_the_models_is_stored_unchanged(
    kube_client: ApiClient, crds: None, namespace: str, kind: str
) -> None:
    info = KINDS_BY_NAME[kind]
    obj = example(kind)
    Custom(kube_client, namespace).create(obj)
    api = k8s.CustomObjectsApi(kube_client)
    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, info.plural, obj["metadata"]["name"], {"status": _STATUSES[kind]}
    )
    assert patched["status"] == _STATUSES[kind]
    assert info.status_model.model_validate(patched["status"]).to_wire() == _STATUSES[kind]


def test_kinds_are_discoverable_by_short_name_and_category(
    kube_client: ApiClient, crds: None
) -> None:
    resources = k8s.CustomObjectsApi(kube_client).get_api_resources(GROUP, VERSION).resources
    by_kind = {r.kind: r for r in resources if "/" not in r.name}
    for info in KINDS:
        resource = by_kind[info.kind]
        assert resource.short_names == [info.short_name]
        assert CATEGORY in resource.categories
        assert resource.namespaced
    assert {r.name for r in resources if r.name.endswith("/status")} == {
        f"{info.plural}/status" for info in KINDS
    }


def test_kubectl_applies_the_examples_and_lists_them_as_mpcs(
    kube_client: ApiClient, crds: None, kubeconfig: Path, namespace: str
) -> None:
    """The user's path (DESIGN §1): `kubectl apply -f examples/`, then `kubectl get mpcs`."""
    kubectl = [str(tools.binary("kubectl")), "--kubeconfig", str(kubeconfig), "-n", namespace]

    def run(*argv: str) -> str:
        result = subprocess.run(
            [*kubectl, *argv], capture_output=True, text=True, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    # Server-side apply validates fields strictly: a typo in an example would fail here.
    applied = run("apply", "--server-side", "--field-manager=mpcs-test", "-f", str(EXAMPLES))
    assert applied.count("serverside-applied") == len(examples())
    listed = run("get", "mpcs", "-o", "name")
    expected = {
        f"{KINDS_BY_NAME[o['kind']].singular}.{GROUP}/{o['metadata']['name']}" for o in examples()
    }
    assert set(listed.split()) == expected
    header = run("get", "sat").splitlines()[0].split()
    assert header[:5] == ["NAME", "MISSION", "PHASE", "PERIOD", "INCLINATION"]
    assert "AGE" in header
