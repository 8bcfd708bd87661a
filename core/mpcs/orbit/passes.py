"""Ground-station geometry over time and pass prediction (AOS, TCA, LOS, maximum elevation).

Called by the operator (next pass in Satellite/GroundStation status, CommandPlan "next pass of
station X" starts), by the API's passes endpoint, by `mpcs sim passes`, and by the model for
contact windows. It must be fast for a thousand satellites, so everything is vectorised: the sky
is sampled on a coarse grid with one `sgp4_array` call, then every candidate culmination
(golden-section search) and every horizon crossing (bisection) is refined in lock-step, one array
propagation per iteration.

A pass is an interval in which the satellite is above the usable sky at its azimuth,
`Station.min_elevation_at(azimuth)`. Without a terrain mask that is a fixed elevation, and the
search runs on the elevation itself. With one, it runs on the *margin* — elevation minus the
usable elevation at the satellite's azimuth — so a wall over part of the horizon can split one
overhead pass into two windows; each window then reports its own highest elevation.

Culminations are found before crossings (as Skyfield's `find_events` does) so that a grazing pass
that rises above the mask between two grid samples is still found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt

from .frames import enu_basis, geodetic_to_ecef, gmst_rad, look_angles, teme_to_ecef
from .timeutil import NS_PER_S, datetime_from_ns, jday_array_from_ns, ns_from_datetime
from .tle import Tle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Something measured at many instants at once: elevation, or margin above the usable sky (deg).
SkyFunction = Callable[[IntArray], FloatArray]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
_REFINE_TOLERANCE_NS = 1_000_000  # 1 ms: far below the 1 s the outputs are used at
#: Sampling within a pass for the mask: the margin between mask azimuths is as smooth as the
#: elevation, and the satellite turns well under 180° of azimuth in this time.
_MASK_STEP_NS = 10 * NS_PER_S
#: A mask azimuth's crossing is pinned to this (a narrow wall is a degree or more wide) ...
_AZIMUTH_TOLERANCE_DEG = 1e-3
#: ... in at most this many steps of regula falsi.
_AZIMUTH_STEPS = 12


@dataclass(frozen=True, kw_only=True)
class Station:
    """A ground station: WGS84 position and the sky it can use.

    The usable sky at an azimuth starts at `min_elevation_at(azimuth)`: the larger of
    `min_elevation_deg` and the terrain `horizon_mask`, a ring of (azimuth_deg, elevation_deg)
    points interpolated linearly and closed through 0°/360°. No field has a default the
    GroundStation CRD also declares: `GroundStationSpec.station()` is the one place a resource
    becomes a Station, so the CRD's defaults are the only ones.
    """

    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    min_elevation_deg: float
    horizon_mask: tuple[tuple[float, float], ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"station latitude {self.latitude_deg} is not in -90..90 deg")
        if not -180.0 <= self.longitude_deg <= 360.0:
            raise ValueError(f"station longitude {self.longitude_deg} is not in -180..360 deg")
        if not -90.0 <= self.min_elevation_deg < 90.0:
            raise ValueError(f"minimum elevation {self.min_elevation_deg} is not in -90..90 deg")
        seen: dict[float, float] = {}
        for az, el in self.horizon_mask:
            if not 0.0 <= az <= 360.0 or not -90.0 <= el < 90.0:
                raise ValueError(f"horizon mask point {az}:{el} is not in 0..360 : -90..90 deg")
            if az % 360.0 in seen:
                # 0° and 360° are one direction: two elevations there would be ambiguous.
                raise ValueError(
                    f"horizon mask azimuths must be unique (0 and 360 are the same direction): "
                    f"{seen[az % 360.0]:g} and {az:g}"
                )
            seen[az % 360.0] = az

    @property
    def ecef_km(self) -> FloatArray:
        """Earth-fixed position (km)."""
        return geodetic_to_ecef(self.latitude_deg, self.longitude_deg, self.altitude_m / 1000.0)

    @property
    def enu(self) -> FloatArray:
        """Local east/north/up basis (rows)."""
        return enu_basis(self.latitude_deg, self.longitude_deg)

    def min_elevation_at(self, azimuth_deg: FloatArray | list[float] | float) -> FloatArray:
        """Lowest usable elevation (deg) at each azimuth: max(mask(azimuth), min_elevation_deg).

        >>> s = Station(latitude_deg=0, longitude_deg=0, altitude_m=0, min_elevation_deg=5,
        ...             horizon_mask=((350, 20), (10, 0)))
        >>> s.min_elevation_at([0, 90, 355]).tolist()  # 0° lies between 350° and 10°
        [10.0, 5.0, 15.0]
        """
        azimuth = np.mod(np.asarray(azimuth_deg, dtype=np.float64), 360.0)
        if not self.horizon_mask:
            return np.full(azimuth.shape, self.min_elevation_deg)
        ring_az, ring_el = self._mask_ring
        return np.maximum(np.interp(azimuth, ring_az, ring_el), self.min_elevation_deg)

    @cached_property
    def mask_azimuths(self) -> FloatArray:
        """The mask's azimuths (deg, 0..360): where the usable sky has its corners."""
        return np.unique(np.array([az % 360.0 for az, _ in self.horizon_mask], dtype=np.float64))

    @cached_property
    def _mask_ring(self) -> tuple[FloatArray, FloatArray]:
        """The mask sorted by azimuth and closed through 0°/360° (computed once per Station:
        pass searches and the engine evaluate it at every step)."""
        ring = sorted((az % 360.0, el) for az, el in self.horizon_mask)
        az = np.array([a for a, _ in ring])
        el = np.array([e for _, e in ring])
        # The last point continues to the first one, 360° further on (and the other way round).
        return (
            np.concatenate(([az[-1] - 360.0], az, [az[0] + 360.0])),
            np.concatenate(([el[-1]], el, [el[0]])),
        )


