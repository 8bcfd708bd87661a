"""TLE parsing: errors name line and column; orbit summary; property tests on random valid TLEs."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from utils.orbit import ISS, TOULOUSE, leo_tles

from mpcs.orbit.passes import predict_passes
from mpcs.orbit.tle import TleError, orbit_summary, parse_tle, tle_checksum

NAME, L1, L2 = ISS.splitlines()


def _fix(line: str) -> str:
    return line[:68] + str(tle_checksum(line))


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (f"{L1}\n{L2[:68]}8", 2, 69, "checksum is 8, the line sums to 7"),
        (f"{L1[:60]}\n{L2}", 1, 61, "has 60 characters"),
        (f"{L1} 12\n{L2}", 1, 70, "has 72 characters"),
        (f"{L2}\n{L1}", 1, 1, "line number is '2'"),
        (f"{NAME}\n{L1}\n{L2[:68]}0", 3, 69, "checksum"),
        (f"{_fix(L1[:20] + 'x' + L1[21:])}\n{L2}", 1, 21, "epoch day"),
        (f"{L1}\n{_fix(L2[:8] + '251.6416' + L2[16:])}", 2, 9, "inclination 251.6416"),
        (f"{L1}\n{_fix(L2[:26] + '-006703' + L2[33:])}", 2, 27, "eccentricity"),
        (f"{L1}\n{_fix(L2[:2] + '25545' + L2[7:])}", 2, 3, "catalogue number"),
        (f"{L1}\n{_fix(L2[:52] + ' 0.00000000' + L2[63:])}", 2, 53, "mean motion"),
        (L1, 2, 1, "expected 2 lines"),
        (f"{NAME}\n{NAME}\n{L1}\n{L2}", 4, 1, "got 4"),
        (f"{L1}\n{L2[:10]}é{L2[11:]}", 2, 11, "non-ASCII"),
        (f"{L1[:1]}x{L1[2:]}\n{L2}", 1, 2, "expected a space"),
        (f"\n\n{L1}\n{L2[:68]}1", 4, 69, "checksum"),
    ],
)
def test_malformed_tle_names_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(TleError) as caught:
        parse_tle(text)
    assert (caught.value.line, caught.value.column) == (line, column), str(caught.value)
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"TLE line {line}, column {column}: ")


def test_orbit_summary_of_iss() -> None:
    tle = parse_tle(ISS)
    summary = orbit_summary(tle)
    assert tle.name == "ISS (ZARYA)"
    assert summary.period_min == pytest.approx(1440 / 15.72125391, rel=1e-9)
    assert summary.inclination_deg == pytest.approx(51.6416)
    # a = (μ/n²)^(1/3): ~6730 km, e = 0.00067 → apogee/perigee heights ≈ 352 ± 4.5 km (WGS72 R).
    assert 345 < summary.perigee_km < summary.apogee_km < 362
    assert summary.apogee_km - summary.perigee_km == pytest.approx(2 * 0.0006703 * 6730, rel=0.01)
    assert tle.epoch.isoformat().startswith("2008-09-20T12:25:40")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=leo_tles())
def test_random_valid_tles_parse_and_summarise(text: str) -> None:
    tle = parse_tle(text)
    summary = orbit_summary(tle)
    assert summary.period_min == pytest.approx(1440 / tle.mean_motion_rev_day)
    assert 0 <= summary.inclination_deg <= 180
    assert summary.perigee_km <= summary.apogee_km
    assert tle.satrec.error == 0
    # A corrupted checksum is always caught, at column 69 of the right line.
    lines = text.splitlines()
    bad = lines[1][:68] + str((int(lines[1][68]) + 1) % 10)
    with pytest.raises(TleError) as caught:
        parse_tle(f"{lines[0]}\n{bad}")
    assert (caught.value.line, caught.value.column) == (2, 69)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=leo_tles())
def test_random_orbits_passes_are_ordered_and_above_the_mask(text: str) -> None:
    tle = parse_tle(text)
    passes = predict_passes(tle, TOULOUSE, tle.epoch_ns, 86_400)
    for p in passes:
        assert p.aos_ns <= p.tca_ns <= p.los_ns
        assert p.max_elevation_deg >= TOULOUSE.min_elevation_deg
        assert not math.isnan(p.max_elevation_deg)
    for a, b in itertools.pairwise(passes):
        assert a.los_ns < b.aos_ns
