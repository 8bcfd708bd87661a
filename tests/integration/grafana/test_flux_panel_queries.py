"""Every Flux query of the overview and satellite dashboards, run against the dev stack's InfluxDB.

There is no Grafana here (DESIGN §8), so each query is proven the way Grafana would send it: as
`panel_queries` lists it from the dashboard's JSON model (panel targets, rows' panels, the
template variable), after `substitute` did what Grafana does (the dashboard's default time range,
the interval Grafana would compute, `satellite` = one of the satellites written). InfluxDB must
accept it and answer with rows that have the columns the panel draws from.

The data is what the real pipeline writes (see fleet_data.py): three simulated satellites flying
for three hours, their command audit trail and their predicted passes, in a fresh bucket.

The parameters come from the dashboards, and every panel needs a contract below: a panel added
without one, or whose query returns nothing, fails here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fleet_data import EPOCH, EXAMPLES, Bucket, commands, fleet, passes, telemetry

from mpcs.core.names import SATELLITE_TAG, STATION_TAG
from mpcs.core.telemetry import CHANNELS_BY_SUBSYSTEM
from mpcs.dev.stack import ConnectionInfo
from mpcs.grafana import overview, satellite
from mpcs.grafana.catalog import DashboardModel
from mpcs.grafana.cli import example_context
from mpcs.grafana.context import MissionContext
from mpcs.grafana.queries import PanelQuery, panel_queries, query_interval_s, substitute
from mpcs.kit.influx import parse_annotated_csv

pytestmark = pytest.mark.integration

_EXAMPLE = example_context(EXAMPLES)
#: A namespace of its own per run, so the bucket (`<namespace>.<mission>`) is fresh.
CONTEXT = MissionContext(
    namespace=f"t-flux-{uuid.uuid4().hex[:8]}",
    mission="wildfire",
    stations=_EXAMPLE.stations,
    alerts=_EXAMPLE.alerts,
)
SATELLITES = fleet(3)
NAMES = {config.name for config in SATELLITES}
SELECTED = SATELLITES[1].name
FLOWN = timedelta(hours=3)
STEP_S = 10.0
#: "now" for the dashboards: the end of the simulated flight.
NOW = EPOCH + FLOWN
DASHBOARDS: dict[str, Callable[[MissionContext], DashboardModel]] = {
    "overview": overview.build,
    "satellite": satellite.build,
}


def _relative(text: str) -> timedelta:
    """`now-6h` / `now+3h` / `now` as an offset from now."""
    if text == "now":
        return timedelta(0)
    sign = -1 if text[3] == "-" else 1
    value, unit = int(text[4:-1]), text[-1]
    return sign * timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: value})


@dataclass(frozen=True)
class Case:
    """One query as Grafana would run it."""

    query: PanelQuery
    panel: dict[str, Any]
    start: datetime
    stop: datetime
    interval_s: float

    def text(self) -> str:
        return substitute(
            self.query.text,
            {"satellite": SELECTED},
            start=self.start,
            stop=self.stop,
            interval_s=self.interval_s,
        )


def _panels(model: DashboardModel) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _cases() -> list[Case]:
    cases = []
    for slug, build in DASHBOARDS.items():
        model = build(CONTEXT)
        start = NOW + _relative(model["time"]["from"])
        stop = NOW + _relative(model["time"]["to"])
        by_title = {panel.get("title"): panel for panel in _panels(model)}
        for query in panel_queries(model):
            panel = by_title.get(query.panel, {})
            begin = start
            if "timeFrom" in panel:  # the panel's own "last X" replaces the dashboard's range
                begin, end = NOW + _relative(f"now-{panel['timeFrom']}"), NOW
            else:
                end = stop
            interval = query_interval_s(
                (end - begin).total_seconds(),
                max_data_points=int(panel.get("maxDataPoints", 1000)),
            )
            cases.append(Case(query, panel, begin, end, interval))
            assert query.datasource_type == "influxdb", (slug, query.panel)
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def bucket(influx: ConnectionInfo) -> Iterator[Bucket]:
    mission = Bucket(
        url=influx.influx_url, org=influx.influx_org, token=influx.influx_token, name=CONTEXT.bucket
    ).create()
    start = EPOCH
    for lines in telemetry(
        SATELLITES, start=start, duration_s=FLOWN.total_seconds(), step_s=STEP_S
    ):
        mission.write(lines)
    mission.write("\n".join(commands(sorted(NAMES), start=start, duration_s=FLOWN.total_seconds())))
    # Passes are predicted ahead: the overview's range reaches 3 h past "now".
    mission.write(
        "\n".join(passes(SATELLITES, start=start, duration_s=(FLOWN * 2).total_seconds()))
    )
    yield mission
    mission.close()


def _rows(bucket: Bucket, case: Case) -> list[dict[str, Any]]:
    return parse_annotated_csv(bucket.query(case.text()))


def _columns(rows: list[dict[str, Any]]) -> set[str]:
    return set().union(*(row.keys() for row in rows)) if rows else set()


def _fields_asked(text: str) -> set[str]:
    return set(re.findall(r'r\._field == "(\w+)"', text))


# ------------------------------------------------------------------------------------------------
# Contracts: what each panel draws from. A check raises AssertionError with what it misses.


def _per_field(rows: list[dict[str, Any]], case: Case) -> None:
    """One table per field, every field the panel asks for present (every channel has data)."""
    assert {"_time", "_value", "_field"} <= _columns(rows)
    assert {row["_field"] for row in rows} == _fields_asked(case.query.text)


def _per_satellite(rows: list[dict[str, Any]], case: Case) -> None:
    assert {"_time", "_value", SATELLITE_TAG} <= _columns(rows)
    assert {row[SATELLITE_TAG] for row in rows} == NAMES


def _positions(rows: list[dict[str, Any]], case: Case) -> None:
    assert {"_time", SATELLITE_TAG, "latitude", "longitude"} <= _columns(rows)
    for row in rows:
        assert -90 <= row["latitude"] <= 90
        assert -180 <= row["longitude"] <= 180
    satellites = [row[SATELLITE_TAG] for row in rows]
    if case.query.ref_id == "POSITIONS":
        assert sorted(satellites) == sorted(NAMES)  # one current position each
    else:
        assert set(satellites) == NAMES
        assert len(rows) > 10 * len(NAMES)  # a track, not a point


def _stations(rows: list[dict[str, Any]], case: Case) -> None:
    assert {row[STATION_TAG]: (row["latitude"], row["longitude"]) for row in rows} == {
        mark.name: (mark.latitude_deg, mark.longitude_deg) for mark in CONTEXT.stations
    }
    assert all(isinstance(row["min_elevation_deg"], float) for row in rows)


def _fleet(rows: list[dict[str, Any]], case: Case) -> None:
    assert _columns(rows) == set(overview.FLEET_COLUMNS)
    assert sorted(row[SATELLITE_TAG] for row in rows) == sorted(NAMES)
    last = NOW.strftime("%Y-%m-%dT%H:%M:%S")  # the engine's last step ends the flight
    for row in rows:
        assert row["mode"] in ("SAFE", "NOMINAL", "PAYLOAD", "DOWNLINK")
        assert 0 <= row["battery_soc_pct"] <= 100
        assert 0 <= row["storage_used_pct"] <= 100
        assert isinstance(row["fdir_latched"], bool)
        assert str(row["last_telemetry"]).startswith(last), row  # the latest sample


def _contacts(rows: list[dict[str, Any]], case: Case) -> None:
    assert {"_time", "_value", SATELLITE_TAG, STATION_TAG} <= _columns(rows)
    assert {row["_value"] for row in rows} == {0, 1}
    assert {row[STATION_TAG] for row in rows} == {mark.name for mark in CONTEXT.stations}


def _command_rate(rows: list[dict[str, Any]], case: Case) -> None:
    assert {"_time", "_value", "state"} <= _columns(rows)
    assert {row["state"] for row in rows} == {"sent", "accepted", "executed", "failed", "rejected"}


def _command_outcomes(rows: list[dict[str, Any]], case: Case) -> None:
    assert _columns(rows) == {"state", "_value"}
    counts = {row["state"]: row["_value"] for row in rows}
    flown = int(FLOWN.total_seconds() // 600) * len(NAMES)  # one command per 10 min each
    assert counts["sent"] == flown
    assert counts["executed"] + counts["failed"] + counts["rejected"] == flown


def _command_history(rows: list[dict[str, Any]], case: Case) -> None:
    assert {"_time", "command", "state", "outcome", "who", "args", "id"} <= _columns(rows)
    assert {row["outcome"] for row in rows} == {row["state"] for row in rows}
    assert "reason" in _columns(rows)  # failed commands carry one
    times = [row["_time"] for row in rows]
    assert times == sorted(times, reverse=True)
    # the selected satellite's commands only: ids encode the satellite's index (fleet_data)
    index = sorted(NAMES).index(SELECTED)
    assert {int(row["id"].replace("-", ""), 16) >> 32 for row in rows} == {index}


def _variable(rows: list[dict[str, Any]], case: Case) -> None:
    assert {row["_value"] for row in rows} == NAMES


#: Contracts by panel title; the satellite dashboard's subsystem panels are recognised by title.
CONTRACTS: dict[str, Callable[[list[dict[str, Any]], Case], None]] = {
    "Fleet map": lambda rows, case: (
        _stations(rows, case) if case.query.ref_id == "STATIONS" else _positions(rows, case)
    ),
    "Fleet status": _fleet,
    "Battery state of charge": _per_satellite,
    "Contact windows": _contacts,
    "Command rate by state": _command_rate,
    "Command outcomes": _command_outcomes,
    "Spacecraft state": _per_field,
    "Command history": _command_history,
    "variable satellite": _variable,
    **{rule.channel: _per_satellite for rule in CONTEXT.alerts},
}


def _contract(case: Case) -> Callable[[list[dict[str, Any]], Case], None] | None:
    if case.query.panel in CONTRACTS:
        return CONTRACTS[case.query.panel]
    subsystem = case.query.panel.split(":")[0]
    if case.query.dashboard.endswith("-satellite") and subsystem in CHANNELS_BY_SUBSYSTEM:
        return _per_field
    return None


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c.query.dashboard.rsplit('-', 1)[-1]}:{c.query.panel}:{c.query.ref_id}" for c in CASES],
)
def test_panel_query_answers_with_what_the_panel_draws(bucket: Bucket, case: Case) -> None:
    contract = _contract(case)
    assert contract is not None, f"no column contract for panel {case.query.panel!r}: add one"
    rows = _rows(bucket, case)
    assert rows, f"{case.query.panel} {case.query.ref_id}: no rows\n{case.text()}"
    contract(rows, case)


def test_every_panel_with_a_query_is_listed() -> None:
    """Each dashboard panel that has targets is among the cases (nothing silently skipped)."""
    for build in DASHBOARDS.values():
        model = build(CONTEXT)
        with_targets = {p["title"] for p in _panels(model) if p.get("targets")}
        listed = {c.query.panel for c in CASES if c.query.dashboard == model["uid"]}
        assert with_targets <= listed


def test_satellite_panels_read_only_the_selected_satellite(bucket: Bucket) -> None:
    """The variable filters: the same query for another satellite answers other values."""
    case = next(c for c in CASES if c.query.panel == "power: battery_soc_pct")
    other = SATELLITES[0].name
    mine = _rows(bucket, case)
    theirs = parse_annotated_csv(
        bucket.query(
            substitute(
                case.query.text,
                {"satellite": other},
                start=case.start,
                stop=case.stop,
                interval_s=case.interval_s,
            )
        )
    )
    assert len(mine) == len(theirs) > 0
    assert [row["_value"] for row in mine] != [row["_value"] for row in theirs]
