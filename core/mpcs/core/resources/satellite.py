"""Satellite (`sat`): one spacecraft of a mission — its orbit (TLE), bus and simulator settings.

The one model of a Satellite: the CRD is generated from it, the operator parses every Satellite
with it, and the simulator flies it (inside a `SimulatorConfig`), so each field has one bound and
one default everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mpcs.orbit.timeutil import NS_PER_S, ns_from_datetime
from mpcs.orbit.tle import Tle, TleError, parse_tle, tle_checksum

from ._schema import cel, validations
from .common import Condition, Conditions, ObjectName, ObjectRef, Resource, StatusText, duplicates

TLE_LINE_LENGTH = 69

#: Columns 3-7 (1-based) of both TLE lines hold the satellite catalogue number.
_CATNUM = "substring(2, 7)"


def _tle_line_rules(number: int) -> dict[str, Any]:
    return validations(
        cel(
            f"self.startsWith('{number} ')",
            f"TLE line {number} must start with '{number} ' (line number {number}, then a space)",
        )
    )


class TleSpec(Resource):
    """Two-line element set, exactly as published (69 characters per line)."""

    line1: str = Field(
        min_length=TLE_LINE_LENGTH,
        max_length=TLE_LINE_LENGTH,
        json_schema_extra=_tle_line_rules(1),
    )
    """TLE line 1 (starts with `1 `; column 69 is the checksum)."""
    line2: str = Field(
        min_length=TLE_LINE_LENGTH,
        max_length=TLE_LINE_LENGTH,
        json_schema_extra=_tle_line_rules(2),
    )
    """TLE line 2 (starts with `2 `; same catalogue number as line 1)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"self.line1.size() < 7 || self.line2.size() < 7 || "
                f"self.line1.{_CATNUM} == self.line2.{_CATNUM}",
                "the catalogue numbers (columns 3-7) of line1 and line2 must match",
                ".line2",
            )
        )
    )

    @field_validator("line1", "line2")
    @classmethod
    def _line(cls, line: str, info: Any) -> str:
        number = 1 if info.field_name == "line1" else 2
        if not line.startswith(f"{number} "):
            raise ValueError(
                f"TLE line {number} must start with '{number} ' (line number {number}, then a "
                f"space), got {line[:2]!r}"
            )
        if not line[68].isdigit() or int(line[68]) != tle_checksum(line):
            # Not a CEL rule (CEL cannot sum digits); the operator reports it as a condition.
            raise ValueError(
                f"checksum (column 69) is {line[68]!r}, but the line's digits sum to "
                f"{tle_checksum(line)} (mod 10)"
            )
        return line

    #: The elements as SGP4 reads them, parsed once while validating.
    _parsed: Tle | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _same_satellite(self) -> TleSpec:
        if self.line1[2:7] != self.line2[2:7]:
            raise ValueError(
                f"the catalogue numbers (columns 3-7) of line1 and line2 must match: "
                f"{self.line1[2:7]!r} != {self.line2[2:7]!r}"
            )
        try:
            # Every field SGP4 reads, checked by the one strict parser (errors name the column).
            self._parsed = parse_tle(f"{self.line1}\n{self.line2}")
        except TleError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def catalogue_number(self) -> str:
        """Columns 3-7 of line 1, stripped (digits, or Alpha-5 such as `A0001`)."""
        return self.line1[2:7].strip()

    def parsed(self, name: str | None = None) -> Tle:
        """The parsed elements, without parsing them again; named `name` when given (else
        after the catalogue number, as `parse_tle` names a two-line TLE)."""
        if self._parsed is None:  # built without validation (model_construct)
            self._parsed = parse_tle(f"{self.line1}\n{self.line2}")
        if name is None or name == self._parsed.name:
            return self._parsed
        return replace(self._parsed, name=name)


