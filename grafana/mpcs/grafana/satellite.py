"""The Satellite detail dashboard: every telemetry channel of one satellite, chosen in a variable.

The satellite is a template variable listing the bucket's `satellite` tag values, and nothing is
repeated per satellite, so the dashboard (and its ConfigMap) is the same size for a fleet of one or
of a hundred, and each panel queries one satellite's series. The panels are generated from the
telemetry catalogue: one row per subsystem, numeric channels as time series in their unit
(channels sharing a unit share a panel, except a channel with alert rules, which gets its own panel
with the rules drawn as thresholds), the subsystem's boolean and text channels as a state timeline.
Above the rows: the spacecraft's state (mode, fault protection, eclipse, contact) and its command
history.

Column contracts (checked against InfluxDB by tests/integration/grafana/): channel panels return
one table per field (`_time`, `_value`, group key `_field`); the command history returns `_time`,
`command`, `state`, `outcome` (the audit `result`), `who`, `args`, `id`, `reason`.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

from mpcs.core import names
from mpcs.core.commands import Mode
from mpcs.core.resources import AlertRule
from mpcs.core.telemetry import CHANNELS_BY_SUBSYSTEM, Channel

from . import flux
from .catalog import DashboardModel
from .context import MissionContext
from .flux import Predicate, Var, field_in, measurement, tag_equals
from .panels import (
    FluxTarget,
    Section,
    channel_description,
    channel_unit,
    dashboard_model,
    influx_datasource,
    legend,
    rules_by_channel,
    thresholds,
    tooltip,
    with_rule_lines,
)

SLUG = "satellite"
VARIABLE = names.SATELLITE_TAG
#: Channels (and header fields) the "Spacecraft state" timeline shows, by measurement.
STATE_FIELDS: dict[str, tuple[str, ...]] = {
    "obc": ("mode", "fdir_latched", "fdir_reason"),
    "orbit": ("sunlit",),
    "comms": ("in_contact",),
}
#: Subsystem rows open when the dashboard loads (the others run their queries when opened).
OPEN_ROWS = frozenset(("power",))
#: Rows of the command history table.
COMMAND_HISTORY_LIMIT = 500
#: The audit field `result` is renamed `outcome`: `result` is a layout column of Flux's CSV (the
#: yield name), and a data column of that name is lost beside it.
COMMAND_COLUMNS = ("_time", "command", "state", "outcome", "who", "args", "id", "reason")

_MODE_COLORS = {
    Mode.SAFE: "red",
    Mode.NOMINAL: "green",
    Mode.PAYLOAD: "blue",
    Mode.DOWNLINK: "purple",
}


def _this_satellite() -> Predicate:
    return tag_equals(names.SATELLITE_TAG, Var(VARIABLE))


def _fields_query(context: MissionContext, where: Predicate, fn: str) -> flux.Pipeline:
    """The selected satellite's fields matching `where`, one table per field."""
    return (
        flux.from_bucket(context.bucket)
        .range()
        .filter(_this_satellite() & where)
        .aggregate_window(fn)
        .keep(["_time", "_value", "_field"])
    )


def _numeric_panel(
    context: MissionContext,
    subsystem: str,
    channels: Sequence[Channel],
    rules: Sequence[AlertRule],
) -> timeseries.Panel:
    title = f"{subsystem}: {', '.join(c.name for c in channels)}"
    panel = (
        timeseries.Panel()
        .legend(legend())
        .tooltip(tooltip())
        .title(title)
        .description(" ".join(channel_description(c, rules) for c in channels))
        .datasource(influx_datasource(context))
        .unit(channel_unit(channels[0].key))
        .span(8)
        .height(8)
        .with_target(
            FluxTarget(
                context,
                _fields_query(
                    context, measurement(subsystem) & field_in(*(c.name for c in channels)), "mean"
                ),
            )
        )
    )
    if all(c.unit == "%" for c in channels):
        panel = panel.min(0).max(100)
    return with_rule_lines(panel, rules)


def _state_panel(
    context: MissionContext,
    title: str,
    where: Predicate,
    description: str,
    *,
    rules: Sequence[AlertRule] = (),
    span: int = 8,
) -> statetimeline.Panel:
    panel = (
        statetimeline.Panel()
        .show_value(common.VisibilityMode.AUTO)
        .row_height(0.9)
        .legend(legend(show=False))
        .tooltip(tooltip())
        .title(title)
        .description(description)
        .datasource(influx_datasource(context))
        .span(span)
        .height(8 if span < 24 else 7)
        .with_target(FluxTarget(context, _fields_query(context, where, "last")))
    )
    if rules:
        panel = panel.thresholds(thresholds(rules, ok_color="green")).color_scheme(
            dashboard_builder.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS)
        )
    return panel


