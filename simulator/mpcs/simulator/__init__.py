"""MPCS spacecraft simulator: environment, subsystems, modes/FDIR, faults and commands.

The orbit maths it flies on (TLEs, frames, the Sun, passes) is `mpcs.orbit`; what it flies is a
`mpcs.core.resources.simulation.SimulatorConfig` (a Satellite's spec and its mission's ground
stations, the core resource models). Its public API:

- `Spacecraft` (one satellite) and `Engine` (many, vectorised);
- `run` (the Kafka runtime behind `mpcs sim run`) lives in `mpcs.simulator.runtime`, imported
  lazily so that model users do not import aiokafka.

The model modules are pure (no I/O); only `runtime` and `cli` talk to the outside world.
"""

from .engine import Engine, SatelliteConfig
from .spacecraft import Spacecraft

__all__ = ["Engine", "SatelliteConfig", "Spacecraft"]
