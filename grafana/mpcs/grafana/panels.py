"""What the mission dashboards share: the InfluxDB datasource and its Flux target, catalogue units
in Grafana's unit ids, alert rules as Grafana thresholds, and the grid layout.

`overview` and `satellite` build their panels with grafana-foundation-sdk and hand them to
`dashboard_model`, which lays them out (the SDK's own placement is unaware of collapsed rows),
numbers them and returns plain JSON — the model `catalog.render` returns, so the operator, the
generated files and the tests see the same bytes.

>>> grafana_unit("km/s"), grafana_unit("°C")
('suffix: km/s', 'celsius')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

from mpcs.core.resources import AlertRule
from mpcs.core.resources.mission import AlertKind, ComparisonOperator, Severity
from mpcs.core.telemetry import CHANNEL_INDEX, Channel

from .catalog import DashboardModel
from .context import MissionContext
from .flux import Pipeline, Program

INFLUXDB = "influxdb"
GRID_WIDTH = 24

#: Catalogue unit → Grafana unit id. A unit Grafana has no id for is shown as a suffix.
GRAFANA_UNITS = {
    "deg": "degree",
    "km": "lengthkm",
    "W": "watt",
    "V": "volt",
    "A": "amp",
    "Wh": "watth",
    "°C": "celsius",
    "%": "percent",
    "rpm": "rotrpm",
    "Hz": "hertz",
    "dBm": "dBm",
    "Mbit/s": "Mbits",
    "MB": "decmbytes",
    "s": "s",
    "1": "none",
    "": "none",
}
#: Catalogue units Grafana has no id for; shown with Grafana's `suffix:` unit.
SUFFIX_UNITS = frozenset(("km/s",))

#: Colours of alert severities on thresholds; `OK_COLOR` where no rule fires.
SEVERITY_COLORS = {Severity.INFO: "blue", Severity.WARNING: "orange", Severity.CRITICAL: "red"}
_SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


def grafana_unit(unit: str) -> str:
    """The Grafana unit id of a catalogue unit (KeyError naming it when neither mapped nor a
    known suffix unit: a new catalogue unit must be added here deliberately)."""
    if unit in GRAFANA_UNITS:
        return GRAFANA_UNITS[unit]
    if unit in SUFFIX_UNITS:
        return f"suffix: {unit}"
    raise KeyError(f"telemetry unit {unit!r} has no Grafana unit (add it to GRAFANA_UNITS)")


def channel_unit(key: str) -> str:
    """The Grafana unit of catalogue channel `subsystem.name`."""
    return grafana_unit(CHANNEL_INDEX[key].unit)


def influx_datasource(context: MissionContext) -> dm.DataSourceRef:
    """The mission's InfluxDB datasource (provisioned with this uid by the operator)."""
    return dm.DataSourceRef(type_val=INFLUXDB, uid=context.influx_datasource_uid)


class FluxQuery(cogvariants.Dataquery):
    """A target of Grafana's InfluxDB datasource in Flux mode: the text is in `query`."""

    def __init__(self, *, ref_id: str, query: str, datasource: dm.DataSourceRef) -> None:
        self.ref_id = ref_id
        self.query = query
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": self.datasource, "query": self.query}


class FluxTarget(cogbuilder.Builder[FluxQuery]):
    """Builder of a `FluxQuery` from a `flux.Pipeline` or `flux.Program`."""

    def __init__(
        self, context: MissionContext, query: Pipeline | Program, *, ref_id: str = "A"
    ) -> None:
        self._query = FluxQuery(
            ref_id=ref_id, query=query.render(), datasource=influx_datasource(context)
        )

    def build(self) -> FluxQuery:
        return self._query


def rules_by_channel(rules: Iterable[AlertRule]) -> dict[str, list[AlertRule]]:
    """The threshold rules of each channel that has any, in the Mission's order.

    Only kind threshold compares the channel's value: a rateOfChange threshold is in unit per
    second and a stale rule has none, so neither is drawn on a value panel.
    """
    found: dict[str, list[AlertRule]] = {}
    for rule in rules:
        if rule.kind == AlertKind.THRESHOLD and rule.channel is not None:
            found.setdefault(rule.channel, []).append(rule)
    return found


def _limit(rule: AlertRule) -> tuple[ComparisonOperator, float]:
    """A threshold rule's operator and threshold (the model requires both for that kind)."""
    if rule.operator is None or rule.threshold is None:
        raise ValueError(f"alert rule {rule.name!r} has no operator/threshold to draw")
    return rule.operator, rule.threshold


def _fires(rule: AlertRule, value: float) -> bool:
    operator, threshold = _limit(rule)
    match operator:
        case ComparisonOperator.LT:
            return value < threshold
        case ComparisonOperator.LE:
            return value <= threshold
        case ComparisonOperator.GT:
            return value > threshold
        case ComparisonOperator.GE:
            return value >= threshold
        case _:
            return value == threshold


