"""The engine's state, declared once: every array is (N,) or (N, k), a row per satellite.

`Engine` is assembled from mixins, one per concern (`core`, `comms`, `subsystems`, `outputs`),
that all read and write this one state; declaring it here says in one place what each array
holds and in which unit, and lets each mixin use what another one computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sgp4.api import SatrecArray

from mpcs.orbit.passes import Station
from mpcs.orbit.tle import Tle

from .constants import BoolArray, FloatArray, IntArray

UIntArray = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class OnboardImage:
    """An image in mass memory: what the camera saw and when (CAPTURE_IMAGE)."""

    number: int  # images captured since the simulator started, this one included
    time_ns: int
    lat_deg: float  # footprint centre: the target when pointing at one, else the nadir
    lon_deg: float
    sun_elevation_deg: float  # at the sub-satellite point


@dataclass(frozen=True)
class DownlinkedImage:
    """An image a START_DOWNLINK brought down, waiting for the runtime to publish it."""

    image: OnboardImage
    time_ns: int
    station: str


class EngineState:
    """Declarations only: the mixins assign these (see `Engine.__init__` for the order)."""

    # --- clock and identity
    names: list[str]
    n: int
    time_ns: int  # simulated UTC
    start_ns: int
    sample: int  # telemetry samples taken (the noise counter)
    tles: list[Tle]
    _satrecs: SatrecArray
    _jd: float
    _fr: float
    _jd_array: FloatArray
    _fr_array: FloatArray
    _thermal_pending_s: float  # simulated time not yet integrated by the thermal model

    # --- parameters from the specs
    battery_wh: FloatArray
    solar_w: FloatArray
    base_load_w: FloatArray
    payload_w: FloatArray
    transmitter_w: FloatArray
    heater_w: FloatArray
    storage_cap_mb: FloatArray
    downlink_mbps: FloatArray
    payload_data_mbps: FloatArray
    absorptivity: FloatArray
    emissivity: FloatArray
    area_face_m2: FloatArray
    area_total_m2: FloatArray
    c_structure: FloatArray  # heat capacities, J/K
    c_battery: FloatArray
    c_payload: FloatArray
    g_battery: FloatArray  # conductances to the structure, W/K
    g_payload: FloatArray
    _eps_sigma_area: FloatArray  # W/K⁴
    seed_keys: UIntArray
    mean_motion_rad_s: FloatArray
    epoch_ns: IntArray

    # --- orbit and environment (refreshed every sub-step)
    r: FloatArray  # TEME position (N,3), km
    v: FloatArray  # TEME velocity (N,3), km/s
    last_r: FloatArray  # last valid state: a decayed satellite freezes there
    last_v: FloatArray
    r_ecef: FloatArray  # Earth-fixed position (3,N), km
    v_ecef: FloatArray  # Earth-relative velocity (3,N), km/s
    r_norm: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    alt_km: FloatArray
    illum: FloatArray  # visible fraction of the solar disc, 0..1
    sunlit: BoolArray
    cos_zenith_sun: FloatArray
    beta_deg: FloatArray
    _sun: FloatArray  # Sun position (3,), km

    # --- ground stations and link
    stations: list[Station]
    station_names: list[str]  # plus "" for "no station", so index -1 reads as none
    station_ecef: FloatArray  # (M,3)
    station_enu: FloatArray  # (M,3,3)
    station_mask: FloatArray  # (M,) minimum elevation, deg
    _masked_stations: list[int]  # stations with a terrain horizon mask
    _enu_rows: FloatArray
    _enu_offsets_km: FloatArray
    _station_mask_deg: FloatArray  # (M,N)
    _station_columns: FloatArray  # (3,M)
    _columns: IntArray
    _no_station: IntArray
    best_station: IntArray  # highest above its usable sky; -1 without stations
    elevation: FloatArray
    azimuth: FloatArray
    range_km: FloatArray
    range_rate: FloatArray  # km/s
    in_view: BoolArray  # above the best station's usable sky
    in_contact: BoolArray  # in view with a working radio
    rssi_dbm: FloatArray
    downlink_rate: FloatArray  # Mbit/s
    payload_rate: FloatArray  # Mbit/s
    storage_mb: FloatArray
    images: IntArray
    downlink_until_ns: IntArray
    onboard_images: list[list[OnboardImage]]  # captured, not yet downlinked
    downlinked: list[list[DownlinkedImage]]  # downlinked, not yet taken by the runtime

    # --- faults
    ageing_start_ns: IntArray
    ageing_rate_per_day: FloatArray
    stuck_start_ns: IntArray
    stuck_axis: IntArray
    stuck_rpm: FloatArray
    stuck_engaged: BoolArray
    heater_fail_start_ns: IntArray  # (N,2): battery, payload
    radio_start_ns: IntArray
    radio_end_ns: IntArray
    fade: FloatArray  # battery capacity lost, 0..0.8
    radio_ok: BoolArray
    heater_failed: BoolArray  # (N,2)
    _first_fault_ns: int

    # --- modes, ADCS
    mode: IntArray  # SAFE, NOMINAL, PAYLOAD, DOWNLINK
    attitude_cmd: IntArray  # SUN, NADIR, TARGET as commanded
    attitude_eff: IntArray  # as flown (SAFE forces SUN)
    target_lat_deg: FloatArray
    target_lon_deg: FloatArray
    payload_on: BoolArray
    pointing_error_deg: FloatArray
    wheel_rpm: FloatArray  # (N,3)
    wheel_desat: BoolArray  # (N,3)
    wheel_fault_acked: BoolArray
    _safe: BoolArray
    _any_safe: bool | np.bool_
    _fine: BoolArray  # fine pointing (not sun-pointing)
    _wheel_drift: FloatArray
    _wheel_drift_gain: FloatArray
    _wheel_drift_bias: FloatArray

    # --- power
    energy_wh: FloatArray
    capacity_wh: FloatArray
    solar_avail_w: FloatArray
    solar_power_w: FloatArray
    heater_power_w: FloatArray
    tx_w: FloatArray
    payload_power_w: FloatArray
    bus_dissipation_w: FloatArray
    load_w: FloatArray
    battery_power_w: FloatArray  # > 0 charging
    _battery_r_ohm: FloatArray  # at 20 °C
    _battery_r_factor: FloatArray  # its temperature dependence
    _battery_cold: BoolArray

    # --- thermal
    temp_k: FloatArray  # (N,3): structure, battery, payload
    heater_control: IntArray  # (N,2): OFF, ON, AUTO
    heater_setpoint_c: FloatArray  # (N,2)
    heater_active: BoolArray  # (N,2) thermostat state (commanded on)

    # --- on-board computer
    boot_ns: IntArray
    boot_count: IntArray
    commands_executed: IntArray
    fdir_latched: BoolArray
    fdir_reason: list[str]

    # --- outputs (sensor readings with noise) and their work buffers
    _noise_hash: UIntArray
    _noise_scratch: UIntArray
    _noise_words: UIntArray
    _noise_out: FloatArray
    _noise_scale: FloatArray
    _reading_min: FloatArray
    _reading_max: FloatArray
    _readings: FloatArray
    out_solar: FloatArray
    out_load: FloatArray
    out_voltage: FloatArray
    out_current: FloatArray
    out_temps: FloatArray  # (3,N)
    out_pointing: FloatArray
    out_wheels: tuple[FloatArray, FloatArray, FloatArray]
    out_rssi: FloatArray
    out_cpu: FloatArray
