"""The generated CRDs in a real kube-apiserver: invalid objects are rejected naming the field.

The CRDs from `crd_manifests()` are server-side applied once per module (they are cluster-scoped;
applying is idempotent, so other modules may apply them too). Each catalogue entry breaks one
thing in a valid example object and states the field path and the message fragment the API server
must return; the same object must also be rejected by the pydantic model the operator parses with.
Every object in examples/ must be accepted, and status objects built from the models must be
stored unchanged (the status schema and the models agree).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from mpcs.core.names import GROUP, VERSION
from mpcs.core.resources import (
    CATEGORY,
    KINDS,
    KINDS_BY_NAME,
    CommandPlanStatus,
    GroundStationStatus,
    MissionStatus,
    SatelliteStatus,
    crd_manifests,
)
from mpcs.dev import tools
from mpcs.orbit.tle import tle_checksum

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FIELD_MANAGER = "mpcs-tests"


def _examples() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def _example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in _examples() if o["kind"] == kind))


@pytest.fixture(scope="module")
def crds(kube_client: ApiClient) -> None:
    """Server-side apply the four CRDs and wait until they are Established."""
    ext = k8s.ApiextensionsV1Api(kube_client)
    for manifest in crd_manifests():
        ext.patch_custom_resource_definition(
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    deadline = time.monotonic() + 30
    for manifest in crd_manifests():
        while True:
            crd = ext.read_custom_resource_definition(manifest["metadata"]["name"])
            conditions = {c.type: c for c in (crd.status.conditions or [])}
            assert "NonStructuralSchema" not in conditions, conditions["NonStructuralSchema"]
            established = conditions.get("Established")
            if established is not None and established.status == "True":
                break
            assert time.monotonic() < deadline, f"{crd.metadata.name} not Established"
            time.sleep(0.2)
    # Discovery catches up a moment after Established.
    api = k8s.CustomObjectsApi(kube_client)
    while True:
        try:
            api.list_cluster_custom_object(GROUP, VERSION, KINDS[-1].plural, limit=1)
            return
        except ApiException:
            assert time.monotonic() < deadline, "custom resources not served"
            time.sleep(0.2)


def _create(kube_client: ApiClient, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    info = KINDS_BY_NAME[obj["kind"]]
    result: dict[str, Any] = k8s.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, info.plural, obj
    )
    return result


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Invalid:
    """One invalid manifest: `mutate` breaks the example spec of `kind`."""

    id: str
    kind: str
    mutate: Mutation
    field: str
    fragment: str
    #: The message comes from our CEL rule, so the model's error carries the same text.
    cel: bool = False


def _set(path: str, value: Any) -> Mutation:
    """Set spec.<path> (dotted; integers index lists) to `value`, creating objects on the way."""

    def mutate(spec: dict[str, Any]) -> None:
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        node: Any = spec
        for key in keys[:-1]:
            if isinstance(key, str) and key not in node:
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for key in parents:
            node = node[int(key) if key.isdigit() else key]
        del node[last]

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(spec)

    return mutate


def _tle_line(number: int, satnum: str = "63201") -> str:
    """A 69-character line with a valid checksum, so only the intended defect is wrong."""
    if number == 1:
        line = f"1 {satnum}U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  999"
    else:
        line = f"2 {satnum}  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 1204"
    return line + str(tle_checksum(line))


_GS, _MSN, _SAT, _PLAN = "GroundStation", "Mission", "Satellite", "CommandPlan"
_LE = "should be less than or equal to"
_GE = "should be greater than or equal to"
_GT = "should be greater than"
_ENUM = "Unsupported value"
_REQUIRED = "Required value"
_PATTERN = "should match"

CATALOGUE = [
    # GroundStation
    Invalid("gs-latitude-above-90", _GS, _set("latitudeDeg", 91), "spec.latitudeDeg", f"{_LE} 90"),
    Invalid(
        "gs-longitude-below-180",
        _GS,
        _set("longitudeDeg", -180.5),
        "spec.longitudeDeg",
        f"{_GE} -180",
    ),
    Invalid("gs-latitude-missing", _GS, _delete("latitudeDeg"), "spec.latitudeDeg", _REQUIRED),
    Invalid("gs-altitude-too-high", _GS, _set("altitudeM", 9001), "spec.altitudeM", f"{_LE} 9000"),
    Invalid(
        "gs-min-elevation-90", _GS, _set("minElevationDeg", 90), "spec.minElevationDeg", f"{_LE} 89"
    ),
    Invalid("gs-band-unknown", _GS, _set("band", "L"), "spec.band", _ENUM),
    Invalid(
        "gs-mask-azimuth-361",
        _GS,
        _set("horizonMask.0.azimuthDeg", 361),
        "spec.horizonMask[0].azimuthDeg",
        f"{_LE} 360",
    ),
    Invalid(
        "gs-mask-azimuth-repeated",
        _GS,
        _set("horizonMask.1.azimuthDeg", 0),
        "spec.horizonMask",
        "horizonMask azimuths must be unique",
        cel=True,
    ),
    # Mission
    Invalid(
        "msn-stations-repeated",
        _MSN,
        _set("groundStations", ["svalbard", "inuvik", "svalbard"]),
        "spec.groundStations",
        "groundStations must not repeat a station",
        cel=True,
    ),
    Invalid(
        "msn-station-not-a-name",
        _MSN,
        _set("groundStations", ["Svalbard"]),
        "spec.groundStations[0]",
        _PATTERN,
    ),
    Invalid(
        "msn-description-too-long",
        _MSN,
        _set("description", "x" * 1025),
        "spec.description",
        "Too long",
    ),
    Invalid(
        "msn-retention-0-days",
        _MSN,
        _set("telemetry.retentionDays", 0),
        "spec.telemetry.retentionDays",
        f"{_GE} 1",
    ),
    Invalid(
        "msn-partitions-129",
        _MSN,
        _set("kafka.partitions", 129),
        "spec.kafka.partitions",
        f"{_LE} 128",
    ),
    Invalid(
        "msn-replication-6",
        _MSN,
        _set("kafka.replicationFactor", 6),
        "spec.kafka.replicationFactor",
        f"{_LE} 5",
    ),
    Invalid(
        "msn-kafka-retention-a-year-and-a-day",
        _MSN,
        _set("kafka.retentionHours", 8761),
        "spec.kafka.retentionHours",
        f"{_LE} 8760",
    ),
    Invalid(
        "msn-api-replicas-11",
        _MSN,
        _set("commandApi.replicas", 11),
        "spec.commandApi.replicas",
        f"{_LE} 10",
    ),
    Invalid(
        "msn-auth-secret-not-a-name",
        _MSN,
        _set("commandApi.authSecretName", "API_tokens"),
        "spec.commandApi.authSecretName",
        _PATTERN,
    ),
    Invalid(
        "msn-alert-operator-unknown",
        _MSN,
        _set("alerts.0.operator", "=>"),
        "spec.alerts[0].operator",
        _ENUM,
    ),
    Invalid(
        "msn-alert-severity-unknown",
        _MSN,
        _set("alerts.0.severity", "fatal"),
        "spec.alerts[0].severity",
        _ENUM,
    ),
    Invalid(
        "msn-alert-threshold-missing",
        _MSN,
        _delete("alerts.0.threshold"),
        "spec.alerts[0].threshold",
        _REQUIRED,
    ),
    Invalid(
        "msn-alert-names-repeated",
        _MSN,
        _set("alerts.1.name", "battery-low"),
        "spec.alerts",
        "alerts must have unique names",
        cel=True,
    ),
    Invalid(
        "msn-deletion-policy-unknown",
        _MSN,
        _set("deletionPolicy", "Orphan"),
        "spec.deletionPolicy",
        _ENUM,
    ),
    # Satellite
    Invalid("sat-mission-missing", _SAT, _delete("missionRef"), "spec.missionRef", _REQUIRED),
    Invalid("sat-tle-missing", _SAT, _delete("tle"), "spec.tle", _REQUIRED),
    Invalid(
        "sat-tle-line1-68-chars",
        _SAT,
        _set("tle.line1", _tle_line(1)[:68]),
        "spec.tle.line1",
        "should be at least 69 chars long",
    ),
    Invalid(
        "sat-tle-line2-70-chars",
        _SAT,
        _set("tle.line2", _tle_line(2) + "0"),
        "spec.tle.line2",
        "Too long",
    ),
    Invalid(
        "sat-tle-line1-numbered-2",
        _SAT,
        _set("tle.line1", "2" + _tle_line(1)[1:]),
        "spec.tle.line1",
        "TLE line 1 must start with '1 '",
        cel=True,
    ),
    Invalid(
        "sat-tle-line2-numbered-1",
        _SAT,
        _set("tle.line2", "1" + _tle_line(2)[1:]),
        "spec.tle.line2",
        "TLE line 2 must start with '2 '",
        cel=True,
    ),
    Invalid(
        "sat-tle-catalogue-numbers-differ",
        _SAT,
        _set("tle.line2", _tle_line(2, satnum="63202")),
        "spec.tle.line2",
        "the catalogue numbers (columns 3-7) of line1 and line2 must match",
        cel=True,
    ),
    Invalid(
        "sat-norad-id-differs-from-tle",
        _SAT,
        _set("noradId", 25544),
        "spec.noradId",
        "noradId must equal the catalogue number in columns 3-7 of tle.line1",
        cel=True,
    ),
    Invalid("sat-norad-id-0", _SAT, _set("noradId", 0), "spec.noradId", f"{_GE} 1"),
    Invalid(
        "sat-telemetry-interval-too-short",
        _SAT,
        _set("telemetryIntervalSeconds", 0.05),
        "spec.telemetryIntervalSeconds",
        f"{_GE} 0.1",
    ),
    Invalid("sat-battery-0-wh", _SAT, _set("bus.batteryWh", 0), "spec.bus.batteryWh", f"{_GT} 0"),
    Invalid(
        "sat-absorptivity-above-1",
        _SAT,
        _set("bus.absorptivity", 1.5),
        "spec.bus.absorptivity",
        f"{_LE} 1",
    ),
    Invalid(
        "sat-time-scale-0",
        _SAT,
        _set("simulator.timeScale", 0),
        "spec.simulator.timeScale",
        f"{_GT} 0",
    ),
    Invalid(
        "sat-seed-negative", _SAT, _set("simulator.seed", -1), "spec.simulator.seed", f"{_GE} 0"
    ),
    Invalid(
        "sat-fault-type-unknown",
        _SAT,
        _set("simulator.faults", [{"type": "meteorStrike"}]),
        "spec.simulator.faults[0].type",
        _ENUM,
    ),
    Invalid(
        "sat-fault-types-repeated",
        _SAT,
        _set("simulator.faults", [{"type": "stuckWheel"}, {"type": "stuckWheel", "wheel": "y"}]),
        "spec.simulator.faults",
        "faults must not repeat a fault type",
        cel=True,
    ),
    Invalid(
        "sat-fault-two-starts",
        _SAT,
        _set(
            "simulator.faults",
            [{"type": "radioDropout", "start": "2025-06-02T00:00:00Z", "startOffsetSeconds": 60}],
        ),
        "spec.simulator.faults[0].startOffsetSeconds",
        "set at most one of start and startOffsetSeconds",
        cel=True,
    ),
    Invalid(
        "sat-fault-start-not-a-time",
        _SAT,
        _set("simulator.faults", [{"type": "radioDropout", "start": "tomorrow"}]),
        "spec.simulator.faults[0].start",
        "date-time",
    ),
    Invalid(
        "sat-fault-wheel-unknown",
        _SAT,
        _set("simulator.faults", [{"type": "stuckWheel", "wheel": "w"}]),
        "spec.simulator.faults[0].wheel",
        _ENUM,
    ),
    # CommandPlan
    Invalid(
        "plan-start-both-forms",
        _PLAN,
        _set("start.at", "2025-06-01T12:00:00Z"),
        "spec.start",
        "set exactly one of at or nextPass",
        cel=True,
    ),
    Invalid(
        "plan-start-neither-form",
        _PLAN,
        _set("start", {}),
        "spec.start",
        "set exactly one of at or nextPass",
        cel=True,
    ),
    Invalid("plan-start-missing", _PLAN, _delete("start"), "spec.start", _REQUIRED),
    Invalid(
        "plan-start-at-not-a-time",
        _PLAN,
        _all(_delete("start.nextPass"), _set("start.at", "next tuesday")),
        "spec.start.at",
        "date-time",
    ),
    Invalid(
        "plan-pass-elevation-95",
        _PLAN,
        _set("start.nextPass.minElevationDeg", 95),
        "spec.start.nextPass.minElevationDeg",
        f"{_LE} 89",
    ),
    Invalid(
        "plan-pass-offset-beyond-an-hour",
        _PLAN,
        _set("start.nextPass.offsetSeconds", -3601),
        "spec.start.nextPass.offsetSeconds",
        f"{_GE} -3600",
    ),
    Invalid(
        "plan-satellite-missing", _PLAN, _delete("satelliteRef"), "spec.satelliteRef", _REQUIRED
    ),
    Invalid("plan-no-steps", _PLAN, _set("steps", []), "spec.steps", "at least 1 items"),
    Invalid(
        "plan-step-names-repeated",
        _PLAN,
        _set("steps.1.name", "payload-on"),
        "spec.steps",
        "steps must have unique names",
        cel=True,
    ),
    Invalid(
        "plan-step-name-not-a-label",
        _PLAN,
        _set("steps.0.name", "Payload_On"),
        "spec.steps[0].name",
        _PATTERN,
    ),
    Invalid(
        "plan-command-lower-case",
        _PLAN,
        _set("steps.0.command", "payload_on"),
        "spec.steps[0].command",
        _PATTERN,
    ),
    Invalid(
        "plan-step-offset-and-at",
        _PLAN,
        _set("steps.0.at", "2025-06-01T12:00:00Z"),
        "spec.steps[0].at",
        "set at most one of offsetSeconds and at",
        cel=True,
    ),
    Invalid(
        "plan-step-offset-beyond-a-day",
        _PLAN,
        _set("steps.0.offsetSeconds", 86401),
        "spec.steps[0].offsetSeconds",
        f"{_LE} 86400",
    ),
    Invalid(
        "plan-step-timeout-0",
        _PLAN,
        _set("steps.0.timeoutSeconds", 0),
        "spec.steps[0].timeoutSeconds",
        f"{_GE} 1",
    ),
    Invalid("plan-on-failure-unknown", _PLAN, _set("onFailure", "Retry"), "spec.onFailure", _ENUM),
]


def _invalid_object(case: Invalid) -> dict[str, Any]:
    obj = _example(case.kind)
    obj["metadata"] = {"name": f"bad-{case.id}"[:63].rstrip("-")}
    case.mutate(obj["spec"])
    return obj


def test_catalogue_is_large_and_distinct() -> None:
    assert len(CATALOGUE) >= 25
    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)
    assert {c.kind for c in CATALOGUE} == {k.kind for k in KINDS}


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_naming_the_field(
    kube_client: ApiClient, crds: None, namespace: str, case: Invalid
) -> None:
    with pytest.raises(ApiException) as exc:
        _create(kube_client, namespace, _invalid_object(case))
    assert exc.value.status == 422, exc.value.body
    body = json.loads(exc.value.body)
    causes = body.get("details", {}).get("causes", [])
    matching = [
        c for c in causes if c.get("field") == case.field and case.fragment in c.get("message", "")
    ]
    assert matching, f"expected {case.field}: …{case.fragment}…, got " + json.dumps(
        [{"field": c.get("field"), "message": c.get("message")} for c in causes]
    )
    # The summary a `kubectl apply` user reads names the field too.
    assert case.field in body["message"]


def _loc(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_by_the_model(case: Invalid) -> None:
    """What the API server refuses, the operator's model refuses too, on the same field."""
    obj = _invalid_object(case)
    with pytest.raises(ValidationError) as exc:
        KINDS_BY_NAME[case.kind].spec_model.model_validate(obj["spec"])
    expected = case.field.removeprefix("spec.").replace("[", ".").replace("]", "")
    errors = exc.value.errors()
    assert any(expected.startswith(_loc(e)) for e in errors), (expected, errors)
    if case.cel:
        assert case.fragment in str(exc.value)


