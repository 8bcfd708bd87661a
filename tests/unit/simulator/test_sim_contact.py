"""Contact honours the station's usable sky, horizon mask included: the model and pass prediction
agree on when a satellite is in view, so the link opens exactly in the windows the operator
plans with."""

from __future__ import annotations

from dataclasses import replace

import pytest
from simdata import CBERS2, ISS, TOULOUSE, satellite_spec

from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.timeutil import NS_PER_S, parse_time
from mpcs.orbit.tle import parse_tle
from mpcs.simulator import Spacecraft

#: A 40° wall to the north-east and east with a notch from 60° to 70° azimuth down to the floor.
WALL_WITH_GAP = ((15, 0), (20, 40), (55, 40), (60, 0), (70, 0), (75, 40), (120, 40), (125, 0))
#: A 30° block around north: the ring wraps through 0°/360°.
AROUND_NORTH = ((330, 0), (340, 30), (20, 30), (30, 0))
STEP_S = 10.0
#: Samples this close to AOS or LOS may fall either way (the windows are refined to 1 ms).
EDGE_S = 0.01


@pytest.mark.parametrize("mask", [WALL_WITH_GAP, AROUND_NORTH], ids=["wall-with-gap", "wrap"])
def test_contact_is_exactly_the_predicted_windows(mask: tuple[tuple[float, float], ...]) -> None:
    station = replace(TOULOUSE, horizon_mask=mask)
    start = parse_time("2008-09-20T12:00:00Z")
    craft = Spacecraft("sat-1", satellite_spec(ISS), start=start, stations=[station])
    windows = predict_passes(parse_tle(ISS), station, start, 86_400)
    open_sky = predict_passes(parse_tle(ISS), TOULOUSE, start, 86_400)
    assert len(windows) > len(open_sky)  # the mask splits passes: the case worth checking
    in_contact = 0
    end = start + 86_400 * NS_PER_S
    while craft.time_ns < end:
        t = craft.time_ns
        near = any(w.aos_ns - 300 * NS_PER_S < t < w.los_ns + 300 * NS_PER_S for w in windows)
        craft.advance(STEP_S if near else 300.0)  # fine steps around the windows only
        t = craft.time_ns
        if any(abs(t - edge) < EDGE_S * NS_PER_S for w in windows for edge in (w.aos_ns, w.los_ns)):
            continue
        expected = any(w.aos_ns <= t <= w.los_ns for w in windows)
        engine = craft.engine  # the state telemetry reports, without building a message a step
        azimuth, elevation = float(engine.azimuth[0]), float(engine.elevation[0])
        assert bool(engine.in_contact[0]) == expected, (t, azimuth, elevation)
        if expected:
            assert elevation >= station.min_elevation_at(azimuth).item()
            in_contact += 1
    assert in_contact * STEP_S == pytest.approx(sum(w.duration_s for w in windows), abs=60)


def test_the_station_highest_above_its_usable_sky_is_the_one_in_use() -> None:
    """A satellite low in one station's open sky talks to it, not to one that a wall blinds."""
    walled = Station(
        latitude_deg=78.23,
        longitude_deg=15.39,
        altitude_m=500.0,
        min_elevation_deg=5.0,
        horizon_mask=((0, 85), (359, 85)),  # a wall all round: never in view
        name="walled",
    )
    start = parse_time("2006-06-26T18:00:00Z")
    open_one = replace(walled, horizon_mask=(), name="open")
    craft = Spacecraft("polar", satellite_spec(CBERS2), start=start, stations=[walled, open_one])
    seen = set()
    for _ in range(int(6 * 3600 / 30)):
        craft.advance(30.0)
        if craft.engine.in_contact[0]:
            seen.add(craft.telemetry()["comms"]["station"])
    assert seen == {"open"}
