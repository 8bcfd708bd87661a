"""A GroundStation's horizon mask, end to end: the operator's pass status agrees with Skyfield.

The real operator (under its own ClusterRole) predicts the passes a GroundStation lists in
`status.nextPasses` and each Satellite's `status.nextPass`. The station's mask has a gap (open
sky down to `minElevationDeg` between 100° and 200° azimuth) and a segment that wraps through
north (240° → 60°, interpolated across 0°/360°). The reference is Skyfield's topocentric
altitude and azimuth, sampled every second, against the same mask interpolated here on its own:
every AOS and LOS must agree within 5 s. Six satellites in four orbital planes make passes rise
and set in both the gap and the wrapped segment whatever the time of day the test runs: with the
three example satellites alone, about one start time in 25 has no AOS or LOS in the gap; with
these six, none of 1,800 sampled start times lacks either.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from kubernetes.client import ApiClient
from skyfield.api import EarthSatellite, load, wgs84
from utils.kube import Custom, eventually, examples

from mpcs.orbit.tle import tle_checksum

pytestmark = pytest.mark.integration

#: AOS and LOS agree with Skyfield within this (both refine to far better; DUT1 is < 0.9 s).
PASS_TIME_TOLERANCE_S = 5.0
#: A pass's maximum elevation as the status rounds it (0.1°), plus the models' difference.
MAX_ELEVATION_TOLERANCE_DEG = 0.2
#: The mask must move some AOS or LOS by more than this to show it was applied at all.
MASK_EFFECT_S = 30.0

STATION = "masked"
MISSION = "masked-mission"
LATITUDE_DEG, LONGITUDE_DEG, ALTITUDE_M = 78.2297, 15.4077, 500.0
MIN_ELEVATION_DEG = 5.0
#: (azimuth, elevation) in degrees: a wall rising to the north-west that wraps through north down
#: to 6° at 60°, an opening from 100° to 200° where only minElevationDeg applies, then a climb.
MASK = [(60.0, 6.0), (100.0, 0.0), (200.0, 0.0), (240.0, 20.0)]
WRAPPED = (240.0, 60.0)  # through 0°/360°
GAP = (100.0, 200.0)

TS = load.timescale()  # built-in UT1/leap-second tables: no download
TOPOS = wgs84.latlon(LATITUDE_DEG, LONGITUDE_DEG, elevation_m=ALTITUDE_M)
FloatArray = npt.NDArray[np.float64]


def mask_deg(azimuth_deg: FloatArray) -> FloatArray:
    """The usable horizon, written here independently of the operator's code."""
    points = sorted(MASK)
    ring_az = [points[-1][0] - 360.0, *(a for a, _ in points), points[0][0] + 360.0]
    ring_el = [points[-1][1], *(e for _, e in points), points[0][1]]
    return np.maximum(np.interp(np.mod(azimuth_deg, 360.0), ring_az, ring_el), MIN_ELEVATION_DEG)


def _variant(doc: dict[str, Any], name: str, *, raan_deg: float, inclination_deg: float) -> Any:
    """An example Satellite moved to another orbital plane (line 2 rewritten, checksum too)."""
    sat = copy.deepcopy(doc)
    line2 = sat["spec"]["tle"]["line2"]
    line2 = f"{line2[:8]}{inclination_deg:8.4f} {raan_deg:8.4f}{line2[25:68]}"
    sat["spec"]["tle"]["line2"] = line2 + str(tle_checksum(line2))
    sat["metadata"] = {"name": name}
    return sat


def _satellites() -> list[dict[str, Any]]:
    docs = [copy.deepcopy(d) for d in examples() if d["kind"] == "Satellite"]
    raan = float(docs[0]["spec"]["tle"]["line2"][17:25])
    docs += [
        _variant(docs[0], "plane-2", raan_deg=(raan + 90) % 360, inclination_deg=97.4512),
        _variant(docs[1], "plane-3", raan_deg=(raan + 180) % 360, inclination_deg=85.0),
        _variant(docs[2], "plane-4", raan_deg=(raan + 270) % 360, inclination_deg=99.0),
    ]
    for doc in docs:
        doc["spec"]["missionRef"]["name"] = MISSION
        doc["spec"]["simulator"] = {"enabled": False}  # only the orbit matters here
    return docs


