"""The Mission overview dashboard: where the fleet is, how it is, when it is in contact, and what
it was told to do.

One dashboard per Mission, fleet-wide (no satellite variable): a map of current positions, ground
tracks and ground stations; one table row per satellite (mode, battery, storage, last telemetry,
fault protection); battery state of charge; contact windows per station (the `passes` measurement
the operator writes); command rate and outcomes (the API's `commands` audit points). Every alert
rule of the Mission is drawn as thresholds on a panel showing its channel: on the battery panel
when that is its channel, otherwise on a panel of its own in the "Alert channels" row.

The column contracts the panels rely on (checked against InfluxDB by
tests/integration/grafana/test_flux_panel_queries.py):

- map `POSITIONS` and `TRACKS`: `satellite`, `latitude`, `longitude` (degrees), `_time`;
  `STATIONS`: `station`, `latitude`, `longitude`, `min_elevation_deg`.
- fleet table: `satellite`, `mode`, `battery_soc_pct`, `storage_used_pct`, `fdir_latched`,
  `last_telemetry` (time of the latest `obc` point).
- per-satellite series: `_time`, `_value`, group key `satellite`; contacts: group key `satellite`,
  `station`; command rate: group key `state`; command outcomes: `state`, `_value`.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, geomap, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as geomap_models

from mpcs.core import names
from mpcs.core.resources import AlertRule
from mpcs.core.telemetry import CHANNEL_INDEX

from . import flux
from .catalog import DashboardModel
from .context import MissionContext
from .flux import field_in, measurement
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

SLUG = "overview"
#: How far back the map draws ground tracks: a little more than one low-Earth orbit.
TRACK_WINDOW = "100m"
#: Points per series of the fleet-wide panels: 100 satellites × 300 points is already more than a
#: half-width panel can draw, and the answer (and its latency) grows with the points.
FLEET_MAX_DATA_POINTS = 300
#: Channels the overview draws as time series of its own (alert rules on them are drawn there).
SOC = "power.battery_soc_pct"

_LAT, _LON = "lat_deg", "lon_deg"


def _per_satellite_series(context: MissionContext, key: str, fn: str) -> flux.Pipeline:
    """One series per satellite of one channel, downsampled to Grafana's window."""
    channel = CHANNEL_INDEX[key]
    return (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement(channel.subsystem) & field_in(channel.name))
        .aggregate_window(fn)
        .keep(["_time", "_value", names.SATELLITE_TAG])
    )


def _positions(context: MissionContext, *, track: bool) -> flux.Pipeline:
    """Latest position (or the ground track) per satellite, one table, `latitude`/`longitude`."""
    query = (
        flux.from_bucket(context.bucket).range().filter(measurement("orbit") & field_in(_LAT, _LON))
    )
    # `last` as the window aggregate: a mean of longitudes across the antimeridian is nonsense.
    query = query.aggregate_window("last") if track else query.last()
    return (
        query.pivot()
        .group()
        .keep(["_time", names.SATELLITE_TAG, _LAT, _LON])
        .rename({_LAT: "latitude", _LON: "longitude"})
        .sort(["_time"])
    )


def _stations(context: MissionContext) -> flux.Pipeline:
    return flux.array_from(
        [
            {
                names.STATION_TAG: mark.name,
                # floats throughout: Flux refuses an array whose rows differ in a column's type
                "latitude": float(mark.latitude_deg),
                "longitude": float(mark.longitude_deg),
                "min_elevation_deg": float(mark.min_elevation_deg),
            }
            for mark in context.stations
        ]
    )


