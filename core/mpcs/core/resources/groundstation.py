"""GroundStation (`gs`): an antenna that satellites of a mission talk to (DESIGN §3)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from mpcs.orbit.passes import Station

from ._schema import cel, validations
from .common import Condition, Conditions, ObjectName, Resource, duplicates


class Band(enum.StrEnum):
    """Radio band of the station."""

    UHF = "UHF"
    S = "S"
    X = "X"
    KA = "Ka"


class HorizonPoint(Resource):
    """One point of the local horizon: below `elevationDeg` at `azimuthDeg` the sky is blocked."""

    azimuth_deg: float = Field(ge=0, le=360)
    """Azimuth, degrees clockwise from true north."""
    elevation_deg: float = Field(ge=0, le=89)
    """Lowest usable elevation at that azimuth, degrees."""


class GroundStationSpec(Resource):
    """Where the station is and what it can see."""

    latitude_deg: float = Field(ge=-90, le=90)
    """Geodetic latitude (WGS84), degrees north."""
    longitude_deg: float = Field(ge=-180, le=180)
    """Geodetic longitude (WGS84), degrees east."""
    altitude_m: float = Field(default=0.0, ge=-500, le=9000)
    """Height above the WGS84 ellipsoid, metres."""
    min_elevation_deg: float = Field(default=5.0, ge=0, le=89)
    """Elevation above which a pass counts as contact, degrees."""
    horizon_mask: list[HorizonPoint] = Field(
        default_factory=list,
        max_length=360,
        json_schema_extra=validations(
            cel(
                "self.all(p, self.exists_one(q, q.azimuthDeg == p.azimuthDeg))",
                "horizonMask azimuths must be unique",
            ),
            cel(
                "!(self.exists(p, p.azimuthDeg == 0.0) && self.exists(p, p.azimuthDeg == 360.0))",
                "horizonMask azimuths must be unique (0 and 360 are both north)",
            ),
        ),
    )
    """Optional terrain mask: usable elevation per azimuth (linear between points); the effective
    minimum elevation is the larger of this mask and `minElevationDeg`."""
    band: Band = Band.S
    """Radio band (UHF, S, X, Ka)."""

    @field_validator("horizon_mask")
    @classmethod
    def _unique_azimuths(cls, mask: list[HorizonPoint]) -> list[HorizonPoint]:
        # 360° is north again, like 0°: both in one mask would give north two elevations.
        repeated = duplicates(f"{p.azimuth_deg % 360:g}" for p in mask)
        if repeated:
            raise ValueError(
                f"horizonMask azimuths must be unique (0 and 360 are both north); repeated: "
                f"{', '.join(repeated)}"
            )
        return mask

    def station(self, name: str) -> Station:
        """This station as the orbit maths sees it: the one GroundStation → Station conversion.

        >>> gs = GroundStationSpec(latitude_deg=0, longitude_deg=0, horizon_mask=[
        ...     {"azimuthDeg": 0, "elevationDeg": 10}, {"azimuthDeg": 180, "elevationDeg": 20}])
        >>> gs.station("eq").min_elevation_at([90, 270]).tolist()
        [15.0, 15.0]
        """
        return Station(
            latitude_deg=self.latitude_deg,
            longitude_deg=self.longitude_deg,
            altitude_m=self.altitude_m,
            min_elevation_deg=self.min_elevation_deg,
            horizon_mask=tuple((p.azimuth_deg, p.elevation_deg) for p in self.horizon_mask),
            name=name,
        )


class StationPass(Resource):
    """One upcoming pass of a satellite over this station."""

    satellite: ObjectName
    """Satellite name."""
    mission: ObjectName
    """Mission of the satellite."""
    aos: datetime
    """Acquisition of signal (UTC)."""
    los: datetime
    """Loss of signal (UTC)."""
    max_elevation_deg: float = Field(ge=0, le=90)
    """Highest elevation during the pass, degrees."""


class GroundStationStatus(Resource):
    """What the operator observed."""

    next_passes: list[StationPass] = Field(default_factory=list, max_length=100)
    """Upcoming passes of satellites of missions that use this station, soonest first."""
    conditions: list[Condition] = Conditions()
    """Ready and friends."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the status reflects."""