@dataclass(frozen=True)
class RefPass:
    """A pass per Skyfield: unix seconds (AOS None when already above the mask at the start)."""

    aos: float | None
    los: float
    aos_azimuth_deg: float | None
    los_azimuth_deg: float
    max_elevation_deg: float


@dataclass(frozen=True)
class Sky:
    """Where Skyfield puts one satellite as seen from the station, every second of a window."""

    start: float
    elevation_deg: FloatArray
    azimuth_deg: FloatArray

    @classmethod
    def of(cls, tle: dict[str, str], start: float, end: float) -> Sky:
        offsets = np.arange(0.0, end - start + 1.0)
        first = dt.datetime.fromtimestamp(start, dt.UTC)
        times = TS.utc(
            first.year,
            first.month,
            first.day,
            first.hour,
            first.minute,
            first.second + first.microsecond / 1e6 + offsets,
        )
        sat = EarthSatellite(tle["line1"], tle["line2"], "sat", TS)
        alt, az, _ = (sat - TOPOS).at(times).altaz()
        return cls(start, alt.degrees, az.degrees)

    def passes(self, limit_deg: FloatArray) -> list[RefPass]:
        """Intervals above `limit_deg` (one per sample), crossings interpolated linearly."""
        margin = self.elevation_deg - limit_deg
        above = margin >= 0

        def crossing(i: int) -> tuple[float, float]:
            frac = float(margin[i - 1] / (margin[i - 1] - margin[i]))
            turn = _daz(self.azimuth_deg, i)
            return self.start + i - 1 + frac, float(self.azimuth_deg[i - 1] + frac * turn) % 360

        found: list[RefPass] = []
        # (time, azimuth, sample) of the rise of the pass in progress; unknown if before start.
        rising: tuple[float | None, float | None, int] | None = (
            (None, None, 0) if above[0] else None
        )
        for i in (np.flatnonzero(above[1:] != above[:-1]) + 1).tolist():
            if above[i]:
                rising = (*crossing(i), i)
            elif rising is not None:
                los, los_az = crossing(i)
                found.append(
                    RefPass(
                        aos=rising[0],
                        los=los,
                        aos_azimuth_deg=rising[1],
                        los_azimuth_deg=los_az,
                        max_elevation_deg=float(self.elevation_deg[rising[2] : i].max()),
                    )
                )
                rising = None
        return found


def _daz(azimuth: FloatArray, i: int) -> float:
    """Azimuth change between two samples, the short way round (a pass may cross north)."""
    return float((azimuth[i] - azimuth[i - 1] + 180.0) % 360.0 - 180.0)