@dataclass(frozen=True)
class Pass:
    """One pass: acquisition of signal, closest approach (max elevation), loss of signal.

    `aos`/`los` are clipped to the prediction window when the pass is already in progress at its
    start or still in progress at its end (`clipped` is then True).
    """

    aos: datetime
    tca: datetime
    los: datetime
    max_elevation_deg: float
    aos_ns: int
    tca_ns: int
    los_ns: int
    clipped: bool = False

    @property
    def duration_s(self) -> float:
        """Time above the elevation mask (s)."""
        return (self.los_ns - self.aos_ns) / NS_PER_S


class _Geometry:
    """Where one satellite is in one station's sky at arbitrary instants (vectorised)."""

    def __init__(self, tle: Tle, station: Station) -> None:
        self.satrec = tle.satrec
        self.station = station
        self.station_ecef = station.ecef_km
        self.station_enu = station.enu

    def look(self, times_ns: IntArray) -> tuple[FloatArray, FloatArray]:
        """Elevation and azimuth (deg)."""
        jd, fr = jday_array_from_ns(times_ns)
        err, r, v = self.satrec.sgp4_array(jd, fr)
        r_ecef, v_ecef = teme_to_ecef(r, v, gmst_rad(jd, fr))
        el, az, _, _ = look_angles(r_ecef, v_ecef, self.station_ecef, self.station_enu)
        # A decayed satellite (SGP4 error) is never above any horizon.
        return np.where(err == 0, el, -90.0), az

    def elevation(self, times_ns: IntArray) -> FloatArray:
        """Elevation (deg)."""
        return self.look(times_ns)[0]

    def margin(self, times_ns: IntArray) -> FloatArray:
        """Elevation above the usable sky at the satellite's azimuth (deg): >= 0 is in view."""
        el, az = self.look(times_ns)
        return el - self.station.min_elevation_at(az)


def default_step_s(tle: Tle) -> float:
    """Grid step: 60 s, or a sixtieth of the period for short periods; culminations never merge."""
    period_s = 86_400.0 / tle.mean_motion_rev_day
    return float(min(60.0, max(5.0, period_s / 60.0)))


def predict_passes(
    tle: Tle,
    station: Station,
    start: datetime | int,
    duration_s: float,
    *,
    step_s: float | None = None,
) -> list[Pass]:
    """Passes of `tle` over `station` in [start, start + duration_s].

    A pass is an interval in which the elevation is at least `station.min_elevation_at(azimuth)`
    (the minimum elevation, raised by the horizon mask where it is higher); its TCA and maximum
    elevation are the highest point within that interval. `start` is an aware datetime or UTC
    nanoseconds. Times are good to well under a second (refined to 1 ms of the model); the model
    itself agrees with Skyfield to about a second.
    """
    if duration_s <= 0:
        return []
    start_ns = start if isinstance(start, int) else ns_from_datetime(start)
    end_ns = start_ns + int(duration_s * NS_PER_S)
    step_ns = int((step_s or default_step_s(tle)) * NS_PER_S)
    geometry = _Geometry(tle, station)
    grid = np.arange(start_ns, end_ns, step_ns, dtype=np.int64)
    grid = np.append(grid, np.int64(end_ns)) if grid[-1] != end_ns else grid
    # Above the minimum elevation: the passes themselves without a mask, and where to look for
    # windows with one (a mask only ever raises the usable sky).
    found = _windows(
        geometry.elevation,
        grid,
        geometry.elevation(grid),
        threshold=station.min_elevation_deg,
        start_ns=start_ns,
        end_ns=end_ns,
    )
    passes = _merge(_passes(*found)) if found else []
    if station.horizon_mask and passes:
        return _windows_above_mask(geometry, passes, start_ns=start_ns, end_ns=end_ns)
    return passes


