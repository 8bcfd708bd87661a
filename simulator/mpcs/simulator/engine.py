"""The vectorised spacecraft model: N satellites advanced in lock-step with numpy.

This is the only implementation of the physics: `Spacecraft` (one satellite) is an engine of one,
so a constellation and a single simulator produce identical telemetry for the same satellite.
Pure: no I/O, no wall clock, no global random state — the output is a function of the specs, the
start time, the sequence of `advance()` steps and the commands applied between them.

Each `advance(dt_s)` splits dt into sub-steps of at most `MAX_SUBSTEP_S` and for each one:
orbit (SGP4 via SatrecArray) → environment (sun, shadow, ground stations) → ADCS → power →
thermal → storage → fault protection. Sensor noise is added to the outputs only (never to the
state), from a counter-based hash of (seed, sample number, channel), so it needs no generator
state and does not depend on which other satellites share the engine.

Couplings (DESIGN §6): solar input = array rating × visible sun fraction × attitude incidence;
loads depend on mode, payload, heaters and transmitter; battery energy integrates the difference;
heat from the sun, Earth and dissipated power flows through three lumped thermal nodes; the
link exists only above a station's mask with the radio healthy, RSSI follows free-space path loss
and sets the downlink rate that drains storage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sgp4.api import SatrecArray

from mpcs.core.commands import Mode
from mpcs.orbit.frames import DEG_PER_RAD, ecef_to_geodetic, gmst_rad, teme_to_ecef_columns
from mpcs.orbit.passes import Station
from mpcs.orbit.sun import beta_angle_deg, illumination, sun_position_km
from mpcs.orbit.timeutil import NS_PER_DAY, NS_PER_S, format_time_ns, jday_from_ns
from mpcs.orbit.tle import Tle

from .spec import FaultType, SatelliteSpec

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

# Channels that carry sensor noise, and their 1-sigma in the channel's unit.
_NOISE_SIGMA = np.array([0.3, 0.1, 0.02, 0.02, 0.05, 0.05, 0.05, 0.01, 2.0, 0.5, 1.5, 0.2])
(
    _N_SOLAR,
    _N_LOAD,
    _N_VOLT,
    _N_CURR,
    _N_TS,
    _N_TB,
    _N_TP,
    _N_POINT,
    _N_WHEEL,
    _N_RSSI,
    _N_CPU,
    _N_WHEEL_Z,
) = range(12)
_NOISE_SCALE = (math.sqrt(12.0) * _NOISE_SIGMA)[:, None]  # uniform of unit variance × sigma
# A 32-bit word w placed in the mantissa of 1.0 is the double 1 + w/2³², exactly.
_MANTISSA_TOP32 = np.uint64(0x000FFFFFFFF00000)
_ONE_BITS = np.uint64(0x3FF0000000000000)
# The noisy readings live in one (13, N) array, a row per channel in _NOISE_SIGMA's order plus
# the y wheel (whose noise is 0.7 × the x wheel's), so one add and one clip serve every channel.
_R_WHEEL_Y = len(_NOISE_SIGMA)
_INF = math.inf
_READING_MIN = np.array(
    [0.0, 0.0, 0.0, -500.0, -_INF, -_INF, -_INF, 0.0, -1e4, -_INF, 0.0, -1e4, -1e4]
)[:, None]
_READING_MAX = np.array(
    [_INF, _INF, 60.0, 500.0, _INF, _INF, _INF, 180.0, 1e4, _INF, 100.0, 1e4, 1e4]
)[:, None]
_CPU_BASE_PCT = np.array([12.0, 22.0, 55.0, 40.0])  # by mode
_POINTING_TARGET_DEG = np.array([1.5, 0.05, 2.5, 6.0])  # by fine pointing + 2 × stuck wheel
_POINTING_TAU_S = np.array([25.0, 120.0])  # by stuck wheel
# Wheel disturbance rates (rpm/s): gain × (sin φ, cos φ, sin φ cos φ) + bias, per axis x, y, z.
_WHEEL_DRIFT_GAIN = np.array([2.0, 1.5, 2.0])[:, None]
_WHEEL_DRIFT_BIAS = np.array([0.30, -0.20, 0.15])[:, None]
_ONES3 = np.ones(3)
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class SatelliteConfig:
    """One satellite as the engine needs it: name, TLE, bus, simulator settings."""

    name: str
    spec: SatelliteSpec

    @property
    def tle(self) -> Tle:
        """The parsed TLE."""
        return self.spec.tle.parsed(self.name)


def _seed_key(name: str, seed: int) -> int:
    """Per-satellite noise key: the user's seed mixed with the name (so satellites differ)."""
    import hashlib

    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _splitmix64_int(x: int) -> int:
    """SplitMix64's finaliser on one Python int (the few per-sample counters)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _splitmix64(x: npt.NDArray[np.uint64], scratch: npt.NDArray[np.uint64]) -> None:
    """SplitMix64's finaliser applied to x in place (uint64 arithmetic wraps, as it should)."""
    np.add(x, np.uint64(0x9E3779B97F4A7C15), out=x)
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, np.uint64(shift), out=scratch)
        np.bitwise_xor(x, scratch, out=x)
        np.multiply(x, np.uint64(multiplier), out=x)
    np.right_shift(x, np.uint64(31), out=scratch)
    np.bitwise_xor(x, scratch, out=x)