class BusSpec(Resource):
    """Bus parameters with defaults of a ~20 kg smallsat; every quantity in the unit of its name."""

    battery_wh: float = Field(default=80.0, gt=0, le=100_000)
    """Battery capacity, Wh."""
    solar_w: float = Field(default=60.0, ge=0, le=100_000)
    """Solar array power at normal sun incidence, W."""
    mass_kg: float = Field(default=20.0, gt=0, le=20_000)
    """Spacecraft mass, kg."""
    base_load_w: float = Field(default=10.0, ge=0, le=10_000)
    """Always-on load (OBC, ADCS, receiver), W."""
    payload_w: float = Field(default=20.0, ge=0, le=10_000)
    """Payload power when on, W."""
    transmitter_w: float = Field(default=15.0, ge=0, le=10_000)
    """Transmitter power while downlinking, W."""
    heater_w: float = Field(default=6.0, ge=0, le=1_000)
    """Power of each heater, W."""
    storage_mb: float = Field(default=64_000.0, gt=0, le=10_000_000)
    """On-board storage, MB."""
    downlink_mbps: float = Field(default=50.0, gt=0, le=10_000)
    """Downlink rate, Mbit/s."""
    payload_data_mbps: float = Field(default=20.0, ge=0, le=10_000)
    """Data rate the payload produces when on, Mbit/s."""
    absorptivity: float = Field(default=0.7, ge=0, le=1)
    """Solar absorptivity of the surface (0..1)."""
    emissivity: float = Field(default=0.5, gt=0, le=1)
    """Infrared emissivity of the surface (0..1]."""


class FaultType(enum.StrEnum):
    """Injectable faults (DESIGN §6)."""

    BATTERY_AGEING = "batteryAgeing"
    STUCK_WHEEL = "stuckWheel"
    HEATER_FAILURE = "heaterFailure"
    RADIO_DROPOUT = "radioDropout"


