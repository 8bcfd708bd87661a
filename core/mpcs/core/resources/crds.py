"""The four CustomResourceDefinitions, built from the models, and their generated files.

`crd_manifests()` is what `mpcs crds generate` writes to crds/ (and what tests install); the
reference page docs/resources.md is rendered from the same schemas by `render_markdown()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from mpcs.core.names import API_VERSION, GROUP, VERSION

from ._schema import JsonSchema, structural_schema
from .commandplan import CommandPlanSpec, CommandPlanStatus
from .groundstation import GroundStationSpec, GroundStationStatus
from .mission import MissionSpec, MissionStatus
from .peering import PEERING_KINDS, peering_crd_manifest
from .satellite import SatelliteSpec, SatelliteStatus

CATEGORY = "mpcs"
REGENERATE = "mpcs crds generate"


@dataclass(frozen=True)
class KindInfo:
    """Names and models of one kind."""

    kind: str
    plural: str
    short_name: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    description: str
    printer_columns: tuple[dict[str, Any], ...] = field(default=())

    @property
    def singular(self) -> str:
        """Lower-case kind, e.g. `groundstation`."""
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        """`<plural>.<group>`, the CRD object's name."""
        return f"{self.plural}.{GROUP}"

    @property
    def group(self) -> str:
        """API group (`mpcs.io`)."""
        return GROUP

    @property
    def version(self) -> str:
        """API version (`v1alpha1`)."""
        return VERSION

    @property
    def api_version(self) -> str:
        """`mpcs.io/v1alpha1`."""
        return API_VERSION

    @property
    def file_name(self) -> str:
        """File name in crds/ (kubebuilder's `<group>_<plural>.yaml`)."""
        return f"{GROUP}_{self.plural}.yaml"


def _column(
    name: str, json_path: str, type_: str = "string", *, priority: int = 0, description: str = ""
) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": json_path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


_AGE = _column("Age", ".metadata.creationTimestamp", "date")
_READY = '.status.conditions[?(@.type=="Ready")].status'
# Pass times are in the future; kubectl renders a future `date` as "<invalid>", so they are strings.

GROUND_STATION = KindInfo(
    kind="GroundStation",
    plural="groundstations",
    short_name="gs",
    spec_model=GroundStationSpec,
    status_model=GroundStationStatus,
    description="A ground station: location, elevation limits and band.",
    printer_columns=(
        _column("Lat", ".spec.latitudeDeg", "number", description="Latitude, degrees"),
        _column("Lon", ".spec.longitudeDeg", "number", description="Longitude, degrees"),
        _column("Band", ".spec.band"),
        _column("Min El", ".spec.minElevationDeg", "number", description="degrees"),
        _column("Next Pass", ".status.nextPasses[0].aos", description="AOS of the next pass"),
        _column("Satellite", ".status.nextPasses[0].satellite"),
        _column("Ready", _READY, priority=1),
        _AGE,
    ),
)
MISSION = KindInfo(
    kind="Mission",
    plural="missions",
    short_name="msn",
    spec_model=MissionSpec,
    status_model=MissionStatus,
    description="A mission: Kafka topics, InfluxDB bucket, ingest, command API, alerts.",
    printer_columns=(
        _column("Phase", ".status.phase"),
        _column("Satellites", ".status.satelliteCount", "integer"),
        _column("Retention", ".spec.telemetry.retentionDays", "integer", description="days"),
        _column("Deletion", ".spec.deletionPolicy"),
        _column("Bucket", ".status.bucket", priority=1),
        _column("API", ".status.endpoints.commandApi", priority=1),
        _column("Message", ".status.message", priority=1),
        _AGE,
    ),
)
SATELLITE = KindInfo(
    kind="Satellite",
    plural="satellites",
    short_name="sat",
    spec_model=SatelliteSpec,
    status_model=SatelliteStatus,
    description="A spacecraft: mission, orbit (TLE), bus and simulator settings.",
    printer_columns=(
        _column("Mission", ".spec.missionRef.name"),
        _column("Phase", ".status.phase"),
        _column("Period", ".status.orbit.periodMinutes", "number", description="minutes"),
        _column("Inclination", ".status.orbit.inclinationDeg", "number", description="degrees"),
        _column("Next Pass", ".status.nextPass.aos", description="AOS of the next pass"),
        _column("Station", ".status.nextPass.station"),
        _column("Apogee", ".status.orbit.apogeeKm", "number", priority=1, description="km"),
        _column("Perigee", ".status.orbit.perigeeKm", "number", priority=1, description="km"),
        _column("Last Telemetry", ".status.lastTelemetryTime", "date", priority=1),
        _column("Message", ".status.message", priority=1),
        _AGE,
    ),
)
COMMAND_PLAN = KindInfo(
    kind="CommandPlan",
    plural="commandplans",
    short_name="cmdplan",
    spec_model=CommandPlanSpec,
    status_model=CommandPlanStatus,
    description="An ordered sequence of commands for one satellite, from a time or a pass.",
    printer_columns=(
        _column("Mission", ".spec.missionRef.name"),
        _column("Satellite", ".spec.satelliteRef.name"),
        _column("Phase", ".status.phase"),
        _column("Start", ".status.schedule[0].scheduledAt", description="first step due"),
        _column("Station", ".spec.start.nextPass.station", priority=1),
        _column("Message", ".status.message", priority=1),
        _AGE,
    ),
)

KINDS: tuple[KindInfo, ...] = (GROUND_STATION, MISSION, SATELLITE, COMMAND_PLAN)
KINDS_BY_NAME: dict[str, KindInfo] = {k.kind: k for k in KINDS}


def openapi_schema(info: KindInfo) -> JsonSchema:
    """The `openAPIV3Schema` of one kind."""
    return {
        "type": "object",
        "description": info.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(info.spec_model),
            "status": structural_schema(info.status_model),
        },
    }


def crd_manifest(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/part-of": "mpcs"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": [info.short_name],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(info.printer_columns),
                    "schema": {"openAPIV3Schema": openapi_schema(info)},
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """The four CRDs (GroundStation, Mission, Satellite, CommandPlan), in install order."""
    return [crd_manifest(info) for info in KINDS]


def render_yaml(info: KindInfo) -> str:
    """The content of crds/<file_name>: a header saying it is generated, then the CRD."""
    return _render(crd_manifest(info), f"the {info.kind} models")


def _render(manifest: dict[str, Any], source: str) -> str:
    header = (
        f"# GENERATED from core/mpcs/core/resources ({source}) — do not edit.\n"
        f"# Regenerate with `{REGENERATE}` (a unit test fails when this file is stale).\n"
    )
    body = yaml.safe_dump(
        manifest, sort_keys=False, width=100, allow_unicode=True, default_flow_style=False
    )
    return header + body


def generated_files(
    *, crds_dir: str = "crds", docs_path: str = "docs/resources.md"
) -> dict[str, str]:
    """Every file `mpcs crds generate` writes, by path (relative to the repository root)."""
    from .docs import render_markdown

    out = crds_dir.rstrip("/")
    files = {f"{out}/{info.file_name}": render_yaml(info) for info in KINDS}
    for peering in PEERING_KINDS:
        files[f"{out}/{peering.file_name}"] = _render(
            peering_crd_manifest(peering), f"peering.py, Kopf's {peering.kind}"
        )
    files[docs_path] = render_markdown()
    return files
