"""Passes over a terrain horizon mask, against Skyfield with the same mask.

The usable sky at an azimuth is max(mask(azimuth), minimum elevation); a pass is the time spent
above it. Skyfield has no notion of a mask, so the reference (`utils.orbit.skyfield_windows`)
samples Skyfield's altitude and azimuth every second through each pass and bisects every
crossing of altitude − usable elevation itself, with a mask interpolation written independently
of `mpcs.orbit`. Target: AOS/LOS within 5 s (they agree to a few hundredths of a second).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from utils.orbit import (
    CBERS2,
    ISS,
    TOULOUSE,
    leo_tles,
    reference_min_elevation,
    skyfield_windows,
)

from mpcs.orbit.passes import Pass, Station, _Geometry, predict_passes
from mpcs.orbit.timeutil import NS_PER_S, parse_time
from mpcs.orbit.tle import parse_tle

PASS_TIME_TOLERANCE_S = 5.0
MAX_ELEVATION_TOLERANCE_DEG = 0.1

#: A 40° wall to the north-east and east with a notch from 60° to 70° azimuth down to the floor.
WALL_WITH_GAP = ((15, 0), (20, 40), (55, 40), (60, 0), (70, 0), (75, 40), (120, 40), (125, 0))
#: A 30° block around north, from 340° through 0° to 20° azimuth: the ring wraps through 0°/360°.
AROUND_NORTH = ((330, 0), (340, 30), (20, 30), (30, 0))
SVALBARD = Station(
    latitude_deg=78.23, longitude_deg=15.39, altitude_m=500.0, min_elevation_deg=5.0, name="sg"
)

ISS_START = "2008-09-20T12:00:00Z"
CBERS2_START = "2006-06-26T18:00:00Z"


def _masked(station: Station, mask: tuple[tuple[float, float], ...]) -> Station:
    return replace(station, horizon_mask=mask)


def _comparable(passes: list[Pass], span: tuple[float, float]) -> list[Pass]:
    """Our windows inside the reference's complete passes (it reports none in progress)."""
    first, last = span
    return [
        p for p in passes if first - 1 <= p.aos_ns / NS_PER_S and p.los_ns / NS_PER_S <= last + 1
    ]


@pytest.mark.parametrize(
    ("text", "station", "start", "splits"),
    [
        pytest.param(ISS, _masked(TOULOUSE, WALL_WITH_GAP), ISS_START, 1, id="wall-with-gap"),
        pytest.param(ISS, _masked(TOULOUSE, AROUND_NORTH), ISS_START, 2, id="wrap-iss"),
        pytest.param(CBERS2, _masked(SVALBARD, AROUND_NORTH), CBERS2_START, 0, id="wrap-polar"),
    ],
)
def test_masked_passes_match_skyfield(text: str, station: Station, start: str, splits: int) -> None:
    start_ns, duration_s = parse_time(start), 86_400.0
    tle = parse_tle(text)
    ours = predict_passes(tle, station, start_ns, duration_s)
    reference, span = skyfield_windows(text, station, start_ns, duration_s)
    comparable = _comparable(ours, span)
    assert len(comparable) == len(reference) > 0
    for p, ref in zip(comparable, reference, strict=True):
        assert abs(p.aos_ns / NS_PER_S - ref.aos) < PASS_TIME_TOLERANCE_S
        assert abs(p.los_ns / NS_PER_S - ref.los) < PASS_TIME_TOLERANCE_S
        assert abs(p.max_elevation_deg - ref.max_elevation_deg) < MAX_ELEVATION_TOLERANCE_DEG
        assert p.aos_ns <= p.tca_ns <= p.los_ns
        assert not p.clipped
    # The mask matters: it cuts `splits` passes in two and shortens the time in view.
    open_sky = predict_passes(tle, replace(station, horizon_mask=()), start_ns, duration_s)
    assert len(ours) == len(open_sky) + splits
    assert sum(p.duration_s for p in ours) < sum(p.duration_s for p in open_sky) - 60


def test_a_wall_ends_the_window_where_it_rises() -> None:
    """At AOS and LOS of a masked window the satellite sits on the usable sky at its azimuth."""
    station = _masked(TOULOUSE, WALL_WITH_GAP)
    tle = parse_tle(ISS)
    passes = predict_passes(tle, station, parse_time(ISS_START), 86_400)
    cut_by_wall = 0
    for p in passes:
        for t in (p.aos_ns, p.los_ns):
            el, az = _look(tle, station, t)
            usable = reference_min_elevation(station.horizon_mask, station.min_elevation_deg, az)
            assert el == pytest.approx(usable, abs=0.01)
            cut_by_wall += usable > station.min_elevation_deg + 1
    assert cut_by_wall >= 2