def _marker_layer(
    name: str, ref_id: str, *, color: str, size: int, symbol: str, label: str | None
) -> common_builder.MapLayerOptions:
    style: dict[str, object] = {
        "color": {"fixed": color},
        "opacity": 0.9,
        "size": {"fixed": size},
        "symbol": {"fixed": f"img/icons/marker/{symbol}.svg", "mode": "fixed"},
    }
    if label is not None:
        style["text"] = {"field": label, "fixed": "", "mode": "field"}
        style["textConfig"] = {
            "fontSize": 12,
            "offsetX": 10,
            "offsetY": 0,
            "textAlign": "left",
            "textBaseline": "middle",
        }
    return (
        common_builder.MapLayerOptions()
        .type("markers")
        .name(name)
        .config({"showLegend": False, "style": style})
        .location(
            common_builder.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .filter_data({"id": "byRefId", "options": ref_id})
        .tooltip(True)
    )


def _map(context: MissionContext) -> geomap.Panel:
    panel = (
        geomap.Panel()
        .title("Fleet map")
        .description(
            "Current position of every satellite (large dots), its ground track over the last "
            f"{TRACK_WINDOW} (small dots) and the mission's ground stations (triangles)."
        )
        .datasource(influx_datasource(context))
        .time_from(TRACK_WINDOW)
        .max_data_points(200)
        .span(16)
        .height(12)
        .with_target(FluxTarget(context, _positions(context, track=False), ref_id="POSITIONS"))
        .with_target(FluxTarget(context, _positions(context, track=True), ref_id="TRACKS"))
        .view(geomap.MapViewConfig().id("zero").lat(0).lon(0).zoom(1))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .basemap(common_builder.MapLayerOptions().type("default").name("Basemap"))
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS))
    )
    layers: list[cogbuilder.Builder[common.MapLayerOptions]] = [
        _marker_layer("Ground tracks", "TRACKS", color="blue", size=2, symbol="circle", label=None),
        _marker_layer(
            "Satellites", "POSITIONS", color="yellow", size=8, symbol="circle", label="satellite"
        ),
    ]
    if context.stations:
        panel = panel.with_target(FluxTarget(context, _stations(context), ref_id="STATIONS"))
        layers.append(
            _marker_layer(
                "Ground stations",
                "STATIONS",
                color="green",
                size=10,
                symbol="triangle",
                label=names.STATION_TAG,
            )
        )
    return panel.layers(layers)


#: The fleet table's columns, in order, with their headers.
FLEET_COLUMNS = {
    names.SATELLITE_TAG: "Satellite",
    "mode": "Mode",
    "battery_soc_pct": "Battery SoC",
    "storage_used_pct": "Storage used",
    "fdir_latched": "Fault protection",
    "last_telemetry": "Last telemetry",
}
_FLEET_FIELDS = {"obc": ("mode", "storage_used_pct", "fdir_latched"), "power": ("battery_soc_pct",)}


def _fleet(context: MissionContext) -> flux.Program:
    """One row per satellite: latest values of a few fields, and when its latest `obc` point was.

    Two streams joined on `satellite`, because a pivot cannot carry the `_time` of the point (the
    age) beside fields of different types from two measurements.
    """
    latest = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(
            flux.any_of(
                *(measurement(sub) & field_in(*fields) for sub, fields in _FLEET_FIELDS.items())
            )
        )
        .last()
    )
    seen = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement("obc") & field_in("seq"))
        .last()
        .keep(["_time", names.SATELLITE_TAG])
        .rename({"_time": "last_telemetry"})
    )
    values = latest.keep([names.SATELLITE_TAG, "_field", "_value"]).pivot(
        row_key=[names.SATELLITE_TAG]
    )
    return flux.Program(
        bindings={"values": values, "seen": seen},
        result=flux.join(
            {"v": flux.from_name("values"), "s": flux.from_name("seen")}, on=[names.SATELLITE_TAG]
        )
        .group()
        .keep(list(FLEET_COLUMNS))
        .sort([names.SATELLITE_TAG]),
    )


