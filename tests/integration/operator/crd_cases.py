"""The catalogue of invalid MPCS manifests, shared by the API-server and the model checks.

Each entry breaks one thing in a valid example object (from examples/) and states the field path
and the message fragment the API server must return; `test_crd_validation.py` sends every entry to
a real kube-apiserver and to the pydantic model the operator parses with. Kept apart from the tests
because it is data, and most of it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from utils.kube import examples

from mpcs.orbit.tle import tle_checksum


def example(kind: str) -> dict[str, Any]:
    """A private copy of the first example object of `kind`, free to mutate."""
    return copy.deepcopy(next(o for o in examples() if o["kind"] == kind))


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
    Invalid(
        "gs-mask-north-twice",
        _GS,
        _set("horizonMask.4.azimuthDeg", 360),
        "spec.horizonMask",
        "horizonMask azimuths must be unique (0 and 360 are both north)",
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
        "msn-ingest-replicas-beyond-partitions",
        _MSN,
        _all(_set("kafka.partitions", 3), _set("ingest.replicas", 4)),
        "spec.ingest.replicas",
        "ingest.replicas must not exceed kafka.partitions",
        cel=True,
    ),
    Invalid(
        "msn-simulation-pods-0",
        _MSN,
        _set("simulation.pods", 0),
        "spec.simulation.pods",
        f"{_GE} 1",
    ),
    Invalid(
        "msn-simulation-pods-101",
        _MSN,
        _set("simulation.pods", 101),
        "spec.simulation.pods",
        f"{_LE} 100",
    ),
    Invalid(
        "msn-simulation-pods-not-a-number",
        _MSN,
        _set("simulation.pods", "two"),
        "spec.simulation.pods",
        "must be of type integer",
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
        "msn-alert-kind-unknown",
        _MSN,
        _set("alerts.0.kind", "anomaly"),
        "spec.alerts[0].kind",
        _ENUM,
    ),
    Invalid(
        "msn-alert-for-seconds-negative",
        _MSN,
        _set("alerts.0.forSeconds", -1),
        "spec.alerts[0].forSeconds",
        f"{_GE} 0",
    ),
    Invalid(
        "msn-alert-clear-threshold-unsafe-side",
        _MSN,
        # battery-low fires below 25: clearing at 20 would resolve while still below the threshold.
        _set("alerts.0.clearThreshold", 20),
        "spec.alerts[0].clearThreshold",
        "clearThreshold must be on the safe side of threshold",
        cel=True,
    ),
    Invalid(
        "msn-alert-clear-threshold-with-equals",
        _MSN,
        _set("alerts.2.clearThreshold", 0),
        "spec.alerts[2].clearThreshold",
        "clearThreshold must be on the safe side of threshold",
        cel=True,
    ),
    Invalid(
        "msn-alert-stale-without-seconds",
        _MSN,
        _set("alerts.0", {"name": "silent", "kind": "stale"}),
        "spec.alerts[0].staleSeconds",
        "staleSeconds is required for kind stale",
        cel=True,
    ),
    Invalid(
        "msn-alert-stale-seconds-on-threshold",
        _MSN,
        _set("alerts.0.staleSeconds", 60),
        "spec.alerts[0].staleSeconds",
        "not allowed for other kinds",
        cel=True,
    ),
    Invalid(
        "msn-alert-stale-seconds-zero",
        _MSN,
        _set("alerts.0", {"name": "silent", "kind": "stale", "staleSeconds": 0}),
        "spec.alerts[0].staleSeconds",
        f"{_GE} 1",
    ),
    Invalid(
        "msn-alert-stale-with-hold",
        _MSN,
        _set("alerts.0", {"name": "silent", "kind": "stale", "staleSeconds": 60, "forSeconds": 5}),
        "spec.alerts[0].forSeconds",
        "forSeconds is not allowed for kind stale",
        cel=True,
    ),
    Invalid(
        "msn-alert-window-on-threshold",
        _MSN,
        _set("alerts.0.windowSeconds", 30),
        "spec.alerts[0].windowSeconds",
        "windowSeconds is only allowed for kind rateOfChange",
        cel=True,
    ),
    Invalid(
        "msn-alert-rate-without-channel",
        _MSN,
        _set(
            "alerts.0", {"name": "drain", "kind": "rateOfChange", "operator": ">", "threshold": 1}
        ),
        "spec.alerts[0].channel",
        "Required value: channel (unless kind is stale)",
        cel=True,
    ),
    Invalid(
        "msn-alert-rate-window-too-long",
        _MSN,
        _all(_set("alerts.0.kind", "rateOfChange"), _set("alerts.0.windowSeconds", 3601)),
        "spec.alerts[0].windowSeconds",
        f"{_LE} 3600",
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
    # Integer inputs at each bound of a number: the API server's own check compares an integer
    # with the bound truncated to an integer (0 passed `minimum: 0.1`), so the CEL rule that backs
    # a fractional bound is what refuses these; the exclusive zeros are checked as integers too.
    Invalid(
        "sat-telemetry-interval-0-integer",
        _SAT,
        _set("telemetryIntervalSeconds", 0),
        "spec.telemetryIntervalSeconds",
        f"{_GE} 0.1",
        cel=True,
    ),
    Invalid(
        "sat-telemetry-interval-3601-integer",
        _SAT,
        _set("telemetryIntervalSeconds", 3601),
        "spec.telemetryIntervalSeconds",
        f"{_LE} 3600",
    ),
    Invalid("sat-mass-0-integer", _SAT, _set("bus.massKg", 0), "spec.bus.massKg", f"{_GT} 0"),
    Invalid(
        "sat-storage-0-integer", _SAT, _set("bus.storageMb", 0), "spec.bus.storageMb", f"{_GT} 0"
    ),
    Invalid(
        "sat-downlink-0-integer",
        _SAT,
        _set("bus.downlinkMbps", 0),
        "spec.bus.downlinkMbps",
        f"{_GT} 0",
    ),
    Invalid(
        "sat-emissivity-0-integer",
        _SAT,
        _set("bus.emissivity", 0),
        "spec.bus.emissivity",
        f"{_GT} 0",
    ),
    Invalid(
        "sat-emissivity-2-integer",
        _SAT,
        _set("bus.emissivity", 2),
        "spec.bus.emissivity",
        f"{_LE} 1",
    ),
    Invalid(
        "sat-fault-duration-0-integer",
        _SAT,
        _set("simulator.faults", [{"type": "radioDropout", "durationSeconds": 0}]),
        "spec.simulator.faults[0].durationSeconds",
        f"{_GT} 0",
    ),
    Invalid(
        "sat-fault-fade-0-integer",
        _SAT,
        _set("simulator.faults", [{"type": "batteryAgeing", "capacityFadePctPerDay": 0}]),
        "spec.simulator.faults[0].capacityFadePctPerDay",
        f"{_GT} 0",
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


def invalid_object(case: Invalid) -> dict[str, Any]:
    """The example of `case.kind` broken by `case.mutate`, named after the case."""
    obj = example(case.kind)
    obj["metadata"] = {"name": f"bad-{case.id}"[:63].rstrip("-")}
    case.mutate(obj["spec"])
    return obj
