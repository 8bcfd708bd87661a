"""MPCS spacecraft simulator: environment, subsystems, modes/FDIR, faults and commands.

The orbit maths it flies on (TLEs, frames, the Sun, passes) is `mpcs.orbit`; the spec it reads is
the Satellite model of `mpcs.core.resources`. Its public API:

- `Spacecraft` (one satellite) and `Engine` (many, vectorised);
- `run` (the Kafka runtime behind `mpcs sim run`) lives in `mpcs.simulator.runtime`, imported
  lazily so that model users do not import aiokafka.

The model modules are pure (no I/O); only `runtime` and `cli` talk to the outside world.
"""

from .engine import Engine, SatelliteConfig
from .spacecraft import Spacecraft
from .spec import FaultSpec, FaultType, GroundStationSpec, SatelliteSpec

__all__ = [
    "Engine",
    "FaultSpec",
    "FaultType",
    "GroundStationSpec",
    "SatelliteConfig",
    "SatelliteSpec",
    "Spacecraft",
]