class Engine:
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
            [_seed_key(s.name, s.spec.simulator.seed) for s in satellites], dtype=np.uint64
        )
        self.mean_motion_rad_s = np.array(
            [t.mean_motion_rev_day * 2.0 * math.pi / 86_400.0 for t in self.tles]
        )
        self.epoch_ns = np.array([t.epoch_ns for t in self.tles], dtype=np.int64)

    def _init_faults(self, satellites: Sequence[SatelliteConfig], start_ns: int) -> None:
        n = len(satellites)
        self.ageing_start_ns = np.full(n, NEVER, dtype=np.int64)
        self.ageing_rate_per_day = np.zeros(n)
        self.stuck_start_ns = np.full(n, NEVER, dtype=np.int64)
        self.stuck_axis = np.zeros(n, dtype=np.int64)
        self.stuck_rpm = np.zeros(n)
        self.stuck_engaged = np.zeros(n, dtype=bool)
        self.heater_fail_start_ns = np.full((n, 2), NEVER, dtype=np.int64)
        self.radio_start_ns = np.full(n, NEVER, dtype=np.int64)
        self.radio_end_ns = np.full(n, NEVER, dtype=np.int64)
        self.fade = np.zeros(n)
        # Internal resistance at 20 °C (ageing raises it); _battery_temperature scales it.
        self._battery_r_ohm = BATTERY_R_OHM * (1.0 + 2.0 * self.fade)
        self.radio_ok = np.ones(n, dtype=bool)
        self.heater_failed = np.zeros((n, 2), dtype=bool)
        for i, sat in enumerate(satellites):
            for fault in sat.spec.simulator.faults:
                at = fault.start_ns(start_ns)
                if fault.type is FaultType.BATTERY_AGEING:
                    self.ageing_start_ns[i] = at
                    self.ageing_rate_per_day[i] = fault.capacity_fade_pct_per_day / 100.0
                elif fault.type is FaultType.STUCK_WHEEL:
                    self.stuck_start_ns[i] = at
                    self.stuck_axis[i] = WHEEL_INDEX[fault.wheel]
                elif fault.type is FaultType.HEATER_FAILURE:
                    self.heater_fail_start_ns[i, HEATER_INDEX[fault.heater]] = at
                elif fault.type is FaultType.RADIO_DROPOUT:
                    self.radio_start_ns[i] = at
                    if fault.duration_seconds is not None:
                        self.radio_end_ns[i] = at + int(fault.duration_seconds * NS_PER_S)
        #: Before this instant no fault of any kind has begun, and _faults has nothing to do.
        self._first_fault_ns = int(
            min(
                self.ageing_start_ns.min(),
                self.stuck_start_ns.min(),
                self.heater_fail_start_ns.min(),
                self.radio_start_ns.min(),
            )
        )

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
        self.last_r = np.zeros((n, 3))
        self.last_v = np.zeros((n, 3))

    def _set_stations(self, stations: Sequence[Station]) -> None:
        self.stations = list(stations)
        if self.stations:
            self.station_ecef = np.stack([s.ecef_km for s in self.stations])  # (M,3)
            self.station_enu = np.stack([s.enu for s in self.stations])  # (M,3,3)
            self.station_mask = np.array([s.min_elevation_deg for s in self.stations])
            m, n = len(self.stations), self.n
            # enu = R (r − s) = R r − R s: one (3M,3) @ (3,N) product and one subtraction.
            # Offsets and masks are stored at full (…, N) size: numpy is much slower when an
            # operand is broadcast along the innermost axis.
            self._enu_rows = self.station_enu.reshape(3 * m, 3)
            offsets = (self.station_enu @ self.station_ecef[:, :, None]).reshape(3 * m, 1)
            self._enu_offsets_km = np.repeat(offsets, n, axis=1)
            self._station_mask_deg = np.repeat(self.station_mask[:, None], n, axis=1)
            self._station_columns = np.ascontiguousarray(self.station_ecef.T)  # (3,M)
        self.station_names = [s.name for s in self.stations] + [""]

    def _init_buffers(self, n: int) -> None:
        """Work arrays reused every step (the per-step cost is mostly numpy call overhead)."""
        self._jd_array = np.zeros(1)
        self._fr_array = np.zeros(1)
        self._columns = np.arange(n)
        self._no_station = np.zeros(n, dtype=np.int64)
        self._wheel_drift = np.empty((n, 3))
        self._wheel_drift_gain = np.repeat(_WHEEL_DRIFT_GAIN.T, n, axis=0)  # (N,3)
        self._wheel_drift_bias = np.repeat(_WHEEL_DRIFT_BIAS.T, n, axis=0)
        half = (len(_NOISE_SIGMA) + 1) // 2
        self._noise_hash = np.empty((half, n), dtype=np.uint64)
        self._noise_scratch = np.empty((half, n), dtype=np.uint64)
        self._noise_words = np.empty((2 * half, n), dtype=np.uint64)
        self._noise_out = np.empty((len(_NOISE_SIGMA) + 1, n))
        self._noise_scale = np.repeat(_NOISE_SCALE, n, axis=1)
        self._reading_min = np.repeat(_READING_MIN, n, axis=1)
        self._reading_max = np.repeat(_READING_MAX, n, axis=1)
        self._readings = readings = np.empty((len(_NOISE_SIGMA) + 1, n))
        self.out_solar = readings[_N_SOLAR]
        self.out_load = readings[_N_LOAD]
        self.out_voltage = readings[_N_VOLT]
        self.out_current = readings[_N_CURR]
        self.out_temps = readings[_N_TS : _N_TP + 1]  # (3, N): structure, battery, payload
        self.out_pointing = readings[_N_POINT]
        self.out_wheels = (readings[_N_WHEEL], readings[_R_WHEEL_Y], readings[_N_WHEEL_Z])
        self.out_rssi = readings[_N_RSSI]
        self.out_cpu = readings[_N_CPU]

    # ---------------------------------------------------------------- public API
    @property
    def time(self) -> str:
        """Current simulated time, wire format."""
        return format_time_ns(self.time_ns)

    def advance(self, dt_s: float) -> None:
        """Advance every satellite by dt_s simulated seconds and refresh the outputs."""
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
        r_norm = np.sqrt((self.r * self.r) @ _ONES3)
        self.r_norm = r_norm
        sun_hat = sun / math.sqrt(sun @ sun)
        self.cos_zenith_sun = (self.r @ sun_hat) / r_norm
        self._sun = sun
        self._ground_stations()

    def _ground_stations(self) -> None:
        n = self.n
        if not self.stations:
            self.best_station = np.full(n, -1, dtype=np.int64)
            self.elevation = np.full(n, -90.0)
            self.azimuth = np.zeros(n)
            self.range_km = np.zeros(n)
            self.range_rate = np.zeros(n)
            self.in_view = np.zeros(n, dtype=bool)
            return
        # Every array is (M, ..., N): station-major, satellites contiguous along the last axis.
        m = len(self.stations)
        enu = self._enu_rows @ self.r_ecef
        enu -= self._enu_offsets_km  # (3M,N): east, north, up from each station
        squared = enu * enu
        rng = _ONES3 @ squared.reshape(m, 3, n)  # (M,N); a rotation keeps the length
        np.sqrt(rng, out=rng)
        sin_el = enu[2::3] / rng
        np.maximum(sin_el, -1.0, out=sin_el)
        el = np.arcsin(np.minimum(sin_el, 1.0, out=sin_el), out=sin_el)
        el *= DEG_PER_RAD
        score = el - self._station_mask_deg
        # argmax over stations (first one wins a tie), as a loop over the few stations: an
        # argmax along the short axis costs more than these whole-row operations.
        best, best_score = self._no_station, score[0]
        for k in range(1, m):
            better = score[k] > best_score
            best = np.where(better, k, best)
            best_score = np.where(better, score[k], best_score)
        self.best_station = best
        flat = best * n + self._columns  # into (M,N)
        self.elevation = np.take(el, flat)
        self.range_km = np.take(rng, flat)
        flat += best * (2 * n)  # into (3M,N): the best station's east row
        east, north = np.take(enu, flat), np.take(enu.reshape(-1)[n:], flat)
        self.azimuth = np.mod(np.arctan2(east, north) * DEG_PER_RAD, 360.0)
        rho = self.r_ecef - np.take(self._station_columns, best, axis=1)
        self.range_rate = (_ONES3 @ (rho * self.v_ecef)) / self.range_km
        self.in_view = best_score >= 0.0  # elevation ≥ that station's mask

    def _faults(self) -> None:
        t = self.time_ns
        # Fault kinds that no satellite has (or has yet) cost nothing per step.
        if t >= self._first_fault_ns:
            if t >= self.ageing_start_ns.min():
                days = np.maximum(t - self.ageing_start_ns, 0) / NS_PER_DAY
                self.fade = np.where(
                    t >= self.ageing_start_ns,
                    np.minimum(self.ageing_rate_per_day * days, 0.8),
                    0.0,
                )
                self.capacity_wh = self.battery_wh * (1.0 - self.fade)
                self._battery_r_ohm = BATTERY_R_OHM * (1.0 + 2.0 * self.fade)
            if t >= self.radio_start_ns.min():
                self.radio_ok = ~((t >= self.radio_start_ns) & (t < self.radio_end_ns))
            self.heater_failed = t >= self.heater_fail_start_ns
            stuck = t >= self.stuck_start_ns
            newly = stuck & ~self.stuck_engaged
            if np.any(newly):
                idx = np.flatnonzero(newly)
                self.stuck_rpm[idx] = self.wheel_rpm[idx, self.stuck_axis[idx]]
            self.stuck_engaged = stuck
        self.in_contact = self.in_view & self.radio_ok

    def _adcs(self, h: float) -> None:
        # Mode does not change between here and _data: the masks serve _power too.
        self._safe = safe = self.mode == SAFE
        self._any_safe = np.count_nonzero(safe) > 0
        attitude = np.where(safe, SUN, self.attitude_cmd)
        changed = attitude != self.attitude_eff
        self.attitude_eff = attitude
        self._fine = fine = attitude != SUN
        stuck = self.stuck_engaged
        any_stuck = np.count_nonzero(stuck) > 0
        decay = np.exp(-h / _POINTING_TAU_S)
        if any_stuck:
            target = _POINTING_TARGET_DEG[fine + 2 * stuck]
            factor = decay[stuck.astype(np.intp)]
        else:
            target = np.where(fine, _POINTING_TARGET_DEG[1], _POINTING_TARGET_DEG[0])
            factor = decay[0]
        err = self.pointing_error_deg
        if np.count_nonzero(changed):
            err = np.where(changed, np.maximum(err, SLEW_ERROR_DEG), err)
        self.pointing_error_deg = target + (err - target) * factor
        # Disturbance torques (orbit-periodic plus a secular build-up) spin the wheels;
        # magnetorquers dump momentum between the desaturation thresholds.
        phase = self.mean_motion_rad_s * ((self.time_ns - self.epoch_ns) / NS_PER_S)
        drift = self._wheel_drift  # (N,3): x, y, z, in rpm/s
        np.sin(phase, out=drift[:, 0])
        np.cos(phase, out=drift[:, 1])
        np.multiply(drift[:, 0], drift[:, 1], out=drift[:, 2])
        drift *= self._wheel_drift_gain
        drift += self._wheel_drift_bias
        rpm = self.wheel_rpm
        # Desaturating wheels keep at it down to the stop threshold, idle ones start above START.
        self.wheel_desat = np.abs(rpm) > np.where(
            self.wheel_desat, WHEEL_DESAT_STOP_RPM, WHEEL_DESAT_START_RPM
        )
        rate = drift
        if np.count_nonzero(self.wheel_desat):
            dump = np.where(self.wheel_desat, -np.sign(rpm) * WHEEL_DESAT_RATE_RPM_S, 0.0)
            rate = rate + dump
        if self._any_safe:
            rpm = np.where(safe[:, None], rpm * math.exp(-h / 900.0), rpm + rate * h)
        else:
            rpm = rpm + rate * h
        if any_stuck:
            idx = np.flatnonzero(stuck)
            rpm[idx, self.stuck_axis[idx]] = self.stuck_rpm[idx]
        np.maximum(rpm, -9000.0, out=rpm)
        self.wheel_rpm = np.minimum(rpm, 9000.0, out=rpm)

    def _power(self, h: float) -> None:
        incidence = np.maximum(self.cos_zenith_sun, 0.0)  # array fixed on the zenith face
        sun_pointing = ~self._fine
        if np.count_nonzero(sun_pointing):  # array facing the sun
            error_rad = self.pointing_error_deg * (math.pi / 180.0)  # as np.deg2rad
            np.cos(error_rad, out=incidence, where=sun_pointing)
        self.solar_avail_w = self.solar_w * self.illum * incidence
        heater_dissipating = (self.heater_active & ~self.heater_failed).view(np.uint8)
        heaters_on = heater_dissipating[:, 0] + heater_dissipating[:, 1]  # 0, 1 or 2
        self.heater_power_w = self.heater_w * heaters_on
        if np.count_nonzero(self.in_contact):
            self.tx_w = np.where(
                self.in_contact, np.where(self.mode == DOWNLINK, self.transmitter_w, 2.0), 0.0
            )
        else:
            self.tx_w = np.zeros(self.n)
        self.payload_power_w = self.payload_w * self.payload_on  # × 0 or 1: a cheap np.where
        base = self.base_load_w
        if self._any_safe:
            base = base * np.where(self._safe, 0.7, 1.0)
        self.bus_dissipation_w = base + self.tx_w
        self.load_w = self.bus_dissipation_w + self.payload_power_w + self.heater_power_w
        net = self.solar_avail_w - self.load_w
        charging = net > 0
        e_old = np.minimum(self.energy_wh, self.capacity_wh)
        rate = np.where(charging, net * CHARGE_EFFICIENCY, net / CHARGE_EFFICIENCY)
        if h > 0:
            # A full battery takes no charge, an empty one gives no power (the bus browns out):
            # clamping the energy to [0, capacity] does both.
            hours = h / 3600.0
            e_new = np.maximum(e_old + rate * hours, 0.0)
            np.minimum(e_new, self.capacity_wh, out=e_new)
            self.battery_power_w = (e_new - e_old) / hours
            self.energy_wh = e_new
        else:
            blocked = ((rate > 0) & (e_old >= self.capacity_wh)) | ((rate < 0) & (e_old <= 0.0))
            self.battery_power_w = np.where(blocked, 0.0, rate)
        # With a full battery the array is curtailed to what the bus and the battery take
        # (while charging the battery power is ≥ 0: zero when full).
        charge_in = self.battery_power_w / CHARGE_EFFICIENCY
        self.solar_power_w = np.where(
            charging, np.minimum(self.solar_avail_w, self.load_w + charge_in), self.solar_avail_w
        )

    def _thermal(self, h: float) -> None:
        # The beta angle drifts by about a degree a day: refreshed at the thermal cadence.
        self.beta_deg = beta_angle_deg(self.r, self.v, self._sun)
        ts, tb, tp = self.temp_k[:, 0], self.temp_k[:, 1], self.temp_k[:, 2]
        view = (EARTH_RADIUS_KM / np.maximum(self.r_norm, EARTH_RADIUS_KM)) ** 2
        face = self.area_face_m2
        absorbed = (
            self.absorptivity
            * (
                SOLAR_CONSTANT_W_M2 * self.illum * 1.5 * face
                + ALBEDO * SOLAR_CONSTANT_W_M2 * view * face * np.maximum(self.cos_zenith_sun, 0.0)
            )
            + self.emissivity * EARTH_IR_W_M2 * view * face
        )
        eps_sigma_a = self._eps_sigma_area
        q_s = (
            absorbed
            + 0.6 * self.bus_dissipation_w
            + self.g_battery * (tb - ts)
            + self.g_payload * (tp - ts)
            - eps_sigma_a * ts**4
        )
        k_s = 4.0 * eps_sigma_a * ts**3 + self.g_battery + self.g_payload
        heat = self.heater_active & ~self.heater_failed
        q_b = 0.4 * self.bus_dissipation_w + self.heater_w * heat[:, 0] + self.g_battery * (ts - tb)
        q_p = self.payload_power_w + self.heater_w * heat[:, 1] + self.g_payload * (ts - tp)
        # Exponential Euler per node: unconditionally stable for any sub-step.
        ts = ts + q_s / k_s * -np.expm1(-k_s * h / self.c_structure)
        tb = tb + q_b / self.g_battery * -np.expm1(-self.g_battery * h / self.c_battery)
        tp = tp + q_p / self.g_payload * -np.expm1(-self.g_payload * h / self.c_payload)
        self.temp_k = np.stack((ts, tb, tp), axis=-1)
        self._battery_temperature()
        self._thermostats()

    def _battery_temperature(self) -> None:
        """What the battery temperature drives; it only changes at the thermal cadence."""
        temp_b_c = self.temp_k[:, 1] - KELVIN
        self._battery_cold = temp_b_c < COLD_BATTERY_C
        self._battery_r_factor = np.exp(
            np.minimum(np.maximum(-0.025 * (temp_b_c - 20.0), -1.0), 2.0)
        )

    def refresh_heaters(self) -> None:
        """Re-evaluate heater states after a command changed their control."""
        self._thermostats()

    def _thermostats(self) -> None:
        temps_c = self.temp_k[:, 1:] - KELVIN
        auto = self.heater_control == HEATER_AUTO
        on = (temps_c < self.heater_setpoint_c) | (
            self.heater_active & (temps_c < self.heater_setpoint_c + HEATER_HYSTERESIS_K)
        )
        self.heater_active = np.where(auto, on, self.heater_control == HEATER_ON)

    def _data(self, h: float) -> None:
        self.rssi_dbm = np.full(self.n, RSSI_FLOOR_DBM)
        self.downlink_rate = np.zeros(self.n)
        downlink = self.mode == DOWNLINK
        linked = np.flatnonzero(self.in_contact)  # usually a few satellites: compute only those
        if linked.size:
            path_loss_db = (
                20.0 * np.log10(np.maximum(self.range_km[linked], 1.0))
                + 20.0 * math.log10(DOWNLINK_FREQUENCY_HZ / 1e6)
                + 32.44
            )
            rssi = EIRP_DBM + GROUND_GAIN_DBI - LINK_LOSSES_DB - path_loss_db
            self.rssi_dbm[linked] = rssi
            snr_factor = np.minimum(
                np.maximum(10.0 ** ((rssi - RSSI_FULL_RATE_DBM) / 10.0), 0.05), 1.0
            )
            self.downlink_rate[linked] = np.where(
                downlink[linked], self.downlink_mbps[linked] * snr_factor, 0.0
            )
        producing = (self.mode == PAYLOAD) & self.payload_on
        self.payload_rate = self.payload_data_mbps * producing
        storage = self.storage_mb
        if linked.size or np.count_nonzero(producing):  # else nothing flows
            flow_mb_s = (self.payload_rate - self.downlink_rate) / 8.0
            storage = storage + flow_mb_s * h
        storage = np.maximum(storage, 0.0)
        self.storage_mb = np.minimum(storage, self.storage_cap_mb, out=storage)
        if np.count_nonzero(downlink):
            done = downlink & (
                ~self.in_contact
                | (self.storage_mb <= 0.0)
                | (self.time_ns >= self.downlink_until_ns)
            )
            self.mode = np.where(done, NOMINAL, self.mode)

    def _fdir(self) -> None:
        soc = self.energy_wh / self.capacity_wh
        bad = (soc < SAFE_SOC) | self._battery_cold
        if np.count_nonzero(self.stuck_engaged):
            wheel_new = self.stuck_engaged & ~self.wheel_fault_acked
            bad |= wheel_new
        trips = bad & (self.mode != SAFE)
        if not np.count_nonzero(trips):
            return
        wheel_new = self.stuck_engaged & ~self.wheel_fault_acked
        temp_b = self.temp_k[:, 1] - KELVIN
        for i in np.flatnonzero(trips):
            if soc[i] < SAFE_SOC:
                reason = f"battery {soc[i] * 100:.1f} % below {SAFE_SOC * 100:.0f} %"
            elif wheel_new[i]:
                axis = "xyz"[int(self.stuck_axis[i])]
                reason = f"reaction wheel {axis} not responding"
            else:
                reason = f"battery {temp_b[i]:.1f} °C below {COLD_BATTERY_C:.0f} °C"
            self.enter_safe(int(i), reason)

    def enter_safe(self, index: int, reason: str) -> None:
        """Fault protection: SAFE mode, payload off, latch with the reason."""
        self.mode[index] = SAFE
        self.payload_on[index] = False
        if self.attitude_eff[index] != SUN:  # start the slew to the sun now
            self.attitude_eff[index] = SUN
            self.pointing_error_deg[index] = max(self.pointing_error_deg[index], SLEW_ERROR_DEG)
        self.fdir_latched[index] = True
        self.fdir_reason[index] = reason

    # ---------------------------------------------------------------- outputs
    def _noise(self) -> FloatArray:
        """Zero-mean (K+1, N) sensor noise, a row per channel, scaled by each channel's sigma.

        Uniform rather than Gaussian (bounded: a reading never jumps out of its range) and drawn
        from a counter-based hash of (seed, sample, channel): no generator state to carry.
        Row K is the y wheel's: the x wheel's × 0.7. Returns a buffer reused by the next call.
        """
        k = len(_NOISE_SIGMA)
        half = len(self._noise_hash)  # 64-bit hashes per satellite
        base = self.sample * half
        counter = np.array(
            [_splitmix64_int((base + lane) & _MASK64) for lane in range(half)], dtype=np.uint64
        )
        h = self._noise_hash  # (half, N): a 64-bit hash gives two 32-bit channels
        np.bitwise_xor(counter[:, None], self.seed_keys, out=h)
        _splitmix64(h, self._noise_scratch)
        # Low and high 32-bit words, each as the double 1 + w/2³², minus 1.5: w/2³² − 0.5
        # exactly (bit-identical to converting w and scaling, at a fraction of the cost).
        words = self._noise_words
        np.left_shift(h, np.uint64(20), out=words[:half])
        np.right_shift(h, np.uint64(12), out=words[half:])
        np.bitwise_and(words, _MANTISSA_TOP32, out=words)
        np.bitwise_or(words, _ONE_BITS, out=words)
        noise = self._noise_out
        uniform = noise[:k]
        np.subtract(words[:k].view(np.float64), 1.5, out=uniform)
        np.multiply(uniform, self._noise_scale, out=uniform)
        np.multiply(noise[_N_WHEEL], 0.7, out=noise[_R_WHEEL_Y])
        return noise

    def soc(self) -> FloatArray:
        """Battery state of charge, 0..1."""
        soc = np.maximum(self.energy_wh / self.capacity_wh, 0.0)
        result: FloatArray = np.minimum(soc, 1.0, out=soc)
        return result

    def _outputs_from_state(self, noise: FloatArray) -> None:
        """Sensor readings (state + noise), clamped to the catalogue ranges.

        `noise` is (K+1, N) as `_noise` returns it; its pointing row is overwritten.
        """
        readings = self._readings
        soc = self.soc()
        ocv = BATTERY_CELLS * (3.2 + 0.95 * soc - 0.15 * np.exp(-12.0 * soc))
        r_int = self._battery_r_ohm * self._battery_r_factor
        current = np.divide(self.battery_power_w, ocv, out=readings[_N_CURR])
        voltage = np.multiply(current, r_int, out=readings[_N_VOLT])
        np.add(ocv, voltage, out=voltage)
        readings[_N_SOLAR] = self.solar_power_w
        readings[_N_LOAD] = self.load_w
        np.subtract(self.temp_k.T, KELVIN, out=readings[_N_TS : _N_TP + 1])
        # Pointing noise is relative: error + noise × error.
        readings[_N_POINT] = self.pointing_error_deg
        np.multiply(noise[_N_POINT], self.pointing_error_deg, out=noise[_N_POINT])
        readings[_N_WHEEL] = self.wheel_rpm[:, 0]
        readings[_R_WHEEL_Y] = self.wheel_rpm[:, 1]
        readings[_N_WHEEL_Z] = self.wheel_rpm[:, 2]
        readings[_N_RSSI] = self.rssi_dbm
        cpu = np.take(_CPU_BASE_PCT, self.mode, out=readings[_N_CPU])
        cpu += 3.0 * self.payload_on
        np.add(readings, noise, out=readings)
        np.abs(readings[_N_POINT], out=readings[_N_POINT])
        np.maximum(readings, self._reading_min, out=readings)
        np.minimum(readings, self._reading_max, out=readings)
        np.copyto(readings[_N_SOLAR], 0.0, where=self.solar_power_w <= 0.0)  # no sun, no reading
        np.copyto(readings[_N_RSSI], RSSI_FLOOR_DBM, where=~self.in_contact)

    def telemetry(self) -> list[dict[str, object]]:
        """One telemetry message (schema v1, `mpcs.core.telemetry`) per satellite, in order."""
        n = self.n
        speed = np.sqrt(np.einsum("ij,ij->i", self.v, self.v))
        lon = np.where(self.lon_deg >= 180.0, self.lon_deg - 360.0, self.lon_deg)
        soc_pct = self.soc() * 100.0
        heater_on = self.heater_active & ~self.heater_failed
        heater_fault = self.heater_active & self.heater_failed
        has_station = self.best_station >= 0
        doppler = np.where(
            has_station, -self.range_rate / SPEED_OF_LIGHT_KM_S * DOWNLINK_FREQUENCY_HZ, 0.0
        )
        station = [self.station_names[int(b)] for b in self.best_station]
        wheel_fault = self.stuck_engaged
        uptime = (self.time_ns - self.boot_ns) // NS_PER_S
        storage_pct = self.storage_mb / self.storage_cap_mb * 100.0
        cols = {
            "lat": self.lat_deg.tolist(),
            "lon": lon.tolist(),
            "alt": self.alt_km.tolist(),
            "speed": speed.tolist(),
            "sunlit": self.sunlit.tolist(),
            "illum": self.illum.tolist(),
            "beta": self.beta_deg.tolist(),
            "solar": self.out_solar.tolist(),
            "load": self.out_load.tolist(),
            "soc": soc_pct.tolist(),
            "volt": self.out_voltage.tolist(),
            "curr": self.out_current.tolist(),
            "cap": self.capacity_wh.tolist(),
            "ts": self.out_temps[0].tolist(),
            "tb": self.out_temps[1].tolist(),
            "tp": self.out_temps[2].tolist(),
            "hb": heater_on[:, 0].tolist(),
            "hp": heater_on[:, 1].tolist(),
            "hw": self.heater_power_w.tolist(),
            "hf": heater_fault.any(axis=1).tolist(),
            "att": [ATTITUDES[a] for a in self.attitude_eff.tolist()],
            "point": self.out_pointing.tolist(),
            "wx": self.out_wheels[0].tolist(),
            "wy": self.out_wheels[1].tolist(),
            "wz": self.out_wheels[2].tolist(),
            "wf": wheel_fault.tolist(),
            "contact": self.in_contact.tolist(),
            "el": self.elevation.tolist(),
            "az": self.azimuth.tolist(),
            "rng": self.range_km.tolist(),
            "rr": self.range_rate.tolist(),
            "dop": doppler.tolist(),
            "rssi": self.out_rssi.tolist(),
            "radio": self.radio_ok.tolist(),
            "dl": self.downlink_rate.tolist(),
            "cpu": self.out_cpu.tolist(),
            "up": uptime.tolist(),
            "boots": self.boot_count.tolist(),
            "sto": self.storage_mb.tolist(),
            "stop": storage_pct.tolist(),
            "cmds": self.commands_executed.tolist(),
            "latch": self.fdir_latched.tolist(),
            "pon": self.payload_on.tolist(),
            "pw": self.payload_power_w.tolist(),
            "img": self.images.tolist(),
            "prate": self.payload_rate.tolist(),
        }
        modes = [MODES[m].value for m in self.mode.tolist()]
        stamp = self.time
        seq = self.sample
        out: list[dict[str, object]] = []
        for i in range(n):
            c = {key: values[i] for key, values in cols.items()}
            out.append(
                {
                    "version": 1,
                    "satellite": self.names[i],
                    "time": stamp,
                    "seq": seq,
                    "mode": modes[i],
                    "orbit": {
                        "lat_deg": c["lat"],
                        "lon_deg": c["lon"],
                        "alt_km": c["alt"],
                        "speed_km_s": c["speed"],
                        "sunlit": c["sunlit"],
                        "illumination": c["illum"],
                        "beta_deg": c["beta"],
                    },
                    "power": {
                        "solar_power_w": c["solar"],
                        "load_power_w": c["load"],
                        "battery_soc_pct": c["soc"],
                        "battery_voltage_v": c["volt"],
                        "battery_current_a": c["curr"],
                        "battery_capacity_wh": c["cap"],
                    },
                    "thermal": {
                        "structure_temp_c": c["ts"],
                        "battery_temp_c": c["tb"],
                        "payload_temp_c": c["tp"],
                        "battery_heater_on": c["hb"],
                        "payload_heater_on": c["hp"],
                        "heater_power_w": c["hw"],
                        "heater_fault": c["hf"],
                    },
                    "adcs": {
                        "attitude": c["att"],
                        "pointing_error_deg": c["point"],
                        "wheel_x_rpm": c["wx"],
                        "wheel_y_rpm": c["wy"],
                        "wheel_z_rpm": c["wz"],
                        "wheel_fault": c["wf"],
                    },
                    "comms": {
                        "in_contact": c["contact"],
                        "station": station[i],
                        "elevation_deg": c["el"],
                        "azimuth_deg": c["az"],
                        "range_km": c["rng"],
                        "range_rate_km_s": c["rr"],
                        "doppler_hz": c["dop"],
                        "rssi_dbm": c["rssi"],
                        "radio_ok": c["radio"],
                        "downlink_rate_mbps": c["dl"],
                    },
                    "obc": {
                        "cpu_load_pct": c["cpu"],
                        "uptime_s": c["up"],
                        "boot_count": c["boots"],
                        "storage_used_mb": c["sto"],
                        "storage_used_pct": c["stop"],
                        "commands_executed": c["cmds"],
                        "fdir_latched": c["latch"],
                        "fdir_reason": self.fdir_reason[i],
                    },
                    "payload": {
                        "payload_on": c["pon"],
                        "payload_power_w": c["pw"],
                        "images_captured": c["img"],
                        "data_rate_mbps": c["prate"],
                    },
                }
            )
        return out
