"""`mpcs.grafana.queries`: the list of a dashboard's queries and Grafana's substitution of them.

The integration tests run what `substitute` produces against InfluxDB, so a wrong macro here
would prove the wrong query; these pin the expansions to what Grafana's InfluxDB backend and
template service send.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import pytest

from mpcs.grafana import queries
from mpcs.grafana.queries import PanelQuery, panel_queries, substitute

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STOP = START + timedelta(hours=6)
INFLUX = {"type": "influxdb", "uid": "mpcs-default-wildfire-influxdb"}
PROM = {"type": "prometheus", "uid": "prometheus"}


def _sub(text: str, interval_s: float = 10.0, **variables: str) -> str:
    return substitute(text, variables, start=START, stop=STOP, interval_s=interval_s)


def test_doctests() -> None:
    result = doctest.testmod(queries)
    assert result.attempted > 0
    assert result.failed == 0


def test_flux_time_macros_become_rfc3339_literals_and_a_millisecond_window() -> None:
    text = (
        "range(start: v.timeRangeStart, stop: v.timeRangeStop)"
        " |> aggregateWindow(every: v.windowPeriod)"
    )
    assert _sub(text, interval_s=2.5) == (
        "range(start: 2026-03-01T12:00:00Z, stop: 2026-03-01T18:00:00Z)"
        " |> aggregateWindow(every: 2500ms)"
    )


def test_fractional_seconds_keep_only_significant_digits() -> None:
    start = START.replace(microsecond=250_000)
    out = substitute("v.timeRangeStart", {}, start=start, stop=STOP, interval_s=1)
    assert out == "2026-03-01T12:00:00.25Z"


def test_non_utc_times_are_written_in_utc() -> None:
    plus_two = START.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+02:00").tzinfo)
    assert substitute("v.timeRangeStart", {}, start=plus_two, stop=STOP, interval_s=1) == (
        "2026-03-01T12:00:00Z"
    )


def test_default_bucket_is_a_flux_string_only_when_given() -> None:
    text = "from(bucket: v.defaultBucket)"
    assert _sub(text) == text
    out = substitute(text, {}, start=START, stop=STOP, interval_s=1, bucket='ns."m')
    assert out == 'from(bucket: "ns.\\"m")'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$satellite", "sat.a"),
        ("${satellite}", "sat.a"),
        ("[[satellite]]", "sat.a"),
        ("${satellite:raw}", "sat.a"),
        ("${satellite:regex}", "sat\\.a"),
        ("[[satellite:regex]]", "sat\\.a"),
        ("${satellite:pipe}", "sat.a"),
        ("${satellite:csv}", "sat.a"),
        ("${satellite:json}", '["sat.a"]'),
        ("${satellite:doublequote}", '"sat.a"'),
        ("${satellite:singlequote}", "'sat.a'"),
        ("${satellite:queryparam}", "var-satellite=sat.a"),
    ],
)
def test_variable_syntaxes_and_formats(text: str, expected: str) -> None:
    assert _sub(f"<{text}>", satellite="sat.a") == f"<{expected}>"


def test_regex_format_escapes_every_special_character() -> None:
    assert _sub("${v:regex}", v="a+b(c)|d/e") == "a\\+b\\(c\\)\\|d\\/e"


def test_unknown_variable_and_unknown_format_are_named() -> None:
    with pytest.raises(ValueError, match="'station'"):
        _sub('r.station == "${station}"', satellite="a")
    with pytest.raises(ValueError, match="'percentencode'"):
        _sub("${satellite:percentencode}", satellite="a")


def test_prometheus_interval_macros() -> None:
    text = "rate(x[$__rate_interval]) / $__interval / ${__range} / $__interval_ms / $__range_s"
    # 6 h range; interval 30 s; rate interval = max(30 + 15, 4 × 15) = 60 s.
    assert _sub(text, interval_s=30) == "rate(x[60s]) / 30s / 21600s / 30000 / 21600"
    # a small interval: 4 × scrape interval wins.
    assert _sub("[$__rate_interval]", interval_s=1) == "[60s]"
    assert _sub("[$__rate_interval]", interval_s=120) == "[135s]"


def test_flux_regex_literals_are_not_taken_for_variables() -> None:
    text = 'filter(fn: (r) => r._field =~ /^(a|b)$/ and r.x == "$$")'
    assert _sub(text) == text


def test_invalid_range_and_interval_are_refused() -> None:
    with pytest.raises(ValueError, match="stop"):
        substitute("x", {}, start=STOP, stop=START, interval_s=1)
    with pytest.raises(ValueError, match="interval_s"):
        substitute("x", {}, start=START, stop=STOP, interval_s=0)


def _model() -> dict[str, object]:
    return {
        "uid": "dash",
        "panels": [
            {
                "type": "timeseries",
                "title": "A",
                "datasource": INFLUX,
                "targets": [
                    {"refId": "A", "query": "flux a"},
                    {"refId": "B", "datasource": PROM, "expr": "up"},
                    {"refId": "C", "datasource": {"type": "testdata"}, "query": "x"},
                    {"refId": "D", "query": "   "},
                ],
            },
            {
                "type": "row",
                "title": "Row",
                "panels": [
                    {
                        "type": "stat",
                        "title": "Nested",
                        "targets": [{"refId": "A", "datasource": INFLUX, "query": "flux n"}],
                    }
                ],
            },
            {"type": "text", "title": "Notes"},
        ],
        "templating": {
            "list": [
                {"type": "query", "name": "satellite", "datasource": INFLUX, "query": "flux v"},
                {
                    "type": "query",
                    "name": "station",
                    "datasource": INFLUX,
                    "query": {"query": "flux s", "refId": "S"},
                },
                {"type": "custom", "name": "c", "query": "a,b"},
            ]
        },
        "annotations": {
            "list": [
                {"name": "Eclipse", "datasource": INFLUX, "target": {"refId": "E", "query": "e"}},
                {"name": "Built-in", "datasource": {"type": "grafana", "uid": "-- Grafana --"}},
            ]
        },
    }


def test_panel_queries_lists_targets_nested_panels_variables_and_annotations() -> None:
    assert panel_queries(_model()) == [
        PanelQuery("dash", "A", "A", "influxdb", "flux a"),
        PanelQuery("dash", "A", "B", "prometheus", "up"),
        PanelQuery("dash", "Nested", "A", "influxdb", "flux n"),
        PanelQuery("dash", "variable satellite", "satellite", "influxdb", "flux v"),
        PanelQuery("dash", "variable station", "S", "influxdb", "flux s"),
        PanelQuery("dash", "annotation Eclipse", "E", "influxdb", "e"),
    ]


def test_panel_queries_of_an_empty_model() -> None:
    assert panel_queries({}) == []


@pytest.mark.parametrize(
    ("range_s", "points", "expected"),
    [
        (3600, 1000, 5),  # 3.6 s → 5 s
        (6 * 3600, 1000, 20),  # 21.6 s → 20 s
        (9 * 3600, 1000, 30),  # 32.4 s → 30 s
        (24 * 3600, 1000, 60),  # 86.4 s → 1 min
        (100 * 60, 200, 30),  # the map: 100 min over 200 points
        (7 * 86400, 1000, 600),  # 604.8 s → 10 min
        (5, 1000, 0.001),
        (1e12, 1, 31536000),
    ],
)
def test_query_interval_rounds_like_grafana(range_s: float, points: int, expected: float) -> None:
    assert queries.query_interval_s(range_s, max_data_points=points) == expected


def test_query_interval_respects_the_minimum() -> None:
    assert queries.query_interval_s(3600, min_interval_s=10) == 10
    assert queries.query_interval_s(24 * 3600, min_interval_s=10) == 60
