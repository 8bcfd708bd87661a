"""In-memory views of every Mission, GroundStation and Satellite, so reconciles need no GETs.

Kopf keeps these indexes current from its watches and fills them before any handler runs. Each
entry is the object's spec already parsed into its core model (or the `InvalidSpec` that stopped
it), so a reconcile that reads another object never parses it again. `Indexes` answers the
questions the reconciles ask: a mission's stations, a station's missions, a mission's satellites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from mpcs.core.resources import GroundStationSpec, MissionSpec
from mpcs.core.resources.simulation import NamedGroundStation
from mpcs.operator.objects import InvalidSpec, Satellite, parse_spec, read_satellite

Key = tuple[str, str]
MissionEntry = MissionSpec | InvalidSpec
StationEntry = NamedGroundStation | InvalidSpec


def mission_entry(namespace: str, name: str, spec: Mapping[str, Any]) -> dict[Key, MissionEntry]:
    """Index entry of a Mission: `(namespace, name)` → its spec, or why it is invalid."""
    try:
        return {(namespace, name): parse_spec(MissionSpec, spec)}
    except InvalidSpec as exc:
        return {(namespace, name): exc}


def station_entry(namespace: str, name: str, spec: Mapping[str, Any]) -> dict[Key, StationEntry]:
    """Index entry of a GroundStation: `(namespace, name)` → its name and spec, or the problem."""
    try:
        gs = parse_spec(GroundStationSpec, spec)
    except InvalidSpec as exc:
        return {(namespace, name): exc}
    return {(namespace, name): NamedGroundStation(name=name, spec=gs)}


def satellite_entry(body: Mapping[str, Any]) -> dict[Key, Satellite]:
    """Index entry of a Satellite, under its mission: `(namespace, mission)` → the Satellite."""
    satellite = read_satellite(body).lean()
    return {(satellite.meta.namespace, satellite.mission): satellite}


def _one(index: kopf.Index[Key, Any], key: Key) -> Any | None:
    store = index.get(key)
    return next(iter(store), None) if store else None


@dataclass(frozen=True)
class Indexes:
    """The three indexes Kopf passes to handlers, and the lookups reconciles make in them."""

    missions: kopf.Index[Key, MissionEntry]
    stations: kopf.Index[Key, StationEntry]
    satellites: kopf.Index[Key, Satellite]

    def mission(self, namespace: str, name: str) -> MissionEntry | None:
        """The Mission's spec, its `InvalidSpec`, or None when no such Mission exists."""
        entry: MissionEntry | None = _one(self.missions, (namespace, name))
        return entry

    def stations_of(
        self, namespace: str, mission: MissionSpec
    ) -> tuple[list[NamedGroundStation], list[str]]:
        """The mission's usable ground stations, and the names of those missing or invalid."""
        found: list[NamedGroundStation] = []
        unusable: list[str] = []
        for name in mission.ground_stations:
            entry = _one(self.stations, (namespace, name))
            if isinstance(entry, NamedGroundStation):
                found.append(entry)
            else:
                unusable.append(name)
        return found, unusable

    def missions_using(self, namespace: str, station: str) -> list[str]:
        """Names of the valid missions in `namespace` that list `station`, sorted."""
        return sorted(
            mission
            for (ns, mission), store in self.missions.items()
            if ns == namespace
            and any(isinstance(m, MissionSpec) and station in m.ground_stations for m in store)
        )

    def satellites_of(self, namespace: str, mission: str) -> list[Satellite]:
        """Every Satellite whose missionRef names the mission (valid or not, deleting or not)."""
        return list(self.satellites.get((namespace, mission)) or [])

    def satellite(self, namespace: str, name: str) -> Satellite | None:
        """A Satellite by name, whichever mission it names."""
        for (ns, _), store in self.satellites.items():
            if ns != namespace:
                continue
            for satellite in store:
                if satellite.meta.name == name:
                    return satellite
        return None
