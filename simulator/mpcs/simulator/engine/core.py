"""The engine: N satellites advanced in lock-step with numpy, on one clock.

This is the only implementation of the physics: `Spacecraft` (one satellite) is an engine of one,
so a constellation and a single simulator produce identical telemetry for the same satellite.
Pure: no I/O, no wall clock, no global random state — the output is a function of the specs, the
start time, the sequence of `advance()` steps and the commands applied between them.

Each `advance(dt_s)` splits dt into sub-steps of at most `MAX_SUBSTEP_S` and for each one:
orbit (SGP4 via SatrecArray) → environment (sun, shadow, ground stations) → faults → ADCS →
power → thermal → link and storage → fault protection; then the sensor readings are sampled.
This module holds the clock, the orbit and the environment; the rest lives in one mixin per
concern (`comms`, `subsystems`, `outputs`) over the state declared in `state`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sgp4.api import SatrecArray

from mpcs.core.resources.satellite import SatelliteSpec
from mpcs.orbit.frames import ecef_to_geodetic, gmst_rad, teme_to_ecef_columns
from mpcs.orbit.passes import Station
from mpcs.orbit.sun import beta_angle_deg, illumination, sun_position_km
from mpcs.orbit.timeutil import NS_PER_S, format_time_ns, jday_from_ns
from mpcs.orbit.tle import Tle

from .comms import Comms
from .constants import (
    HEATER_AUTO,
    KELVIN,
    MAX_SUBSTEP_S,
    NADIR,
    NOMINAL,
    ONES3,
    STEFAN_BOLTZMANN,
    THERMAL_STEP_S,
    FloatArray,
)
from .outputs import Outputs, seed_key
from .subsystems import Subsystems


@dataclass(frozen=True)
class SatelliteConfig:
    """One satellite as the engine needs it: its name and its Satellite spec."""

    name: str
    spec: SatelliteSpec

    @property
    def tle(self) -> Tle:
        """The parsed TLE."""
        return self.spec.tle.parsed(self.name)


class Engine(Comms, Subsystems, Outputs):
    """N satellites sharing one clock and one set of ground stations."""

    def __init__(
        self,
        satellites: Sequence[SatelliteConfig],
        *,
        start_ns: int,
        stations: Sequence[Station] = (),
    ) -> None:
        if not satellites:
            raise ValueError("an engine needs at least one satellite")
        self.names = [s.name for s in satellites]
        self.n = n = len(satellites)
        self.time_ns = start_ns
        self.start_ns = start_ns
        self.sample = 0
        self.tles = [s.tle for s in satellites]
        self._satrecs = SatrecArray([t.satrec for t in self.tles])
        self._init_params(satellites)
        self._init_faults(satellites, start_ns)
        self._init_state(satellites)
        self._set_stations(stations)
        self._init_buffers(n)
        self._battery_temperature()
        self.fdir_reason = [""] * n
        self._thermal_pending_s = 0.0
        # Derive every output from the initial state, without advancing it.
        self._propagate()
        self._environment()
        self._faults()
        self._adcs(0.0)
        self.beta_deg = beta_angle_deg(self.r, self.v, self._sun)
        self._thermostats()
        self._power(0.0)
        self._data(0.0)
        self._outputs_from_state(np.zeros(self._noise_out.shape))

    # ---------------------------------------------------------------- initialisation
    def _init_params(self, satellites: Sequence[SatelliteConfig]) -> None:
        def col(attr: str) -> FloatArray:
            return np.array([getattr(s.spec.bus, attr) for s in satellites], dtype=np.float64)

        self.battery_wh = col("battery_wh")
        self.solar_w = col("solar_w")
        self.base_load_w = col("base_load_w")
        self.payload_w = col("payload_w")
        self.transmitter_w = col("transmitter_w")
        self.heater_w = col("heater_w")
        self.storage_cap_mb = col("storage_mb")
        self.downlink_mbps = col("downlink_mbps")
        self.payload_data_mbps = col("payload_data_mbps")
        self.absorptivity = col("absorptivity")
        self.emissivity = col("emissivity")
        mass = col("mass_kg")
        face_m2 = (mass / 200.0) ** (2.0 / 3.0)  # a cube of density 200 kg/m³
        self.area_face_m2 = face_m2
        self.area_total_m2 = 6.0 * face_m2
        self.c_structure = 0.6 * mass * 900.0  # J/K, aluminium structure
        self.c_battery = self.battery_wh / 150.0 * 1000.0 + 900.0  # cells + avionics tray
        self.c_payload = 0.1 * mass * 900.0
        self.g_battery = np.full(mass.shape, 0.3)  # W/K conductive coupling to the structure
        self.g_payload = np.full(mass.shape, 1.0)
        self._eps_sigma_area = self.emissivity * STEFAN_BOLTZMANN * self.area_total_m2  # W/K⁴
        self.seed_keys = np.array(
            [seed_key(s.name, s.spec.simulator.seed) for s in satellites], dtype=np.uint64
        )
        self.mean_motion_rad_s = np.array(
            [t.mean_motion_rev_day * 2.0 * math.pi / 86_400.0 for t in self.tles]
        )
        self.epoch_ns = np.array([t.epoch_ns for t in self.tles], dtype=np.int64)

    def _init_state(self, satellites: Sequence[SatelliteConfig]) -> None:
        n = len(satellites)
        soc = np.array([s.spec.simulator.initial_battery_pct / 100.0 for s in satellites])
        self.mode = np.full(n, NOMINAL, dtype=np.int64)
        self.attitude_cmd = np.full(n, NADIR, dtype=np.int64)
        self.attitude_eff = self.attitude_cmd.copy()
        self.target_lat_deg = np.zeros(n)
        self.target_lon_deg = np.zeros(n)
        self.payload_on = np.zeros(n, dtype=bool)
        self.energy_wh = soc * self.battery_wh
        self.capacity_wh = self.battery_wh.copy()
        self.temp_k = np.tile(np.array([10.0, 15.0, 10.0]) + KELVIN, (n, 1))  # struct, batt, payl
        self.heater_control = np.full((n, 2), HEATER_AUTO, dtype=np.int64)
        self.heater_setpoint_c = np.tile(np.array([5.0, -5.0]), (n, 1))
        self.heater_active = np.zeros((n, 2), dtype=bool)  # thermostat state (commanded on)
        self.pointing_error_deg = np.full(n, 0.05)
        self.wheel_rpm = np.tile(np.array([0.0, -2000.0, 0.0]), (n, 1))
        self.wheel_desat = np.zeros((n, 3), dtype=bool)
        self.wheel_fault_acked = np.zeros(n, dtype=bool)
        self.storage_mb = np.zeros(n)
        self.images = np.zeros(n, dtype=np.int64)
        self.boot_ns = np.full(n, self.start_ns, dtype=np.int64)
        self.boot_count = np.ones(n, dtype=np.int64)
        self.commands_executed = np.zeros(n, dtype=np.int64)
        self.fdir_latched = np.zeros(n, dtype=bool)
        self.downlink_until_ns = np.zeros(n, dtype=np.int64)
        self.onboard_images = [[] for _ in range(n)]
        self.downlinked = [[] for _ in range(n)]
        self.last_r = np.zeros((n, 3))
        self.last_v = np.zeros((n, 3))

    def _init_buffers(self, n: int) -> None:
        """Work arrays reused every step (the per-step cost is mostly numpy call overhead)."""
        self._jd_array = np.zeros(1)
        self._fr_array = np.zeros(1)
        self._init_adcs(n)
        self._init_outputs(n)

    # ---------------------------------------------------------------- public API
    @property
    def time(self) -> str:
        """Current simulated time, wire format."""
        return format_time_ns(self.time_ns)

    def advance(self, dt_s: float, *, sample: bool = True) -> None:
        """Advance every satellite by dt_s simulated seconds and refresh the outputs.

        `sample=False` moves the clock without counting a telemetry sample (the sequence number
        and the noise stay): the runtime brings the model up to the moment a command arrives.
        """
        if dt_s <= 0:
            raise ValueError(f"step must be positive, got {dt_s} s")
        steps = max(1, math.ceil(dt_s / MAX_SUBSTEP_S - 1e-9))
        total_ns = round(dt_s * NS_PER_S)
        done = 0
        for k in range(1, steps + 1):
            target = total_ns * k // steps
            h_ns = target - done
            done = target
            self._substep(h_ns)
        if sample:
            self.sample += 1
        self._outputs_from_state(self._noise())

    def replace_tle(self, index: int, tle: Tle) -> None:
        """Swap one satellite's elements (UPDATE_TLE); rebuilds the SGP4 array."""
        self.tles[index] = tle
        self._satrecs = SatrecArray([t.satrec for t in self.tles])
        self.mean_motion_rad_s[index] = tle.mean_motion_rev_day * 2.0 * math.pi / 86_400.0
        self.epoch_ns[index] = tle.epoch_ns
        self._propagate()
        self._environment()
        self.beta_deg = beta_angle_deg(self.r, self.v, self._sun)

    # ---------------------------------------------------------------- the physics
    def _substep(self, h_ns: int) -> None:
        h = h_ns / NS_PER_S
        self.time_ns += h_ns
        self._propagate()
        self._environment()
        self._faults()
        self._adcs(h)
        self._power(h)
        self._thermal_pending_s += h
        if self._thermal_pending_s >= THERMAL_STEP_S:
            self._thermal(self._thermal_pending_s)
            self._thermal_pending_s = 0.0
        self._data(h)
        self._fdir()

    def _propagate(self) -> None:
        jd, fr = jday_from_ns(self.time_ns)
        self._jd, self._fr = jd, fr
        self._jd_array[0], self._fr_array[0] = jd, fr
        err, r, v = self._satrecs.sgp4(self._jd_array, self._fr_array)
        self.r, self.v = r[:, 0, :], v[:, 0, :]
        if err.any():
            # A decayed satellite (SGP4 error) freezes at its last valid state rather than emit NaN.
            ok = (err[:, 0] == 0)[:, None]
            self.r = np.where(ok, self.r, self.last_r)
            self.v = np.where(ok, self.v, self.last_v)
        self.last_r, self.last_v = self.r, self.v

    def _environment(self) -> None:
        gmst = float(gmst_rad(self._jd, self._fr))
        # Earth-fixed state as columns (3,N): x, y, z rows are contiguous for what follows.
        self.r_ecef, self.v_ecef = teme_to_ecef_columns(self.r, self.v, gmst)
        self.lat_deg, self.lon_deg, self.alt_km = ecef_to_geodetic(self.r_ecef.T)
        sun = sun_position_km(self._jd, self._fr)
        self.illum, self.sunlit = illumination(self.r, sun)
        r_norm = np.sqrt((self.r * self.r) @ ONES3)
        self.r_norm = r_norm
        sun_hat = sun / math.sqrt(sun @ sun)
        self.cos_zenith_sun = (self.r @ sun_hat) / r_norm
        self._sun = sun
        self._ground_stations()