def _look(tle: object, station: Station, t_ns: int) -> tuple[float, float]:
    el, az = _Geometry(tle, station).look(np.array([t_ns]))  # type: ignore[arg-type]
    return float(el[0]), float(az[0])


@st.composite
def masks(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    """Random rings of 1 to 8 points, some of them narrow spikes."""
    azimuths = draw(st.lists(st.integers(0, 359), min_size=1, max_size=8, unique=True))
    return tuple((float(az), float(draw(st.integers(0, 60)))) for az in azimuths)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=leo_tles(), mask=masks())
def test_random_masks_windows_are_exactly_where_the_sky_is_usable(
    text: str, mask: tuple[tuple[float, float], ...]
) -> None:
    """Sampled every 2 s, the satellite is above the usable sky exactly inside the windows."""
    tle = parse_tle(text)
    station = _masked(TOULOUSE, mask)
    start = tle.epoch_ns
    windows = predict_passes(tle, station, start, 12 * 3600)
    times = np.arange(start, start + 12 * 3600 * NS_PER_S, 2 * NS_PER_S)
    el, az = _Geometry(tle, station).look(times)
    usable = np.array([reference_min_elevation(mask, 5.0, a) for a in az])
    above = el >= usable
    inside = np.zeros(times.size, dtype=bool)
    for w in windows:
        assert w.aos_ns <= w.tca_ns <= w.los_ns
        inside |= (times >= w.aos_ns) & (times <= w.los_ns)
    # Within 2 ms of an edge (the windows are refined to 1 ms) either answer is right.
    edges = np.array([t for w in windows for t in (w.aos_ns, w.los_ns)], dtype=np.int64)
    if edges.size:
        near = np.min(np.abs(times[:, None] - edges[None, :]), axis=1) < 2_000_000
        above, inside = above[~near], inside[~near]
    assert np.array_equal(above, inside)


def test_a_mask_below_the_minimum_elevation_changes_nothing() -> None:
    tle = parse_tle(ISS)
    low = _masked(TOULOUSE, ((0, 2), (120, 4), (240, 0)))
    start = parse_time(ISS_START)
    masked = predict_passes(tle, low, start, 86_400)
    plain = predict_passes(tle, TOULOUSE, start, 86_400)
    assert len(masked) == len(plain) > 0
    for a, b in zip(masked, plain, strict=True):
        assert abs(a.aos_ns - b.aos_ns) <= 2_000_000  # both refined to 1 ms
        assert abs(a.los_ns - b.los_ns) <= 2_000_000
        assert a.max_elevation_deg == pytest.approx(b.max_elevation_deg, abs=1e-6)


def test_a_window_in_progress_at_the_start_is_clipped() -> None:
    tle = parse_tle(ISS)
    station = _masked(TOULOUSE, AROUND_NORTH)
    day = predict_passes(tle, station, parse_time(ISS_START), 86_400)
    window = next(p for p in day if p.duration_s > 100)
    middle = (window.aos_ns + window.los_ns) // 2
    clipped = predict_passes(tle, station, middle, 3_600)[0]
    assert clipped.clipped
    assert abs(clipped.aos_ns - middle) <= 500_000  # reported in whole milliseconds
    assert abs(clipped.los_ns - window.los_ns) <= 2_000_000


@pytest.mark.parametrize(
    ("mask", "azimuths", "expected"),
    [
        pytest.param((), [0, 180], [5, 5], id="no-mask"),
        pytest.param(((0, 10), (180, 20)), [90, 270, 360], [15, 15, 10], id="two-points"),
        pytest.param(((350, 20), (10, 0)), [0, 355, 5, 180], [10, 15, 5, 10], id="wraps-north"),
        pytest.param(((90, 30),), [0, 90, 270], [30, 30, 30], id="one-point-is-a-ring"),
        pytest.param(((360, 12), (180, 0)), [0, 90], [12, 6], id="360-is-north"),
        pytest.param(((0, 0), (100, 4)), [50], [5], id="floor-wins"),
    ],
)
def test_min_elevation_at(
    mask: tuple[tuple[float, float], ...], azimuths: list[float], expected: list[float]
) -> None:
    station = replace(TOULOUSE, horizon_mask=mask)
    assert station.min_elevation_at(azimuths).tolist() == pytest.approx(expected)
    independent = [reference_min_elevation(mask, 5.0, a) for a in azimuths]
    assert independent == pytest.approx(expected)


@pytest.mark.parametrize(
    ("mask", "fragment"),
    [
        (((10, 5), (10, 8)), "unique"),
        (((0, 5), (360, 8)), "0 and 360"),
        (((361, 5),), "361:5"),
        (((10, 90),), "10:90"),
    ],
)
def test_bad_masks_are_refused_with_the_point(
    mask: tuple[tuple[float, float], ...], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        replace(TOULOUSE, horizon_mask=mask)