def _windows(
    sky: SkyFunction,
    grid: IntArray,
    values: FloatArray,
    *,
    threshold: float,
    start_ns: int,
    end_ns: int,
    cornered: bool = False,
) -> tuple[IntArray, IntArray, IntArray, FloatArray, npt.NDArray[np.bool_]] | None:
    """Where `sky` >= `threshold`, from its `values` on the sorted `grid`: AOS, peak, LOS, the
    peak value and whether the window is clipped to [start_ns, end_ns]; None if there is none.

    Peaks are refined first (golden-section), then each rise and set is bisected between the
    peak and the nearest grid sample under the threshold. `cornered`: `sky` has corners (a
    mask's vertices), so the peak sample itself stays a candidate and peaks sharing one stretch
    above the threshold are refined once.
    """
    peaks = _peak_brackets(values)
    if peaks.size == 0:
        return None
    lo = grid[np.maximum(peaks - 1, 0)]
    hi = grid[np.minimum(peaks + 1, grid.size - 1)]
    if cornered:
        # A peak sample at or above the threshold already proves its window (and brackets its
        # crossings); only a peak sample below it may hide a grazing window between samples.
        tca, best = grid[peaks], values[peaks]
        low = best < threshold
        if np.any(low):
            tca[low], best[low] = _golden_max(sky, lo[low], hi[low], also=tca[low])
    else:
        tca, best = _golden_max(sky, lo, hi)
    keep = best >= threshold
    tca, best = tca[keep], best[keep]
    if tca.size == 0:
        return None
    below = values < threshold
    # Bracket each crossing from the refined peak, not the peak sample: in a grazing pass the
    # peak sample itself may be under the mask, on either side of the true culmination.
    split = np.searchsorted(grid, tca, side="right")
    rise_lo, rise_clipped = _last_below_before(below, split, grid)
    set_hi, set_clipped = _first_below_after(below, split, grid)
    if cornered:
        # Peaks that share one stretch above the threshold are one window: refine it once, and
        # its rise and set together (one propagation per step for both).
        _, first = np.unique(np.stack((rise_lo, set_hi)), axis=1, return_index=True)
        tca, best, rise_lo, set_hi = tca[first], best[first], rise_lo[first], set_hi[first]
        rise_clipped, set_clipped = rise_clipped[first], set_clipped[first]
        both = _crossing(
            sky,
            below_ns=np.concatenate((rise_lo, set_hi)),
            above_ns=np.concatenate((tca, tca)),
            threshold=threshold,
        )
        aos, los = both[: tca.size], both[tca.size :]
    else:
        aos = _crossing(sky, below_ns=rise_lo, above_ns=tca, threshold=threshold)
        los = _crossing(sky, below_ns=set_hi, above_ns=tca, threshold=threshold)
    aos = np.where(rise_clipped, start_ns, aos)
    los = np.where(set_clipped, end_ns, los)
    return aos, tca, los, best, rise_clipped | set_clipped


def _passes(
    aos: IntArray,
    tca: IntArray,
    los: IntArray,
    best: FloatArray,
    clipped: npt.NDArray[np.bool_],
) -> list[Pass]:
    return [
        _make_pass(
            aos_ns=int(aos[i]),
            tca_ns=int(tca[i]),
            los_ns=int(los[i]),
            max_elevation_deg=float(best[i]),
            clipped=bool(clipped[i]),
        )
        for i in range(tca.size)
    ]