def _spacecraft_state(context: MissionContext) -> statetimeline.Panel:
    where = flux.any_of(
        *(measurement(sub) & field_in(*fields) for sub, fields in STATE_FIELDS.items())
    )
    panel = _state_panel(
        context,
        "Spacecraft state",
        where,
        "Mode (header of every telemetry message), fault protection (`obc.fdir_latched`, "
        "`obc.fdir_reason`), eclipse (`orbit.sunlit`: dark lanes are eclipse) and ground "
        "contact (`comms.in_contact`) of the selected satellite.",
        span=24,
    )
    mode_colors = {
        mode.value: dm.ValueMappingResult(color=color, index=i)
        for i, (mode, color) in enumerate(_MODE_COLORS.items())
    }
    lanes = {
        "fdir_latched": (("latched", "red"), ("clear", "green"), "Fault protection"),
        "sunlit": (("sunlit", "yellow"), ("eclipse", "dark-blue"), "Illumination"),
        "in_contact": (("in contact", "green"), ("no contact", "transparent"), "Contact"),
    }
    panel = panel.override_by_name(
        "mode",
        [
            dm.DynamicConfigValue(id_val="displayName", value="Mode"),
            dm.DynamicConfigValue(id_val="mappings", value=[dm.ValueMap(options=mode_colors)]),
        ],
    )
    for field, (on, off, label) in lanes.items():
        mapping = dm.ValueMap(
            options={
                "true": dm.ValueMappingResult(text=on[0], color=on[1], index=0),
                "false": dm.ValueMappingResult(text=off[0], color=off[1], index=1),
            }
        )
        panel = panel.override_by_name(
            field,
            [
                dm.DynamicConfigValue(id_val="displayName", value=label),
                dm.DynamicConfigValue(id_val="mappings", value=[mapping]),
            ],
        )
    return panel.override_by_name(
        "fdir_reason", [dm.DynamicConfigValue(id_val="displayName", value="FDIR reason")]
    )


def _command_history(context: MissionContext) -> table.Panel:
    query = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement(names.COMMANDS_MEASUREMENT) & _this_satellite())
        .pivot()
        .group()
        .rename({"result": "outcome"})
        .keep(list(COMMAND_COLUMNS))
        .sort(["_time"], desc=True)
        .limit(COMMAND_HISTORY_LIMIT)
    )
    return (
        table.Panel()
        .frame_index(0)
        .show_header(True)
        .title("Command history")
        .description(
            "Every state the selected satellite's commands reached (sent, accepted, executed, "
            f"failed, …), newest first, at most {COMMAND_HISTORY_LIMIT} rows: the command "
            "API's audit trail."
        )
        .datasource(influx_datasource(context))
        .span(24)
        .height(9)
        .with_target(FluxTarget(context, query))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "indexByName": {name: i for i, name in enumerate(COMMAND_COLUMNS)},
                    "renameByName": {"_time": "Time"},
                    "excludeByName": {},
                },
            )
        )
    )


def _subsystem_panels(
    context: MissionContext, subsystem: str, rules: dict[str, list[AlertRule]]
) -> list[cogbuilder.Builder[dm.Panel]]:
    """A subsystem's channels: numeric ones grouped by unit, ruled ones alone, the rest as a
    state timeline (leaving out what the "Spacecraft state" panel already shows)."""
    channels = CHANNELS_BY_SUBSYSTEM[subsystem]
    panels: list[cogbuilder.Builder[dm.Panel]] = []
    by_unit: dict[str, list[Channel]] = {}
    for channel in channels:
        if channel.type in ("float", "int"):
            if channel.key in rules:
                panels.append(_numeric_panel(context, subsystem, [channel], rules[channel.key]))
            else:
                by_unit.setdefault(channel.unit, []).append(channel)
    panels += [_numeric_panel(context, subsystem, group, []) for group in by_unit.values()]
    shown = set(STATE_FIELDS.get(subsystem, ()))
    states = [c for c in channels if c.type in ("bool", "str")]
    for channel in states:
        if channel.key in rules:
            panels.append(
                _state_panel(
                    context,
                    f"{subsystem}: {channel.name}",
                    measurement(subsystem) & field_in(channel.name),
                    channel_description(channel, rules[channel.key]),
                    rules=rules[channel.key],
                )
            )
    rest = [c for c in states if c.key not in rules and c.name not in shown]
    if rest:
        panels.append(
            _state_panel(
                context,
                f"{subsystem}: {', '.join(c.name for c in rest)}",
                measurement(subsystem) & field_in(*(c.name for c in rest)),
                " ".join(channel_description(c) for c in rest),
            )
        )
    return panels


def _variable(context: MissionContext) -> dashboard_builder.QueryVariable:
    query = flux.tag_values(context.bucket, names.SATELLITE_TAG, predicate=measurement("obc"))
    return (
        dashboard_builder.QueryVariable(VARIABLE)
        .label("Satellite")
        .description("Satellites with telemetry in the time range.")
        .datasource(influx_datasource(context))
        .query(query.render())
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def build(context: MissionContext) -> DashboardModel:
    """The dashboard's JSON model for `context`'s mission."""
    rules = rules_by_channel(context.alerts)
    sections = [Section(panels=[_spacecraft_state(context), _command_history(context)])]
    sections += [
        Section(
            row=subsystem,
            collapsed=subsystem not in OPEN_ROWS,
            panels=_subsystem_panels(context, subsystem, rules),
        )
        for subsystem in CHANNELS_BY_SUBSYSTEM
    ]
    builder = (
        dashboard_builder.Dashboard(f"{context.mission}: satellite detail")
        .uid(context.dashboard_uid(SLUG))
        .description(
            f"Every telemetry channel of one satellite of mission {context.mission} (namespace "
            f"{context.namespace}), its state and its command history."
        )
        .tags(["mpcs", f"mission:{context.mission}"])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("30s")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .with_variable(_variable(context))
    )
    return dashboard_model(builder, sections)