def threshold_steps(rules: Sequence[AlertRule], *, ok_color: str) -> list[tuple[float | None, str]]:
    """Grafana threshold steps (value, colour) colouring each band by the worst rule firing in it.

    Grafana gives a value the colour of the last step at or below it; every rule threshold is a
    step, so each is drawn as a line. A band is coloured by the rules firing inside it (tested at
    the band's middle, below the lowest step, above the highest) or, for `==`, at its start.

    >>> from mpcs.core.resources import AlertRule
    >>> low = AlertRule(name="low", channel="power.battery_soc_pct", operator="<", threshold=25,
    ...                 severity="critical")
    >>> threshold_steps([low], ok_color="transparent")
    [(None, 'red'), (25.0, 'transparent')]
    """
    if not rules:
        raise ValueError("threshold_steps: no rule")
    values = sorted({_limit(rule)[1] for rule in rules})

    def color(probe: float, start: float | None) -> str:
        firing = [
            rule
            for rule in rules
            if (rule.operator == ComparisonOperator.EQ and rule.threshold == start)
            or (rule.operator != ComparisonOperator.EQ and _fires(rule, probe))
        ]
        if not firing:
            return ok_color
        worst = max(firing, key=lambda rule: _SEVERITY_RANK[rule.severity])
        return SEVERITY_COLORS[worst.severity]

    span = max(1.0, values[-1] - values[0])
    steps: list[tuple[float | None, str]] = [(None, color(values[0] - span, None))]
    for i, value in enumerate(values):
        upper = values[i + 1] if i + 1 < len(values) else value + 2 * span
        steps.append((value, color((value + upper) / 2, value)))
    return steps


def thresholds(rules: Sequence[AlertRule], *, ok_color: str) -> dashboard_builder.ThresholdsConfig:
    """The rules of one channel as an absolute ThresholdsConfig."""
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dm.Threshold(value=value, color=color)
                for value, color in threshold_steps(rules, ok_color=ok_color)
            ]
        )
    )


def with_rule_lines(panel: timeseries.Panel, rules: Sequence[AlertRule]) -> timeseries.Panel:
    """A time series with its channel's alert thresholds drawn as dashed lines over tinted areas
    (nothing when the channel has no rule)."""
    if not rules:
        return panel
    return panel.thresholds(thresholds(rules, ok_color="transparent")).thresholds_style(
        common_builder.GraphThresholdsStyleConfig().mode(
            common.GraphThresholdsStyleMode.DASHED_AND_AREA
        )
    )


def channel_description(channel: Channel, rules: Sequence[AlertRule] = ()) -> str:
    """A panel description: the catalogue's words, the unit, and the rules drawn on it."""
    text = f"`{channel.key}`: {channel.description}"
    if channel.unit not in ("", "1"):
        text += f" Unit: {channel.unit}."
    for rule in rules:
        text += (
            f" Alert rule `{rule.name}` ({rule.severity.value}): {_limit(rule)[0].value} "
            f"{_limit(rule)[1]:g}."
        )
    return text


# ------------------------------------------------------------------------------------------------
# Options Grafana's panel schemas require (what Grafana itself writes when a panel is saved)


def legend(*, show: bool = True) -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .show_legend(show)
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .calcs([])
    )


def tooltip() -> common_builder.VizTooltipOptions:
    """All series at the cursor: comparing satellites or channels is what these panels are for."""
    return (
        common_builder.VizTooltipOptions()
        .mode(common.TooltipDisplayMode.MULTI)
        .sort(common.SortOrder.NONE)
    )


# ------------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class Section:
    """Panels under an optional row header; `collapsed` rows keep their panels inside the row."""

    panels: Sequence[cogbuilder.Builder[dm.Panel]]
    row: str | None = None
    collapsed: bool = False


def to_plain(value: object) -> Any:
    """SDK objects as plain JSON values (through the SDK's encoder)."""
    return json.loads(json.dumps(value, cls=JSONEncoder))


def _place(panels: list[dict[str, Any]], y: int, next_id: int) -> tuple[int, int]:
    """Flow panels left to right from row `y`; returns the next free y and id."""
    x = 0
    line_height = 0
    for panel in panels:
        grid = panel.setdefault("gridPos", {})
        w = min(int(grid.get("w", 12)), GRID_WIDTH)
        h = int(grid.get("h", 8))
        if x + w > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        panel["id"] = next_id
        next_id += 1
        x += w
        line_height = max(line_height, h)
    return y + line_height, next_id


def layout(sections: Sequence[Section]) -> list[dict[str, Any]]:
    """Grafana's `panels` list: rows and panels with ids and grid positions."""
    result: list[dict[str, Any]] = []
    y, next_id = 0, 1
    for section in sections:
        panels = [to_plain(builder.build()) for builder in section.panels]
        if section.row is None:
            y, next_id = _place(panels, y, next_id)
            result += panels
            continue
        row: dict[str, Any] = {
            "type": "row",
            "title": section.row,
            "collapsed": section.collapsed,
            "id": next_id,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        next_id += 1
        result.append(row)
        end, next_id = _place(panels, y + 1, next_id)
        if section.collapsed:
            row["panels"] = panels
            y += 1  # a collapsed row takes one grid line; Grafana places its panels on expand
        else:
            result += panels
            y = end
    return result


def dashboard_model(
    builder: dashboard_builder.Dashboard, sections: Sequence[Section]
) -> DashboardModel:
    """The dashboard as plain JSON, with `sections` laid out as its panels."""
    model: DashboardModel = to_plain(builder.build())
    model["panels"] = layout(sections)
    return model