def _windows_above_mask(
    geometry: _Geometry, passes: list[Pass], *, start_ns: int, end_ns: int
) -> list[Pass]:
    """The windows within `passes` (above the minimum elevation) that clear the horizon mask.

    Each pass is sampled every `_MASK_STEP_NS` from a second before AOS to a second after LOS
    (where the margin is negative), plus its culmination and every instant the satellite's
    azimuth crosses an azimuth of the mask: between those instants the margin is as smooth as
    the elevation, and at them it reaches the bottom of any notch a narrow wall cuts, however
    briefly the satellite is behind it.
    """
    chunks, owner = [], []
    for k, p in enumerate(passes):
        first = max(start_ns, p.aos_ns - NS_PER_S)
        last = min(end_ns, p.los_ns + NS_PER_S)
        times = np.arange(first, last, _MASK_STEP_NS, dtype=np.int64)
        chunks.append(np.unique(np.concatenate((times, [p.tca_ns, last]))))
        owner.append(np.full(chunks[-1].size, k))
    times = np.concatenate(chunks)
    elevation, azimuth = geometry.look(times)
    vertices = geometry.station.mask_azimuths
    extra = _azimuth_crossings(geometry, times, azimuth, np.concatenate(owner), vertices)
    if extra.size:
        times = np.concatenate((times, extra))
        order = np.argsort(times, kind="stable")
        times = times[order]
        extra_el, extra_az = geometry.look(extra)
        elevation = np.concatenate((elevation, extra_el))[order]
        azimuth = np.concatenate((azimuth, extra_az))[order]
    margin = elevation - geometry.station.min_elevation_at(azimuth)
    found = _windows(
        geometry.margin,
        times,
        margin,
        threshold=0.0,
        start_ns=start_ns,
        end_ns=end_ns,
        cornered=True,
    )
    if found is None:
        return []
    aos, _, los, _, clipped = found
    # The highest point of each window: the culmination if the window holds it, else the end
    # nearer to it (the elevation rises to the culmination and falls after it).
    culminations = np.array([p.tca_ns for p in passes], dtype=np.int64)
    pass_of = np.searchsorted(np.array([p.los_ns for p in passes]), aos, side="left")
    culmination = culminations[np.minimum(pass_of, culminations.size - 1)]
    tca = np.clip(culmination, aos, los)
    return _merge(_passes(aos, tca, los, geometry.elevation(tca), clipped))


def _azimuth_crossings(
    geometry: _Geometry,
    times: IntArray,
    azimuth: FloatArray,
    owner: IntArray,
    vertices: FloatArray,
) -> IntArray:
    """Instants (to 1 ms) at which the azimuth passes one of `vertices` between two samples of
    the same pass (`owner`); samples are close enough that the azimuth turns < 180° between."""
    sweep = ((np.diff(azimuth) + 180.0) % 360.0 - 180.0)[:, None]  # signed, per interval
    ahead = (vertices[None, :] - azimuth[:-1, None]) % 360.0  # how far on each vertex lies
    same_pass = (owner[1:] == owner[:-1])[:, None]
    hit = same_pass & (ahead > 0.0) & (((sweep > 0) & (ahead <= sweep)) | (ahead - 360.0 >= sweep))
    rows, cols = np.nonzero(hit)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi, vertex = times[rows].copy(), times[rows + 1].copy(), vertices[cols]
    d_lo, d_hi = _past(azimuth[rows], vertex), _past(azimuth[rows + 1], vertex)
    # Regula falsi (Illinois): the azimuth is smooth between samples, so a few steps pin each
    # crossing to a small fraction of a degree, where bisection would take two dozen.
    t = hi
    for _ in range(_AZIMUTH_STEPS):
        t = lo + np.round((hi - lo) * (d_lo / (d_lo - d_hi))).astype(np.int64)
        d = _past(geometry.look(t)[1], vertex)
        if np.max(np.abs(d)) < _AZIMUTH_TOLERANCE_DEG:
            break
        right = np.sign(d) == np.sign(d_hi)
        d_lo = np.where(right, d_lo * 0.5, d)  # halve the stale end's weight (Illinois)
        lo = np.where(right, lo, t)
        d_hi = np.where(right, d, d_hi * 0.5)
        hi = np.where(right, t, hi)
    return np.asarray(t, dtype=np.int64)


def _past(azimuth: FloatArray, vertex: FloatArray) -> FloatArray:
    """How far (deg) each azimuth lies clockwise of its vertex, in -180..180."""
    return np.asarray((azimuth - vertex + 180.0) % 360.0 - 180.0)


def _make_pass(
    *, aos_ns: int, tca_ns: int, los_ns: int, max_elevation_deg: float, clipped: bool
) -> Pass:
    # Refined to 1 ms; report whole milliseconds rather than digits that mean nothing.
    aos_ns, tca_ns, los_ns = (round(t, -6) for t in (aos_ns, tca_ns, los_ns))
    return Pass(
        aos=datetime_from_ns(aos_ns),
        tca=datetime_from_ns(tca_ns),
        los=datetime_from_ns(los_ns),
        max_elevation_deg=max_elevation_deg,
        aos_ns=aos_ns,
        tca_ns=tca_ns,
        los_ns=los_ns,
        clipped=clipped,
    )


