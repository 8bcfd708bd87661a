"""MPCS spacecraft simulator: orbit, environment, subsystems, modes/FDIR, faults and commands.

Public API (stable; the operator and the workloads import only from here):

- `parse_tle(text) -> Tle`, raising `TleError(line, column, message)`;
- `orbit_summary(tle) -> OrbitSummary(period_min, inclination_deg, apogee_km, perigee_km)`;
- `Station(lat_deg, lon_deg, alt_m, min_elevation_deg, name)` and
  `predict_passes(tle, station, start, duration_s) -> list[Pass(aos, tca, los, max_elevation_deg)]`;
- `SatelliteSpec` (the Satellite CRD's spec as the simulator reads it);
- `Spacecraft` (one satellite) and `Engine` (many, vectorised);
- `run` (the Kafka runtime behind `mpcs sim run`) lives in `mpcs.simulator.runtime`, imported
  lazily so that model users do not import aiokafka.

The model modules are pure (no I/O); only `runtime` and `cli` talk to the outside world.
"""

from .engine import Engine, SatelliteConfig
from .passes import Pass, Station, predict_passes
from .spacecraft import Spacecraft
from .spec import FaultSpec, FaultType, GroundStationSpec, SatelliteSpec
from .tle import OrbitSummary, Tle, TleError, orbit_summary, parse_tle

__all__ = [
    "Engine",
    "FaultSpec",
    "FaultType",
    "GroundStationSpec",
    "OrbitSummary",
    "Pass",
    "SatelliteConfig",
    "SatelliteSpec",
    "Spacecraft",
    "Station",
    "Tle",
    "TleError",
    "orbit_summary",
    "parse_tle",
    "predict_passes",
]
