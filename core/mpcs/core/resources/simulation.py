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