def _cell_colors(rules: Sequence[AlertRule]) -> list[dm.DynamicConfigValue]:
    return [
        dm.DynamicConfigValue(
            id_val="thresholds", value=thresholds(rules, ok_color="green").build()
        ),
        dm.DynamicConfigValue(
            id_val="custom.cellOptions",
            value={"type": "color-background", "mode": "basic"},
        ),
    ]


def _fleet_table(context: MissionContext) -> table.Panel:
    rules = rules_by_channel(context.alerts)
    panel = (
        table.Panel()
        .frame_index(0)
        .show_header(True)
        .title("Fleet status")
        .description(
            "Latest telemetry of every satellite in the time range. Cells turn the colour of the "
            "mission's alert rules on their channel."
        )
        .datasource(influx_datasource(context))
        .span(8)
        .height(12)
        .with_target(FluxTarget(context, _fleet(context), ref_id="FLEET"))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "indexByName": {name: i for i, name in enumerate(FLEET_COLUMNS)},
                    "renameByName": {},
                    "excludeByName": {},
                },
            )
        )
        .override_by_name(
            "last_telemetry",
            [dm.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")],
        )
    )
    for name, header in FLEET_COLUMNS.items():
        properties = [dm.DynamicConfigValue(id_val="displayName", value=header)]
        sub = "power" if name == "battery_soc_pct" else "obc"
        key = f"{sub}.{name}"
        if key in CHANNEL_INDEX and CHANNEL_INDEX[key].type in ("float", "int"):
            properties.append(dm.DynamicConfigValue(id_val="unit", value=channel_unit(key)))
        if key in rules:
            properties += _cell_colors(rules[key])
        panel = panel.override_by_name(name, properties)
    return panel


def _series_panel(
    context: MissionContext, key: str, title: str, rules: Sequence[AlertRule]
) -> timeseries.Panel:
    """A numeric channel, one series per satellite, with its alert rules as thresholds."""
    channel = CHANNEL_INDEX[key]
    panel = (
        timeseries.Panel()
        .legend(legend())
        .tooltip(tooltip())
        .title(title)
        .description(channel_description(channel, rules))
        .datasource(influx_datasource(context))
        .unit(channel_unit(key))
        .display_name("${__field.labels.satellite}")
        .max_data_points(FLEET_MAX_DATA_POINTS)
        .span(12)
        .height(8)
        .with_target(FluxTarget(context, _per_satellite_series(context, key, "mean")))
    )
    if channel.minimum is not None and channel.unit == "%":
        panel = panel.min(0).max(100)
    return with_rule_lines(panel, rules)


def _state_panel(
    context: MissionContext, key: str, title: str, rules: Sequence[AlertRule]
) -> statetimeline.Panel:
    """A bool or string channel, one lane per satellite, coloured by its alert rules."""
    channel = CHANNEL_INDEX[key]
    panel = (
        statetimeline.Panel()
        .show_value(common.VisibilityMode.AUTO)
        .row_height(0.9)
        .legend(legend(show=False))
        .tooltip(tooltip())
        .title(title)
        .description(channel_description(channel, rules))
        .datasource(influx_datasource(context))
        .display_name("${__field.labels.satellite}")
        .max_data_points(FLEET_MAX_DATA_POINTS)
        .span(12)
        .height(8)
        .with_target(FluxTarget(context, _per_satellite_series(context, key, "last")))
    )
    if rules:
        panel = panel.thresholds(thresholds(rules, ok_color="green")).color_scheme(
            dashboard_builder.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS)
        )
    return panel


def alert_panel(
    context: MissionContext, key: str, title: str, rules: Sequence[AlertRule]
) -> cogbuilder.Builder[dm.Panel]:
    """The panel an alert rule's channel gets when no other panel shows it."""
    if CHANNEL_INDEX[key].type in ("float", "int"):
        return _series_panel(context, key, title, rules)
    return _state_panel(context, key, title, rules)


