"""What a mission's dashboards are built from: the Mission's stations and alert rules.

The satellites are deliberately absent: dashboards list them with a template-variable query, so a
dashboard does not change (nor its ConfigMap grow) when a Satellite is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mpcs.core import names
from mpcs.core.resources import AlertRule, GroundStationSpec, MissionSpec


@dataclass(frozen=True)
class StationMark:
    """A ground station as the geomap draws it."""

    name: str
    latitude_deg: float
    longitude_deg: float
    min_elevation_deg: float


@dataclass(frozen=True)
class MissionContext:
    """Everything a mission's dashboards depend on."""

    namespace: str
    mission: str
    stations: tuple[StationMark, ...] = ()
    alerts: tuple[AlertRule, ...] = ()

    @property
    def bucket(self) -> str:
        return names.bucket(self.namespace, self.mission)

    @property
    def influx_datasource_uid(self) -> str:
        return names.grafana_uid(self.namespace, self.mission, "influxdb")

    def dashboard_uid(self, slug: str) -> str:
        return names.grafana_uid(self.namespace, self.mission, slug)

    @property
    def folder(self) -> str:
        """Grafana folder of the mission's dashboards (the sidecar's `grafana_folder`)."""
        return f"MPCS {self.namespace}/{self.mission}"

    @classmethod
    def of(
        cls,
        namespace: str,
        mission: str,
        spec: MissionSpec,
        stations: Mapping[str, GroundStationSpec],
    ) -> MissionContext:
        """The context of a Mission; stations it names but that do not exist yet are left out
        (the dashboards follow when they appear)."""
        marks = tuple(
            StationMark(
                name=name,
                latitude_deg=stations[name].latitude_deg,
                longitude_deg=stations[name].longitude_deg,
                min_elevation_deg=stations[name].min_elevation_deg,
            )
            for name in spec.ground_stations
            if name in stations
        )
        return cls(namespace=namespace, mission=mission, stations=marks, alerts=tuple(spec.alerts))
