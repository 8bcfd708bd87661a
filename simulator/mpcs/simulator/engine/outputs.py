"""Sensor readings and telemetry messages: the model's state as the spacecraft reports it.

Sensor noise is added to the outputs only (never to the state), from a counter-based hash of
(seed, sample number, channel), so it needs no generator state and does not depend on which other
satellites share the engine. Readings are clamped to the ranges of the telemetry catalogue
(`mpcs.core.telemetry`), and `telemetry()` builds one schema-v1 message per satellite.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

from mpcs.orbit.timeutil import NS_PER_S, format_time_ns

from .constants import (
    ATTITUDES,
    BATTERY_CELLS,
    DOWNLINK_FREQUENCY_HZ,
    KELVIN,
    MODES,
    RSSI_FLOOR_DBM,
    SPEED_OF_LIGHT_KM_S,
    FloatArray,
)
from .state import EngineState

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
_MASK64 = (1 << 64) - 1


def seed_key(name: str, seed: int) -> int:
    """Per-satellite noise key: the user's seed mixed with the name (so satellites differ)."""
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


class Outputs(EngineState):
    """Noise, readings and messages (a mixin of `Engine`)."""

    def _init_outputs(self, n: int) -> None:
        """Buffers the readings are written into every sample (numpy call overhead dominates)."""
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
        stamp = format_time_ns(self.time_ns)
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
