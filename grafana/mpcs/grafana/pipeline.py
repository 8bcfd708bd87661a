"""The pipeline dashboard: is the mission's telemetry path keeping up, from Kafka to InfluxDB and
out through the command API, and is the operator reconciling?

Every panel reads Prometheus, never InfluxDB: this is the dashboard to open when the telemetry
dashboards go quiet. The Prometheus datasource is a template variable (clusters name theirs
differently); every query selects the mission's processes by the scrape labels of
`names.PROMETHEUS_LABELS`, which the dev stack's file discovery sets and a cluster's scrape config
must set from the pod's namespace and labels. The operator is the exception: one process serves
every namespace and mission, its series carry neither, and it usually runs in a namespace of its
own, so its panels select it by component alone.

Counters are read with `rate(…[$__rate_interval])` (Grafana widens the window to at least four
scrape intervals, so a rate always spans two samples); gauges are read as they are; latencies are
quantiles of the histograms' bucket rates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

from mpcs.core import names

from .catalog import DashboardModel
from .context import MissionContext

#: The template variable users pick their Prometheus with.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
#: Component names of the processes (the `app.kubernetes.io/component` pod label).
INGEST = "ingest"
COMMAND_API = "command-api"
OPERATOR = "operator"
RATE_WINDOW = "$__rate_interval"


def selector(context: MissionContext, component: str, **extra: str) -> str:
    """A PromQL label selector for one of the mission's components.

    >>> selector(MissionContext("ops", "wildfire"), "ingest", result="stored")
    '{namespace="ops",mission="wildfire",component="ingest",result="stored"}'
    """
    values = (context.namespace, context.mission, component)
    scrape = dict(zip(names.PROMETHEUS_LABELS, values, strict=True))
    return _braces({**scrape, **extra})


def operator_selector() -> str:
    """The operator's selector: by component only (see the module docstring for why)."""
    return _braces({"component": OPERATOR})


def _braces(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in labels.items()) + "}"


def _rate(metric: str, labels: str, *, by: Sequence[str] = ()) -> str:
    grouping = f" by ({', '.join(by)}) " if by else ""
    return f"sum{grouping}(rate({metric}{labels}[{RATE_WINDOW}]))"


def _quantile(q: float, histogram: str, labels: str) -> str:
    buckets = _rate(f"{histogram}_bucket", labels, by=("le",))
    return f"histogram_quantile({q}, {buckets})"


def _query(ref: str, expr: str, legend: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .ref_id(ref)
        .expr(expr)
        .legend_format(legend)
        .range()
        .datasource(DATASOURCE)
    )


def _series(
    title: str, description: str, unit: str, queries: Sequence[prometheus.Dataquery]
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .height(8)
        .span(12)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs([])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    for query in queries:
        panel.with_target(query)
    return panel


def _stat(title: str, description: str, unit: str, expr: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(6)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(_query("A", expr, title))
    )


def panels(context: MissionContext) -> list[stat.Panel | timeseries.Panel]:
    """The panels, in reading order: headline numbers, then the ingest, the API, the operator."""
    ingest = selector(context, INGEST)
    api = selector(context, COMMAND_API)
    operator = operator_selector()
    values_per_s = _rate("mpcs_ingest_channel_values_total", ingest)
    lag = f"sum(mpcs_ingest_consumer_lag_total{ingest})"
    freshness_p99 = _quantile(0.99, "mpcs_ingest_freshness_seconds", ingest)
    api_p99 = _quantile(0.99, "mpcs_api_request_seconds", api)
    return [
        _stat(
            "Channel values stored",
            "Telemetry channel values per second that InfluxDB accepted from the ingest.",
            "cps",
            values_per_s,
        ),
        _stat(
            "Consumer lag now",
            "Telemetry records in Kafka the ingest has not committed yet, all partitions.",
            "short",
            lag,
        ),
        _stat(
            "Freshness p99 now",
            "Produce time of a batch's oldest record until InfluxDB accepted the batch.",
            "s",
            freshness_p99,
        ),
        _stat(
            "API latency p99 now",
            "99th percentile of the command API's request latency, all routes.",
            "s",
            api_p99,
        ),
        _series(
            "Ingest throughput",
            "Kafka records handled by result, points and channel values InfluxDB accepted.",
            "cps",
            [
                _query("A", values_per_s, "channel values/s"),
                _query("B", _rate("mpcs_ingest_points_total", ingest), "points/s"),
                _query(
                    "C",
                    _rate("mpcs_ingest_messages_total", ingest, by=("result",)),
                    "messages {{result}}/s",
                ),
            ],
        ),
        _series(
            "Consumer lag by partition",
            "High watermark minus committed offset of each telemetry partition the ingest holds.",
            "short",
            [
                _query(
                    "A",
                    f"sum by (partition) (mpcs_ingest_consumer_lag{ingest})",
                    "partition {{partition}}",
                )
            ],
        ),
        _series(
            "Dead letters and write errors",
            "Messages sent to the mission's dlq topic (they failed validation), and failed "
            "InfluxDB writes by kind.",
            "cps",
            [
                _query("A", _rate("mpcs_ingest_dlq_total", ingest), "dead-lettered/s"),
                _query(
                    "B",
                    _rate("mpcs_ingest_write_errors_total", ingest, by=("kind",)),
                    "write errors {{kind}}/s",
                ),
            ],
        ),
        _series(
            "Telemetry freshness",
            "Per batch: produce time of its oldest record until InfluxDB accepted it "
            "(an upper bound for every record of the batch).",
            "s",
            [
                _query("A", _quantile(0.5, "mpcs_ingest_freshness_seconds", ingest), "p50"),
                _query("B", freshness_p99, "p99"),
            ],
        ),
        _series(
            "API requests",
            "Command API requests per second by HTTP status, all replicas.",
            "reqps",
            [
                _query(
                    "A",
                    _rate("mpcs_api_requests_total", api, by=("status",)),
                    "{{status}}",
                )
            ],
        ),
        _series(
            "API latency",
            "Command API request latency quantiles from its histogram, all routes and replicas.",
            "s",
            [
                _query("A", _quantile(0.5, "mpcs_api_request_seconds", api), "p50"),
                _query("B", api_p99, "p99"),
            ],
        ),
        _series(
            "Operator reconciles",
            "Reconciles per second by kind and result, for every mission the operator serves.",
            "ops",
            [
                _query(
                    "A",
                    _rate("mpcs_operator_reconciles_total", operator, by=("kind", "result")),
                    "{{kind}} {{result}}",
                )
            ],
        ),
        _series(
            "Operator reconcile errors",
            "Failed reconciles per second by kind and exception; a retry the operator waits "
            "out (e.g. a Satellite before its Mission) counts too.",
            "ops",
            [
                _query(
                    "A",
                    _rate("mpcs_operator_reconcile_errors_total", operator, by=("kind", "reason")),
                    "{{kind}} {{reason}}",
                )
            ],
        ),
    ]


def build(context: MissionContext) -> DashboardModel:
    """The dashboard's JSON model for `context`'s mission."""
    board = (
        dashboard_builders.Dashboard(f"{context.mission}: pipeline health")
        .uid(context.dashboard_uid("pipeline"))
        .description(
            f"Telemetry pipeline, command API and operator of mission {context.mission} "
            f"in namespace {context.namespace}, from Prometheus."
        )
        .tags(["mpcs", "pipeline", context.namespace, context.mission])
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Prometheus")
            .type("prometheus")
        )
    )
    for panel in panels(context):
        board.with_panel(panel)
    model: DashboardModel = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    return model
