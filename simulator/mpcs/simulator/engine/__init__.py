"""The vectorised spacecraft model: N satellites advanced in lock-step with numpy.

`Engine` (in `core`) is assembled from one mixin per concern over one declared state:

- `core`: the clock, sub-stepping, orbit (SGP4) and environment (frames, sun, shadow);
- `comms`: ground stations (horizon masks included), link, RSSI, storage and downlink;
- `subsystems`: injected faults, ADCS, power, thermal and fault protection;
- `outputs`: sensor noise, readings and the telemetry messages;
- `state`: every state array, declared once; `constants`: indices and physical constants.
"""

from .constants import MODES
from .core import Engine, SatelliteConfig

__all__ = ["MODES", "Engine", "SatelliteConfig"]