def _contacts(context: MissionContext) -> statetimeline.Panel:
    query = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement(names.PASSES_MEASUREMENT) & field_in("visible"))
        .keep(["_time", "_value", names.SATELLITE_TAG, names.STATION_TAG])
    )
    return (
        statetimeline.Panel()
        .row_height(0.9)
        .legend(legend(show=False))
        .tooltip(tooltip())
        .title("Contact windows")
        .description(
            "Predicted passes (AOS to LOS) of every satellite over every ground station of the "
            "mission, as the operator plans them."
        )
        .datasource(influx_datasource(context))
        .display_name("${__field.labels.station} · ${__field.labels.satellite}")
        .mappings(
            [
                dm.ValueMap(
                    options={
                        "1": dm.ValueMappingResult(text="in view", color="green", index=0),
                        "0": dm.ValueMappingResult(text="", color="transparent", index=1),
                    }
                )
            ]
        )
        .show_value(common.VisibilityMode.NEVER)
        .span(12)
        .height(8)
        .with_target(FluxTarget(context, query))
    )


def _command_rate(context: MissionContext) -> timeseries.Panel:
    query = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement(names.COMMANDS_MEASUREMENT) & field_in("result"))
        .group(["state"])
        .aggregate_window("count")
    )
    return (
        timeseries.Panel()
        .legend(legend())
        .tooltip(tooltip())
        .title("Command rate by state")
        .description(
            "Command audit points per interval by state (sent, accepted, executed, failed, "
            "rejected, refused…): each command leaves one point per state it reaches."
        )
        .datasource(influx_datasource(context))
        .display_name("${__field.labels.state}")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
        .unit("short")
        .span(12)
        .height(8)
        .with_target(FluxTarget(context, query))
    )


def _command_outcomes(context: MissionContext) -> bargauge.Panel:
    query = (
        flux.from_bucket(context.bucket)
        .range()
        .filter(measurement(names.COMMANDS_MEASUREMENT) & field_in("result"))
        .group(["state"])
        .count()
        .group()
        .keep(["state", "_value"])
        .sort(["state"])
    )
    return (
        bargauge.Panel()
        .value_mode(common.BarGaugeValueMode.COLOR)
        .name_placement(common.BarGaugeNamePlacement.AUTO)
        .show_unfilled(True)
        .sizing(common.BarGaugeSizing.AUTO)
        .min_viz_width(8)
        .min_viz_height(16)
        .max_viz_height(300)
        .legend(legend(show=False))
        .title("Command outcomes")
        .description("Commands that reached each state in the time range.")
        .datasource(influx_datasource(context))
        .reduce_options(common_builder.ReduceDataOptions().values(True).calcs([]))
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .unit("short")
        .span(12)
        .height(8)
        .with_target(FluxTarget(context, query))
    )


def build(context: MissionContext) -> DashboardModel:
    """The dashboard's JSON model for `context`'s mission."""
    rules = rules_by_channel(context.alerts)
    main: list[cogbuilder.Builder[dm.Panel]] = [
        _map(context),
        _fleet_table(context),
        _series_panel(context, SOC, "Battery state of charge", rules.get(SOC, [])),
        _contacts(context),
        _command_rate(context),
        _command_outcomes(context),
    ]
    sections = [Section(panels=main)]
    others = [key for key in rules if key != SOC]
    if others:
        sections.append(
            Section(
                row="Alert channels",
                panels=[alert_panel(context, key, key, rules[key]) for key in others],
            )
        )
    builder = (
        dashboard_builder.Dashboard(f"{context.mission}: mission overview")
        .uid(context.dashboard_uid(SLUG))
        .description(
            f"Fleet of mission {context.mission} (namespace {context.namespace}): positions, "
            "status, battery, contact windows, commands, and every alert rule's channel."
        )
        .tags(["mpcs", f"mission:{context.mission}"])
        .timezone("utc")
        .time("now-6h", "now+3h")
        .refresh("30s")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    return dashboard_model(builder, sections)