def _peak_brackets(elevation: FloatArray) -> IntArray:
    """Grid indices of local maxima (plateaus count once; window ends count if they are maxima)."""
    n = elevation.size
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    left = np.concatenate(([-np.inf], elevation[:-1]))
    right = np.concatenate((elevation[1:], [-np.inf]))
    peaks = np.flatnonzero((elevation >= left) & (elevation > right))
    return peaks.astype(np.int64)


def _golden_max(
    sky: SkyFunction, lo: IntArray, hi: IntArray, *, also: IntArray | None = None
) -> tuple[IntArray, FloatArray]:
    """Lock-step golden-section search for the maximum of `sky` in each [lo, hi].

    The ends (and the instants `also`, when given) are candidates too: the maximum can sit on
    a window edge, or, for a function with corners, away from where the search converged.
    """
    a = lo.astype(np.float64)
    b = hi.astype(np.float64)
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc = sky(c.astype(np.int64))
    fd = sky(d.astype(np.int64))
    while np.max(b - a) > _REFINE_TOLERANCE_NS:
        left = fc > fd  # the maximum lies in [a, d]
        a = np.where(left, a, c)
        b = np.where(left, d, b)
        # Keep the surviving interior point and evaluate one new point per interval.
        probe = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        fp = sky(probe.astype(np.int64))
        c, d = np.where(left, probe, d), np.where(left, c, probe)
        fc, fd = np.where(left, fp, fd), np.where(left, fc, fp)
    tca = ((a + b) / 2.0).astype(np.int64)
    rows = (lo, tca, hi) if also is None else (lo, tca, hi, also)
    candidates = np.stack(rows)
    values = sky(candidates.reshape(-1)).reshape(candidates.shape)
    best = np.argmax(values, axis=0)
    cols = np.arange(lo.size)
    return candidates[best, cols], values[best, cols]


def _last_below_before(
    below: npt.NDArray[np.bool_], split: IntArray, grid: IntArray
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """For each pass, the last grid time before its TCA (grid index < split) under the mask."""
    below_idx = np.flatnonzero(below)
    pos = np.searchsorted(below_idx, split, side="left") - 1
    clipped = pos < 0
    idx = np.where(clipped, 0, below_idx[np.maximum(pos, 0)] if below_idx.size else 0)
    return grid[idx], clipped


def _first_below_after(
    below: npt.NDArray[np.bool_], split: IntArray, grid: IntArray
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """For each pass, the first grid time after its TCA (grid index >= split) under the mask."""
    below_idx = np.flatnonzero(below)
    pos = np.searchsorted(below_idx, split, side="left")
    clipped = pos >= below_idx.size
    safe = np.minimum(pos, max(below_idx.size - 1, 0))
    idx = np.where(clipped, grid.size - 1, below_idx[safe] if below_idx.size else 0)
    return grid[idx], clipped


def _crossing(
    sky: SkyFunction, *, below_ns: IntArray, above_ns: IntArray, threshold: float
) -> IntArray:
    """Lock-step bisection for the instant `sky` crosses `threshold` between the two brackets."""
    lo = below_ns.astype(np.int64).copy()
    hi = above_ns.astype(np.int64).copy()
    while np.max(np.abs(hi - lo)) > _REFINE_TOLERANCE_NS:
        mid = lo + (hi - lo) // 2
        up = sky(mid) >= threshold
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return hi


def _merge(passes: list[Pass]) -> list[Pass]:
    """Two culminations inside one above-mask interval (e.g. a high orbit's wobble) are one pass."""
    passes.sort(key=lambda p: p.aos_ns)
    merged: list[Pass] = []
    for p in passes:
        if merged and p.aos_ns <= merged[-1].los_ns:
            prev = merged[-1]
            best = p if p.max_elevation_deg > prev.max_elevation_deg else prev
            merged[-1] = _make_pass(
                aos_ns=min(prev.aos_ns, p.aos_ns),
                tca_ns=best.tca_ns,
                los_ns=max(prev.los_ns, p.los_ns),
                max_elevation_deg=best.max_elevation_deg,
                clipped=prev.clipped or p.clipped,
            )
        else:
            merged.append(p)
    return merged
