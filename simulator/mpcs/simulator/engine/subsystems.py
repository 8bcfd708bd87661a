"""The spacecraft's subsystems: injected faults, ADCS, power, thermal and fault protection.

Couplings (DESIGN §6): solar input = array rating × visible sun fraction × attitude incidence;
loads depend on mode, payload, heaters and transmitter; battery energy integrates the difference;
heat from the sun, Earth and dissipated power flows through three lumped thermal nodes; fault
protection (FDIR) enters SAFE on a low or cold battery or a stuck wheel, with the reason latched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mpcs.core.resources.satellite import FaultType
from mpcs.orbit.sun import beta_angle_deg
from mpcs.orbit.timeutil import NS_PER_DAY, NS_PER_S

from .constants import (
    ALBEDO,
    BATTERY_R_OHM,
    CHARGE_EFFICIENCY,
    COLD_BATTERY_C,
    DOWNLINK,
    EARTH_IR_W_M2,
    EARTH_RADIUS_KM,
    HEATER_AUTO,
    HEATER_HYSTERESIS_K,
    HEATER_INDEX,
    HEATER_ON,
    KELVIN,
    NEVER,
    SAFE,
    SAFE_SOC,
    SLEW_ERROR_DEG,
    SOLAR_CONSTANT_W_M2,
    SUN,
    WHEEL_DESAT_RATE_RPM_S,
    WHEEL_DESAT_START_RPM,
    WHEEL_DESAT_STOP_RPM,
    WHEEL_INDEX,
)
from .state import EngineState

if TYPE_CHECKING:
    from .core import SatelliteConfig

_POINTING_TARGET_DEG = np.array([1.5, 0.05, 2.5, 6.0])  # by fine pointing + 2 × stuck wheel
_POINTING_TAU_S = np.array([25.0, 120.0])  # by stuck wheel
# Wheel disturbance rates (rpm/s): gain × (sin φ, cos φ, sin φ cos φ) + bias, per axis x, y, z.
_WHEEL_DRIFT_GAIN = np.array([2.0, 1.5, 2.0])[:, None]
_WHEEL_DRIFT_BIAS = np.array([0.30, -0.20, 0.15])[:, None]


class Subsystems(EngineState):
    """Faults, ADCS, power, thermal and FDIR, one method each (a mixin of `Engine`)."""

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

    def _init_adcs(self, n: int) -> None:
        """Wheel disturbance buffers, reused every step."""
        self._wheel_drift = np.empty((n, 3))
        self._wheel_drift_gain = np.repeat(_WHEEL_DRIFT_GAIN.T, n, axis=0)  # (N,3)
        self._wheel_drift_bias = np.repeat(_WHEEL_DRIFT_BIAS.T, n, axis=0)

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
