"""Indices, physical constants and design values the model modules and the command handlers share.

Values are documented in docs/simulator.md. Indices (modes, attitudes, heater controls) are what
the engine's integer state arrays hold; the names are what telemetry and commands spell.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mpcs.core.commands import Mode

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

MAX_SUBSTEP_S = 60.0
#: Thermal nodes (time constants of 30–80 min) integrate at this cadence or slower.
THERMAL_STEP_S = 10.0
MODES: tuple[Mode, ...] = (Mode.SAFE, Mode.NOMINAL, Mode.PAYLOAD, Mode.DOWNLINK)
SAFE, NOMINAL, PAYLOAD, DOWNLINK = 0, 1, 2, 3
ATTITUDES = ("SUN", "NADIR", "TARGET")
SUN, NADIR, TARGET = 0, 1, 2
HEATER_OFF, HEATER_ON, HEATER_AUTO = 0, 1, 2
HEATER_CONTROLS = {"OFF": HEATER_OFF, "ON": HEATER_ON, "AUTO": HEATER_AUTO}
HEATER_INDEX = {"battery": 0, "payload": 1}
WHEEL_INDEX = {"x": 0, "y": 1, "z": 2}
NEVER = np.iinfo(np.int64).max
#: Sums the three components of (3, N) or (N, 3) vectors with one matrix product.
ONES3 = np.ones(3)

# --- physical constants and design values (documented in docs/simulator.md) ------------------
SOLAR_CONSTANT_W_M2 = 1361.0
EARTH_IR_W_M2 = 237.0
ALBEDO = 0.30
STEFAN_BOLTZMANN = 5.670374419e-8
EARTH_RADIUS_KM = 6378.137
KELVIN = 273.15
SPEED_OF_LIGHT_KM_S = 299_792.458
DOWNLINK_FREQUENCY_HZ = 2.25e9  # S-band
EIRP_DBM = 36.0  # 2 W transmitter + 3 dBi patch
GROUND_GAIN_DBI = 35.0  # 3.7 m dish at S-band
LINK_LOSSES_DB = 3.0
RSSI_FLOOR_DBM = -150.0  # reported when there is no link
RSSI_FULL_RATE_DBM = -95.0  # rate scales with SNR below this
BATTERY_CELLS = 8
BATTERY_R_OHM = 0.08
CHARGE_EFFICIENCY = 0.95
SAFE_SOC = 0.20  # FDIR: below this → SAFE
RECOVERY_SOC = 0.30  # SET_MODE out of SAFE needs at least this
COLD_BATTERY_C = -15.0  # FDIR: below this → SAFE
IMAGE_MB = 40.0
SLEW_ERROR_DEG = 40.0
WHEEL_DESAT_START_RPM = 6000.0
WHEEL_DESAT_STOP_RPM = 1000.0
WHEEL_DESAT_RATE_RPM_S = 30.0
HEATER_HYSTERESIS_K = 1.5