def test_every_example_is_accepted(kube_client: ApiClient, crds: None, namespace: str) -> None:
    for obj in _examples():
        stored = _create(kube_client, namespace, copy.deepcopy(obj))
        assert stored["metadata"]["name"] == obj["metadata"]["name"]
        # The server applies the defaults the models declare, down into omitted sub-objects.
        model = KINDS_BY_NAME[obj["kind"]].spec_model
        assert model.model_validate(stored["spec"]).model_dump() == (
            model.model_validate(obj["spec"]).model_dump()
        )
    sat = k8s.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "satellites", "firewatch-1"
    )
    assert sat["spec"]["bus"]["heaterW"] == 6.0  # not in the example: defaulted by the server


def test_omitted_sub_objects_get_their_defaults(
    kube_client: ApiClient, crds: None, namespace: str
) -> None:
    sat = _example("Satellite")
    for key in ("bus", "simulator", "telemetryIntervalSeconds"):
        del sat["spec"][key]
    stored = _create(kube_client, namespace, sat)
    assert stored["spec"]["bus"]["batteryWh"] == 80.0
    assert stored["spec"]["simulator"] == {
        "enabled": True,
        "seed": 0,
        "timeScale": 1.0,
        "initialBatteryPct": 80.0,
    }
    assert stored["spec"]["telemetryIntervalSeconds"] == 10.0
    plan = _example("CommandPlan")
    stored = _create(kube_client, namespace, plan)
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
    obj = _example(kind)
    _create(kube_client, namespace, obj)
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
    assert applied.count("serverside-applied") == len(_examples())
    listed = run("get", "mpcs", "-o", "name")
    expected = {
        f"{KINDS_BY_NAME[o['kind']].singular}.{GROUP}/{o['metadata']['name']}" for o in _examples()
    }
    assert set(listed.split()) == expected
    header = run("get", "sat").splitlines()[0].split()
    assert header[:5] == ["NAME", "MISSION", "PHASE", "PERIOD", "INCLINATION"]
    assert "AGE" in header
