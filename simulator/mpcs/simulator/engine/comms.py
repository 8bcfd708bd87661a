"""Ground stations and the link: which station sees each satellite, and the data it moves.

A satellite is in view of a station when its elevation is at least the station's usable sky at
its azimuth (`Station.min_elevation_at`: the minimum elevation, raised by a terrain horizon mask);
of all stations it talks to the one it is highest above. The link exists only in view with the
radio healthy; RSSI follows free-space path loss and sets the downlink rate that drains storage,
which the payload fills.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mpcs.orbit.frames import DEG_PER_RAD
from mpcs.orbit.passes import Station

from .constants import (
    DOWNLINK,
    DOWNLINK_FREQUENCY_HZ,
    EIRP_DBM,
    GROUND_GAIN_DBI,
    LINK_LOSSES_DB,
    NOMINAL,
    ONES3,
    PAYLOAD,
    RSSI_FLOOR_DBM,
    RSSI_FULL_RATE_DBM,
)
from .state import EngineState


class Comms(EngineState):
    """Station geometry, link and storage (a mixin of `Engine`)."""

    def _set_stations(self, stations: Sequence[Station]) -> None:
        self.stations = list(stations)
        self._masked_stations = [k for k, s in enumerate(self.stations) if s.horizon_mask]
        self._columns = np.arange(self.n)
        self._no_station = np.zeros(self.n, dtype=np.int64)
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
        rng = ONES3 @ squared.reshape(m, 3, n)  # (M,N); a rotation keeps the length
        np.sqrt(rng, out=rng)
        sin_el = enu[2::3] / rng
        np.maximum(sin_el, -1.0, out=sin_el)
        el = np.arcsin(np.minimum(sin_el, 1.0, out=sin_el), out=sin_el)
        el *= DEG_PER_RAD
        azimuth = None
        if self._masked_stations:
            # A terrain mask raises the usable sky by azimuth: where is each satellite?
            azimuth = np.arctan2(enu[0::3], enu[1::3]) * DEG_PER_RAD
            np.mod(azimuth, 360.0, out=azimuth)
            usable = self._station_mask_deg.copy()
            for k in self._masked_stations:
                usable[k] = self.stations[k].min_elevation_at(azimuth[k])
            score = el - usable
        else:
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
        if azimuth is not None:
            self.azimuth = np.take(azimuth, flat)
        else:  # only the best station's
            flat += best * (2 * n)  # into (3M,N): the best station's east row
            east, north = np.take(enu, flat), np.take(enu.reshape(-1)[n:], flat)
            self.azimuth = np.mod(np.arctan2(east, north) * DEG_PER_RAD, 360.0)
        rho = self.r_ecef - np.take(self._station_columns, best, axis=1)
        self.range_rate = (ONES3 @ (rho * self.v_ecef)) / self.range_km
        self.in_view = best_score >= 0.0  # elevation ≥ that station's usable sky there

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