def _unix(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _match(listed: dict[str, Any], reference: list[RefPass], *, t0: float, read: float) -> RefPass:
    """The reference pass the listed one is, checked: LOS always, AOS unless it was clipped."""
    aos, los = _unix(listed["aos"]), _unix(listed["los"])
    ref = min(reference, key=lambda p: abs(p.los - los))
    assert abs(ref.los - los) <= PASS_TIME_TOLERANCE_S, (listed, ref)
    if ref.aos is not None and abs(ref.aos - aos) <= PASS_TIME_TOLERANCE_S:
        assert abs(ref.max_elevation_deg - listed["maxElevationDeg"]) <= (
            MAX_ELEVATION_TOLERANCE_DEG
        ), (listed, ref)
        return ref
    # In progress when the operator predicted it: AOS is the prediction's start, not the rise.
    assert ref.aos is None or ref.aos < aos, (listed, ref)
    assert t0 - PASS_TIME_TOLERANCE_S <= aos <= read, (listed, ref)
    return ref


@pytest.fixture
def custom(kube_client: ApiClient, namespace: str, operator: Any) -> Custom:
    return Custom(kube_client, namespace)


def test_pass_status_honours_the_horizon_mask_like_skyfield(custom: Custom) -> None:
    t0 = time.time()
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "GroundStation",
            "metadata": {"name": STATION},
            "spec": {
                "latitudeDeg": LATITUDE_DEG,
                "longitudeDeg": LONGITUDE_DEG,
                "altitudeM": ALTITUDE_M,
                "minElevationDeg": MIN_ELEVATION_DEG,
                "horizonMask": [{"azimuthDeg": a, "elevationDeg": e} for a, e in MASK],
            },
        }
    )
    custom.create(
        {
            "apiVersion": "mpcs.io/v1alpha1",
            "kind": "Mission",
            "metadata": {"name": MISSION},
            "spec": {"groundStations": [STATION], "deletionPolicy": "Delete"},
        }
    )
    satellites = _satellites()
    for sat in satellites:
        custom.create(sat)
    tles = {s["metadata"]["name"]: s["spec"]["tle"] for s in satellites}

    def next_passes() -> dict[str, dict[str, Any]] | None:
        found = {}
        for name in tles:
            status = (custom.get("satellites", name) or {}).get("status") or {}
            if not status.get("nextPass"):
                return None
            found[name] = status["nextPass"]
        return found

    next_pass = eventually(next_passes, timeout_s=120, what="every Satellite's nextPass")
    read_sat = time.time()

    def station_passes() -> list[dict[str, Any]] | None:
        status = (custom.get("groundstations", STATION) or {}).get("status") or {}
        passes: list[dict[str, Any]] = status.get("nextPasses") or []
        return passes if {p["satellite"] for p in passes} == set(tles) else None

    listed = eventually(station_passes, timeout_s=60, what="passes of every satellite listed")
    read_gs = time.time()

    events_az: list[float] = []
    moved_by_mask = 0
    for name, tle in tles.items():
        mine = sorted((p for p in listed if p["satellite"] == name), key=lambda p: p["aos"])
        assert 0 < len(mine) <= 3
        end = max(_unix(p["los"]) for p in [*mine, next_pass[name]]) + 1200
        sky = Sky.of(tle, t0 - 1200, end)
        reference = sky.passes(mask_deg(sky.azimuth_deg))
        unmasked = sky.passes(np.full(sky.azimuth_deg.shape, MIN_ELEVATION_DEG))

        matched = [_match(p, reference, t0=t0, read=read_gs) for p in mine]
        # Nothing skipped: every reference pass between the first and last listed is listed.
        between = [p for p in reference if matched[0].los <= p.los <= matched[-1].los]
        assert between == matched, (name, mine, between)

        assert next_pass[name]["station"] == STATION
        soonest = _match(next_pass[name], reference, t0=t0, read=read_sat)
        assert not [p for p in reference if read_sat + PASS_TIME_TOLERANCE_S < p.los < soonest.los]

        for p in matched:
            if p.aos is not None and p.aos_azimuth_deg is not None and p.aos > t0:
                events_az.append(p.aos_azimuth_deg)
            events_az.append(p.los_azimuth_deg)
            plain = [t for u in unmasked for t in (u.aos, u.los) if t is not None]
            for event in (p.aos, p.los):
                if event is not None and min(abs(event - t) for t in plain) > MASK_EFFECT_S:
                    moved_by_mask += 1

    assert moved_by_mask > 0, "no AOS or LOS moved: the mask was not applied"
    azimuths = np.array(events_az)
    in_wrapped = (azimuths >= WRAPPED[0]) | (azimuths <= WRAPPED[1])
    in_gap = (azimuths > GAP[0]) & (azimuths < GAP[1])
    assert in_wrapped.any(), f"no AOS/LOS in the wrapped segment; azimuths {sorted(azimuths)}"
    assert in_gap.any(), f"no AOS/LOS in the gap; azimuths {sorted(azimuths)}"
