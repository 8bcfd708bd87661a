"""Predicted passes as InfluxDB points, so dashboards draw contact windows beside the telemetry.

Schema, in each mission's bucket (measurement `names.PASSES_MEASUREMENT`):

    passes,satellite=<sat>,station=<gs> visible=1i,max_elevation_deg=42.1 <AOS, whole seconds>
    passes,satellite=<sat>,station=<gs> visible=0i,max_elevation_deg=42.1 <LOS, whole seconds>

A state timeline of `visible` per (station, satellite) is the contact plan. Times are rounded to
whole seconds so that predicting the same pass again writes the same points (an overwrite, not a
second point a few microseconds away). Predictions move when a TLE or a station changes, so the
GroundStation reconcile deletes the station's future points before writing its new predictions.
"""

from __future__ import annotations

from collections.abc import Iterable

from mpcs.core.names import PASSES_MEASUREMENT, SATELLITE_TAG, STATION_TAG
from mpcs.kit.lineprotocol import escape_tag
from mpcs.orbit.passes import Pass

_NS_PER_S = 1_000_000_000


def _whole_second_ns(ns: int) -> int:
    return round(ns / _NS_PER_S) * _NS_PER_S


def pass_lines(satellite: str, station: str, passes: Iterable[Pass]) -> list[str]:
    """Two points per pass (AOS and LOS) of `satellite` over `station`.

    >>> import datetime as dt
    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> p = Pass(aos=t, tca=t, los=t, max_elevation_deg=42.06, aos_ns=1_700_000_000_400_000_000,
    ...          tca_ns=0, los_ns=1_700_000_600_600_000_000)
    >>> for line in pass_lines("sat-a", "svalbard", [p]):
    ...     print(line)
    passes,satellite=sat-a,station=svalbard visible=1i,max_elevation_deg=42.06 1700000000000000000
    passes,satellite=sat-a,station=svalbard visible=0i,max_elevation_deg=42.06 1700000601000000000
    """
    series = (
        f"{PASSES_MEASUREMENT},{SATELLITE_TAG}={escape_tag(satellite)},"
        f"{STATION_TAG}={escape_tag(station)}"
    )
    lines = []
    for p in passes:
        elevation = f"max_elevation_deg={round(p.max_elevation_deg, 2)!r}"
        lines.append(f"{series} visible=1i,{elevation} {_whole_second_ns(p.aos_ns)}")
        lines.append(f"{series} visible=0i,{elevation} {_whole_second_ns(p.los_ns)}")
    return lines


def station_predicate(station: str) -> str:
    """InfluxDB delete predicate for one station's pass points.

    >>> station_predicate("svalbard")
    '_measurement="passes" AND station="svalbard"'
    """
    # Station names are Kubernetes object names (DNS labels): nothing in them needs quoting.
    return f'_measurement="{PASSES_MEASUREMENT}" AND {STATION_TAG}="{station}"'