class FaultSpec(Resource):
    """A fault injected into the simulation, from `start` (UTC) or `startOffsetSeconds` after the
    simulation start (at most one of the two; neither = at the simulation start)."""

    type: FaultType
    """batteryAgeing, stuckWheel, heaterFailure or radioDropout."""
    start: datetime | None = None
    """Absolute start time (RFC 3339, UTC)."""
    start_offset_seconds: float | None = Field(default=None, ge=0)
    """Start, seconds after the simulation start."""
    duration_seconds: float | None = Field(default=None, gt=0)
    """radioDropout: how long the radio stays down; absent = until RESET_SUBSYSTEM comms."""
    wheel: Literal["x", "y", "z"] = "x"
    """stuckWheel: which reaction wheel sticks."""
    heater: Literal["battery", "payload"] = "battery"
    """heaterFailure: which heater fails."""
    capacity_fade_pct_per_day: float = Field(default=5.0, gt=0, le=100)
    """batteryAgeing: capacity lost per simulated day, percent of the nominal capacity."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.start) && has(self.startOffsetSeconds))",
                "set at most one of start and startOffsetSeconds",
                ".startOffsetSeconds",
            )
        )
    )

    @model_validator(mode="after")
    def _one_start(self) -> FaultSpec:
        if self.start is not None and self.start_offset_seconds is not None:
            raise ValueError("set at most one of start and startOffsetSeconds")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start needs a timezone (e.g. 2025-01-01T00:00:00Z)")
        return self

    def start_ns(self, sim_start_ns: int) -> int:
        """When the fault begins (UTC ns), for a simulation that starts at `sim_start_ns`.

        >>> FaultSpec(type="stuckWheel", start_offset_seconds=1.5).start_ns(10)
        1500000010
        """
        if self.start is not None:
            return ns_from_datetime(self.start)
        return sim_start_ns + round((self.start_offset_seconds or 0.0) * NS_PER_S)


class SimulatorSettings(Resource):
    """How the satellite is simulated."""

    enabled: bool = True
    """Run a simulator for this satellite."""
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    """Random seed (sensor noise); same seed and clock, same telemetry."""
    time_scale: float = Field(default=1.0, gt=0, le=10_000)
    """Simulated seconds per wall-clock second."""
    initial_battery_pct: float = Field(default=80.0, ge=0, le=100)
    """Battery state of charge at the simulation start, percent."""
    start_time: datetime | None = None
    """Simulated time at start-up (UTC); absent = now."""
    faults: list[FaultSpec] = Field(
        default_factory=list,
        max_length=4,
        json_schema_extra=validations(
            cel(
                "self.all(x, self.exists_one(y, y.type == x.type))",
                "faults must not repeat a fault type",
            )
        ),
    )
    """Injected faults, at most one per type."""

    @field_validator("faults")
    @classmethod
    def _unique_types(cls, faults: list[FaultSpec]) -> list[FaultSpec]:
        repeated = duplicates(f.type.value for f in faults)
        if repeated:
            raise ValueError(
                f"faults must not repeat a fault type; repeated: {', '.join(repeated)}"
            )
        return faults


class SatelliteSpec(Resource):
    """A spacecraft: its mission, orbit, bus and simulator."""

    mission_ref: ObjectRef
    """The Mission (same namespace) the satellite belongs to."""
    tle: TleSpec
    """Orbit as a two-line element set (the checksum is checked by the operator)."""
    norad_id: int | None = Field(default=None, ge=1, le=999_999_999)
    """NORAD catalogue id; when set it must equal the TLE's catalogue number (if numeric)."""
    telemetry_interval_seconds: float = Field(default=10.0, ge=0.1, le=3600)
    """Seconds between telemetry samples (simulated time)."""
    bus: BusSpec = BusSpec()
    """Bus parameters."""
    simulator: SimulatorSettings = SimulatorSettings()
    """Simulator settings."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.noradId) || self.tle.line1.size() < 7 || "
                f"!self.tle.line1.{_CATNUM}.trim().matches('^[0-9]+$') || "
                f"int(self.tle.line1.{_CATNUM}.trim()) == self.noradId",
                "noradId must equal the catalogue number in columns 3-7 of tle.line1",
                ".noradId",
            )
        )
    )

    @model_validator(mode="after")
    def _norad_matches(self) -> SatelliteSpec:
        number = self.tle.catalogue_number
        if self.norad_id is not None and number.isdigit() and int(number) != self.norad_id:
            raise ValueError(
                f"noradId must equal the catalogue number in columns 3-7 of tle.line1: "
                f"{self.norad_id} != {int(number)}"
            )
        return self


class SatellitePhase(enum.StrEnum):
    """Life of a Satellite."""

    PENDING = "Pending"
    WAITING_FOR_MISSION = "WaitingForMission"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    DEGRADED = "Degraded"
    INVALID = "Invalid"


class OrbitStatus(Resource):
    """Orbit summary from the TLE."""

    period_minutes: float | None = None
    """Orbital period, minutes."""
    inclination_deg: float | None = None
    """Inclination, degrees."""
    apogee_km: float | None = None
    """Apogee altitude above the Earth's equatorial radius, km."""
    perigee_km: float | None = None
    """Perigee altitude above the Earth's equatorial radius, km."""


class NextPass(Resource):
    """The next contact with one of the mission's ground stations."""

    station: ObjectName
    """GroundStation name."""
    aos: datetime
    """Acquisition of signal (UTC)."""
    los: datetime
    """Loss of signal (UTC)."""
    max_elevation_deg: float = Field(ge=0, le=90)
    """Highest elevation during the pass, degrees."""


class SatelliteStatus(Resource):
    """What the operator observed."""

    phase: SatellitePhase | None = None
    """Pending, WaitingForMission, Provisioning, Ready, Degraded or Invalid."""
    conditions: list[Condition] = Conditions()
    """SimulatorReady, TelemetryFlowing, Ready (and Valid when the spec is rejected); Alerting,
    set by the mission's alerts runner, names the firing alert rules."""
    orbit: OrbitStatus | None = None
    """Orbit summary."""
    next_pass: NextPass | None = None
    """Next pass over the mission's ground stations."""
    last_telemetry_time: datetime | None = None
    """Time of the latest telemetry sample seen."""
    message: StatusText | None = None
    """Short human summary of the phase."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the status reflects."""
