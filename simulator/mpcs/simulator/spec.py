"""The Satellite spec as the simulator reads it (camelCase, as in the Satellite CRD, DESIGN §3).

`mpcs sim run` gets it from a file or `MPCS_SATELLITE_SPEC`; the CLI and tests build it from dicts.
Unknown fields are ignored so that the CRD can grow fields the simulator does not use; fields the
simulator does use are validated here with errors that name the field.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import NS_PER_S, ns_from_datetime
from mpcs.orbit.tle import Tle, TleError, parse_tle


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class TleSpec(_Spec):
    """The two TLE lines; checksum and fields are validated by `parse_tle`."""

    line1: str
    line2: str

    @model_validator(mode="after")
    def _parse(self) -> TleSpec:
        try:
            parse_tle(f"{self.line1}\n{self.line2}")
        except TleError as exc:
            raise ValueError(str(exc)) from None
        return self

    def parsed(self, name: str = "") -> Tle:
        """The parsed TLE (named after the satellite when given)."""
        text = f"{self.line1}\n{self.line2}" if not name else f"{name}\n{self.line1}\n{self.line2}"
        return parse_tle(text)


class BusSpec(_Spec):
    """Bus parameters with defaults of a ~20 kg smallsat; every quantity in the unit of its name."""

    battery_wh: float = Field(default=80.0, alias="batteryWh", gt=0, le=100_000)
    solar_w: float = Field(default=60.0, alias="solarW", ge=0, le=100_000)
    mass_kg: float = Field(default=20.0, alias="massKg", gt=0, le=20_000)
    base_load_w: float = Field(default=10.0, alias="baseLoadW", ge=0, le=10_000)
    payload_w: float = Field(default=20.0, alias="payloadW", ge=0, le=10_000)
    transmitter_w: float = Field(default=15.0, alias="transmitterW", ge=0, le=10_000)
    heater_w: float = Field(default=6.0, alias="heaterW", ge=0, le=1_000)
    storage_mb: float = Field(default=64_000.0, alias="storageMb", gt=0, le=10_000_000)
    downlink_mbps: float = Field(default=50.0, alias="downlinkMbps", gt=0, le=10_000)
    payload_data_mbps: float = Field(default=20.0, alias="payloadDataMbps", ge=0, le=10_000)
    absorptivity: float = Field(default=0.7, ge=0, le=1)
    emissivity: float = Field(default=0.5, gt=0, le=1)


class FaultType(enum.StrEnum):
    """Injectable faults (DESIGN §6)."""

    BATTERY_AGEING = "batteryAgeing"
    STUCK_WHEEL = "stuckWheel"
    HEATER_FAILURE = "heaterFailure"
    RADIO_DROPOUT = "radioDropout"


class FaultSpec(_Spec):
    """A fault and when it starts: an absolute UTC time, or seconds after the simulation start."""

    type: FaultType
    start: datetime | float = 0.0
    #: radioDropout: how long the radio stays down; absent = until RESET_SUBSYSTEM comms.
    duration_seconds: float | None = Field(default=None, alias="durationSeconds", gt=0)
    #: stuckWheel: which wheel sticks.
    wheel: Literal["x", "y", "z"] = "x"
    #: heaterFailure: which heater fails.
    heater: Literal["battery", "payload"] = "battery"
    #: batteryAgeing: capacity lost per simulated day, percent of the nominal capacity.
    capacity_fade_pct_per_day: float = Field(
        default=5.0, alias="capacityFadePctPerDay", gt=0, le=100
    )

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | float) -> datetime | float:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("start time needs a timezone (e.g. 2025-01-01T00:00:00Z)")
        if isinstance(value, float) and value < 0:
            raise ValueError("start offset must be >= 0 seconds")
        return value

    def start_ns(self, sim_start_ns: int) -> int:
        """Absolute start (UTC ns) given the simulation start."""
        if isinstance(self.start, datetime):
            return ns_from_datetime(self.start)
        return sim_start_ns + int(self.start * NS_PER_S)


class GroundStationSpec(_Spec):
    """A ground station the spacecraft can talk to (the operator copies the mission's stations)."""

    name: str = Field(min_length=1)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude: float = Field(default=0.0, ge=-500, le=9_000, description="metres")
    min_elevation: float = Field(default=10.0, alias="minElevation", ge=0, lt=90)

    def station(self) -> Station:
        """The geometry object pass prediction uses."""
        return Station(
            latitude_deg=self.latitude,
            longitude_deg=self.longitude,
            altitude_m=self.altitude,
            min_elevation_deg=self.min_elevation,
            name=self.name,
        )


class SimulatorSpec(_Spec):
    """Simulator settings of a Satellite."""

    enabled: bool = True
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    time_scale: float = Field(default=1.0, alias="timeScale", gt=0, le=10_000)
    faults: tuple[FaultSpec, ...] = ()
    ground_stations: tuple[GroundStationSpec, ...] = Field(default=(), alias="groundStations")
    initial_battery_pct: float = Field(default=80.0, alias="initialBatteryPct", ge=0, le=100)
    start_time: datetime | None = Field(default=None, alias="startTime")

    @field_validator("faults")
    @classmethod
    def _one_per_type(cls, faults: tuple[FaultSpec, ...]) -> tuple[FaultSpec, ...]:
        seen: set[FaultType] = set()
        for index, fault in enumerate(faults):
            if fault.type in seen:
                raise ValueError(
                    f"faults[{index}]: only one {fault.type.value} fault per satellite"
                )
            seen.add(fault.type)
        return faults


class SatelliteSpec(_Spec):
    """The part of a Satellite's spec the simulator uses."""

    tle: TleSpec
    telemetry_interval_seconds: float = Field(
        default=10.0, alias="telemetryIntervalSeconds", ge=0.1, le=3_600
    )
    bus: BusSpec = BusSpec()
    simulator: SimulatorSpec = SimulatorSpec()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SatelliteSpec:
        """Accept a Satellite spec, or a whole Satellite object (uses its `spec`)."""
        if "spec" in data and isinstance(data["spec"], dict):
            data = data["spec"]
        return cls.model_validate(data)
