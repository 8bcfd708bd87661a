"""What one simulator process flies: a Satellite's spec and the GroundStations it can talk to.

The operator writes it (JSON, into the simulator's ConfigMap and `MPCS_SATELLITE_SPEC`), `mpcs sim
run --spec FILE` reads it, and it is made of the CRD models themselves, so a field has one meaning,
one bound and one default everywhere. It is not a CRD: nothing stores it in the API server.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mpcs.orbit.passes import Station

from .common import ObjectName, Resource
from .groundstation import GroundStationSpec
from .satellite import SatelliteSpec


class NamedGroundStation(Resource):
    """A GroundStation's name and spec, as the simulator receives it."""

    name: ObjectName
    """GroundStation name."""
    spec: GroundStationSpec
    """The GroundStation's spec (defaults applied by the CRD or by this model)."""

    def station(self) -> Station:
        """The station as the orbit maths sees it."""
        return self.spec.station(self.name)


class SimulatorConfig(Resource):
    """One simulator's input."""

    satellite: ObjectName
    """Satellite name (the telemetry's `satellite` field and the random seed's key)."""
    spec: SatelliteSpec
    """The Satellite's spec."""
    ground_stations: list[NamedGroundStation] = Field(default_factory=list)
    """The mission's ground stations: contacts, link and downlink happen over these."""

    def stations(self) -> list[Station]:
        """Every ground station as a Station."""
        return [g.station() for g in self.ground_stations]

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> SimulatorConfig:
        """A SimulatorConfig, or a Satellite manifest (`metadata.name` and `spec`; no stations)."""
        if "spec" in data and "metadata" in data:
            name = (data.get("metadata") or {}).get("name", "")
            return cls.model_validate({"satellite": name, "spec": data["spec"]})
        return cls.model_validate(data)


class PooledSatellite(Resource):
    """One Satellite of a simulator pod's shard."""

    name: ObjectName
    """Satellite name."""
    spec: SatelliteSpec
    """The Satellite's spec."""


class PoolConfig(Resource):
    """One pooled simulator pod's input (`Mission.spec.simulation.pods`): its shard of the
    mission's Satellites and the mission's ground stations. The operator writes it into the pod's
    ConfigMap and rewrites it when the shard changes; the pod re-reads it while it runs."""

    shard: int = Field(ge=0)
    """This pod's index among the mission's simulator pods."""
    pods: int = Field(ge=1)
    """How many simulator pods the mission has."""
    satellites: list[PooledSatellite] = Field(default_factory=list)
    """The Satellites this pod flies."""
    ground_stations: list[NamedGroundStation] = Field(default_factory=list)
    """The mission's ground stations."""

    def configs(self) -> list[SimulatorConfig]:
        """Each Satellite as the `SimulatorConfig` a single simulator would fly."""
        return [
            SimulatorConfig(satellite=s.name, spec=s.spec, ground_stations=self.ground_stations)
            for s in self.satellites
        ]

    def to_compact_wire(self) -> dict[str, Any]:
        """The wire form with every default left out (a ConfigMap holds at most 1 MiB: about 250
        bytes per Satellite instead of 600)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
