"""What the overview and satellite dashboards promise: every catalogue channel in its unit, every
alert rule drawn where its channel is shown, one satellite per query on the detail dashboard."""

from __future__ import annotations

import doctest
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from mpcs.core.resources import AlertRule
from mpcs.core.resources.mission import ComparisonOperator
from mpcs.core.telemetry import CHANNEL_INDEX, CHANNELS, Channel
from mpcs.grafana import overview, panels, satellite
from mpcs.grafana.context import MissionContext
from mpcs.grafana.panels import (
    GRAFANA_UNITS,
    SEVERITY_COLORS,
    grafana_unit,
    threshold_steps,
)
from mpcs.grafana.queries import panel_queries


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def _queries(panel: dict[str, Any]) -> str:
    return "\n".join(str(target.get("query", "")) for target in panel.get("targets", []))


def _shows(panel: dict[str, Any], channel: Channel) -> bool:
    """The panel's Flux reads the channel's field of its measurement."""
    text = _queries(panel)
    return (
        f'r._measurement == "{channel.subsystem}"' in text
        and f'r._field == "{channel.name}"' in text
    )


def test_doctests() -> None:
    result = doctest.testmod(panels)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_catalogue_unit_has_a_grafana_unit() -> None:
    for channel in CHANNELS:
        assert grafana_unit(channel.unit), channel.key
    assert grafana_unit("km/s") == "suffix: km/s"
    assert GRAFANA_UNITS["°C"] == "celsius"
    with pytest.raises(KeyError, match="'furlong'"):
        grafana_unit("furlong")


def test_satellite_dashboard_shows_every_channel_in_its_unit(context: MissionContext) -> None:
    model = satellite.build(context)
    missing = []
    for channel in CHANNELS:
        showing = [panel for panel in _panels(model) if _shows(panel, channel)]
        if channel.type in ("float", "int"):
            units = {panel["fieldConfig"]["defaults"].get("unit") for panel in showing}
            if grafana_unit(channel.unit) not in units or showing[0]["type"] != "timeseries":
                missing.append(f"{channel.key} ({channel.unit}): {units}")
        elif not any(panel["type"] == "state-timeline" for panel in showing):
            missing.append(f"{channel.key}: no state timeline")
    assert missing == []
    state = next(p for p in _panels(model) if p["title"] == "Spacecraft state")
    assert 'r._field == "mode"' in _queries(state)


def test_numeric_panels_mix_no_units(context: MissionContext) -> None:
    """A panel has one unit, so the channels it groups must share it."""
    for panel in _panels(satellite.build(context)):
        fields = set(re.findall(r'r\._field == "(\w+)"', _queries(panel)))
        shown = [c for c in CHANNELS if c.name in fields and _shows(panel, c)]
        if panel["type"] == "timeseries":
            assert len({c.unit for c in shown}) == 1, panel["title"]


def test_satellite_dashboard_does_not_grow_with_the_fleet(context: MissionContext) -> None:
    model = satellite.build(context)
    text = json.dumps(model)
    assert '"repeat"' not in text
    (variable,) = model["templating"]["list"]
    assert variable["name"] == "satellite"
    assert variable["type"] == "query"
    assert "schema.tagValues" in variable["query"]
    assert not variable.get("options")
    assert "current" not in variable
    # Every panel reads the selected satellite only: the cost of a query is one satellite's.
    for query in panel_queries(model):
        if query.panel != "variable satellite":
            assert 'r.satellite == "${satellite}"' in query.text, query.panel


def test_overview_queries_are_fleet_wide_without_a_variable(context: MissionContext) -> None:
    model = overview.build(context)
    assert model["templating"].get("list", []) == []
    assert "${" not in json.dumps([q.text for q in panel_queries(model)])


@pytest.mark.parametrize("build", [overview.build, satellite.build], ids=["overview", "satellite"])
def test_every_alert_rule_is_drawn_on_a_panel_showing_its_channel(
    build: Any, context: MissionContext
) -> None:
    model = build(context)
    for rule in context.alerts:
        channel = CHANNEL_INDEX[rule.channel]
        drawn = [
            panel
            for panel in _panels(model)
            if _shows(panel, channel)
            and panel["type"] in ("timeseries", "state-timeline")
            and any(
                step["value"] == rule.threshold
                for step in panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
            )
        ]
        assert drawn, f"rule {rule.name} ({rule.channel} {rule.operator} {rule.threshold})"
        if drawn[0]["type"] == "timeseries":  # thresholds only show on a graph with a style
            style = drawn[0]["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
            assert style != "off", rule.name


def test_alert_channels_row_holds_exactly_the_rules_without_a_panel(
    context: MissionContext,
) -> None:
    rows = [p for p in overview.build(context)["panels"] if p.get("type") == "row"]
    channels = sorted({rule.channel for rule in context.alerts} - {overview.SOC})
    if not channels:
        assert rows == []
        return
    (row,) = rows
    assert row["title"] == "Alert channels"
    assert not row["collapsed"]
    assert sorted(panel["title"] for panel in _next_panels(overview.build(context), row)) == (
        channels
    )


def _next_panels(model: dict[str, Any], row: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels an expanded row holds: those after it at top level."""
    top = model["panels"]
    return top[top.index(row) + 1 :]


def _rule(operator: str, threshold: float, severity: str = "warning") -> AlertRule:
    return AlertRule(
        name=f"r{len(operator)}",
        channel="power.battery_soc_pct",
        operator=ComparisonOperator(operator),
        threshold=threshold,
        severity=severity,
    )


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([_rule("<", 25, "critical")], [(None, "red"), (25, "ok")]),
        ([_rule("<=", 25)], [(None, "orange"), (25, "ok")]),
        ([_rule(">", 45)], [(None, "ok"), (45, "orange")]),
        ([_rule(">=", 90, "info")], [(None, "ok"), (90, "blue")]),
        ([_rule("==", 1, "critical")], [(None, "ok"), (1, "red")]),
        # Two rules on one channel: the worse severity wins where both fire.
        (
            [_rule("<", 25, "warning"), _rule("<", 10, "critical")],
            [(None, "red"), (10, "orange"), (25, "ok")],
        ),
        # A band: too cold or too hot.
        (
            [_rule("<", -20, "warning"), _rule(">", 45, "critical")],
            [(None, "orange"), (-20, "ok"), (45, "red")],
        ),
    ],
)
def test_threshold_steps(rules: list[AlertRule], expected: list[tuple[float | None, str]]) -> None:
    assert threshold_steps(rules, ok_color="ok") == expected
    assert set(SEVERITY_COLORS.values()) >= {c for _, c in expected if c != "ok"}


def test_threshold_steps_need_a_rule() -> None:
    with pytest.raises(ValueError, match="no rule"):
        threshold_steps([], ok_color="green")
