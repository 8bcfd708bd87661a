"""Every query a dashboard sends, and the text Grafana would send for it.

There is no Grafana server here (DESIGN §8): dashboards are proven by running each panel's query
against the real InfluxDB (and Prometheus). `panel_queries` lists them from the JSON model alone —
panel targets (rows' nested panels included), template-variable queries and annotation queries —
so a panel added to a dashboard is in the list without anyone registering it. `substitute` then
does what Grafana does to a query before its datasource runs it: template variables, the InfluxDB
datasource's Flux macros (`v.timeRangeStart`, …) and Prometheus' interval macros.

>>> from datetime import datetime, UTC
>>> substitute(
...     'filter(fn: (r) => r.satellite == "${satellite}") |> range(start: v.timeRangeStart)',
...     {"satellite": "sat-a"},
...     start=datetime(2026, 1, 1, tzinfo=UTC),
...     stop=datetime(2026, 1, 1, 1, tzinfo=UTC),
...     interval_s=10,
... )
'filter(fn: (r) => r.satellite == "sat-a") |> range(start: 2026-01-01T00:00:00Z)'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .catalog import DashboardModel

#: Datasource types whose queries this module reads, and the target field holding the text.
QUERY_FIELDS = {"influxdb": "query", "prometheus": "expr"}


@dataclass(frozen=True)
class PanelQuery:
    """One query of a dashboard, where it comes from and its text as stored in the JSON."""

    dashboard: str
    """The dashboard's uid."""
    panel: str
    """The panel's title (unique within its dashboard), or `variable <name>` /
    `annotation <name>`."""
    ref_id: str
    datasource_type: str
    """`influxdb` (Flux in `target["query"]`) or `prometheus` (PromQL in `target["expr"]`)."""
    text: str


def _datasource_type(*candidates: Any) -> str | None:
    """The first datasource reference's type among `candidates` (a target's, then its panel's)."""
    for ref in candidates:
        if isinstance(ref, dict) and isinstance(ref.get("type"), str):
            kind: str = ref["type"]
            return kind
    return None


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def panel_queries(model: DashboardModel) -> list[PanelQuery]:
    """Every InfluxDB and Prometheus query of a dashboard, in the dashboard's order.

    Targets of another datasource type (or without text) are not listed: nothing here can run
    them, and a test asserting on this list would otherwise silently skip them — a caller that
    needs every target should read the model.
    """
    uid = str(model.get("uid", ""))
    found: list[PanelQuery] = []
    for panel in _panels(model.get("panels") or []):
        for target in panel.get("targets") or []:
            kind = _datasource_type(target.get("datasource"), panel.get("datasource"))
            field = QUERY_FIELDS.get(kind or "")
            text = target.get(field) if field else None
            if kind and isinstance(text, str) and text.strip():
                found.append(
                    PanelQuery(
                        dashboard=uid,
                        panel=str(panel.get("title", "")),
                        ref_id=str(target.get("refId", "")),
                        datasource_type=kind,
                        text=text,
                    )
                )
    for variable in (model.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        kind = _datasource_type(variable.get("datasource"))
        query = variable.get("query")
        if isinstance(query, dict):  # Grafana 10+ stores {"query": …, "refId": …} for InfluxDB
            ref_id = str(query.get("refId", variable.get("name", "")))
            query = query.get("query") or query.get("expr")
        else:
            ref_id = str(variable.get("name", ""))
        if kind in QUERY_FIELDS and isinstance(query, str) and query.strip():
            found.append(
                PanelQuery(
                    dashboard=uid,
                    panel=f"variable {variable.get('name', '')}",
                    ref_id=ref_id,
                    datasource_type=kind,
                    text=query,
                )
            )
    for annotation in (model.get("annotations") or {}).get("list") or []:
        kind = _datasource_type(annotation.get("datasource"))
        field = QUERY_FIELDS.get(kind or "")
        target = annotation.get("target") or {}
        text = (target.get(field) if field else None) or (annotation.get(field) if field else None)
        if kind and isinstance(text, str) and text.strip():
            found.append(
                PanelQuery(
                    dashboard=uid,
                    panel=f"annotation {annotation.get('name', '')}",
                    ref_id=str(target.get("refId", "Anno")),
                    datasource_type=kind,
                    text=text,
                )
            )
    return found


# `$var`, `${var}`, `${var:format}` and the legacy `[[var]]` / `[[var:format]]`.
_VARIABLE = re.compile(
    r"\$(?P<plain>\w+)|\$\{(?P<braced>\w+)(?::(?P<format>\w+))?\}"
    r"|\[\[(?P<legacy>\w+)(?::(?P<legacy_format>\w+))?\]\]"
)
# Characters Grafana's regex format escapes (its `escapeRegex`: JavaScript's special characters).
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]/]")


def _format(value: str, fmt: str | None, name: str) -> str:
    """One single-valued variable in one of Grafana's interpolation formats.

    >>> _format("sat.1", "regex", "satellite")
    'sat\\\\.1'
    >>> _format('a"b', "doublequote", "x")
    '"a\\\\"b"'
    """
    if fmt in (None, "raw", "text", "csv", "pipe", "glob", "distributed"):
        return value
    if fmt == "regex":
        return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)
    if fmt == "json":
        return json.dumps([value])
    if fmt == "doublequote":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if fmt == "singlequote":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if fmt == "queryparam":
        return f"var-{name}={value}"
    raise ValueError(f"variable {name!r}: format {fmt!r} is not one substitute() knows")


#: Grafana's "nice" query intervals: a raw interval up to the first bound becomes the second.
_NICE_INTERVALS_S = (
    (0.015, 0.01),
    (0.035, 0.02),
    (0.075, 0.05),
    (0.15, 0.1),
    (0.35, 0.2),
    (0.75, 0.5),
    (1.5, 1),
    (3.5, 2),
    (7.5, 5),
    (12.5, 10),
    (17.5, 15),
    (25, 20),
    (45, 30),
    (90, 60),
    (210, 120),
    (450, 300),
    (750, 600),
    (1050, 900),
    (1500, 1200),
    (2700, 1800),
    (5400, 3600),
    (9000, 7200),
    (16200, 10800),
    (32400, 21600),
    (86400, 43200),
    (604800, 86400),
    (1814400, 604800),
    (3628800, 2592000),
)


def query_interval_s(
    range_s: float, *, max_data_points: int = 1000, min_interval_s: float = 0.0
) -> float:
    """The interval Grafana gives a query (`v.windowPeriod`, `$__interval`): the time range over
    the panel's maximum data points (by default its width in pixels, ~1000 on a wide screen),
    rounded to a "nice" interval, never below the panel's or datasource's minimum interval.

    >>> query_interval_s(6 * 3600), query_interval_s(6000, max_data_points=200)
    (20, 30)
    """
    raw = range_s / max(1, max_data_points)
    nice: float = next((to for bound, to in _NICE_INTERVALS_S if raw <= bound), 31536000)
    if raw <= 0.01:
        nice = 0.001
    return max(nice, min_interval_s)


def _rfc3339(moment: datetime) -> str:
    """Grafana's Go backend writes time.RFC3339Nano: no trailing zeros, `Z` for UTC."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _prometheus_duration(seconds: float) -> str:
    """A PromQL duration as Grafana writes `$__interval`: whole seconds, or milliseconds.

    >>> _prometheus_duration(15), _prometheus_duration(0.5), _prometheus_duration(3600)
    ('15s', '500ms', '3600s')
    """
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def substitute(
    text: str,
    variables: Mapping[str, str],
    *,
    start: datetime,
    stop: datetime,
    interval_s: float,
    bucket: str | None = None,
    scrape_interval_s: float = 15.0,
) -> str:
    """`text` as Grafana sends it for the time range [`start`, `stop`) and query interval.

    Template variables in any of Grafana's syntaxes (single values; formats raw, regex, pipe,
    csv, json, doublequote, singlequote, queryparam, glob), then the InfluxDB Flux macros as
    Grafana's InfluxDB backend expands them (`v.timeRangeStart`/`v.timeRangeStop` as RFC3339 time
    literals, `v.windowPeriod` as a millisecond duration, `v.defaultBucket` as a string when
    `bucket` is given) and Prometheus' `$__interval`, `$__interval_ms`, `$__rate_interval` (the
    larger of interval + scrape interval and 4 × scrape interval) and `$__range`. An unknown
    variable raises ValueError naming it: Grafana would send the text unchanged and the
    datasource would fail on it anyway.
    """
    if stop <= start:
        raise ValueError(f"time range: stop {stop.isoformat()} is not after start")
    if interval_s <= 0:
        raise ValueError(f"interval_s: {interval_s!r} is not positive")
    range_s = (stop - start).total_seconds()
    rate_s = max(interval_s + scrape_interval_s, 4 * scrape_interval_s)
    builtins = {
        "__interval": _prometheus_duration(interval_s),
        "__interval_ms": str(round(interval_s * 1000)),
        "__rate_interval": _prometheus_duration(rate_s),
        "__range": _prometheus_duration(range_s),
        "__range_s": str(round(range_s)),
        "__range_ms": str(round(range_s * 1000)),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group("plain") or match.group("braced") or match.group("legacy")
        fmt = match.group("format") or match.group("legacy_format")
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise ValueError(f"variable {name!r} has no value (given: {sorted(variables)})")
        return _format(variables[name], fmt, name)

    result = _VARIABLE.sub(replace, text)
    result = result.replace("v.timeRangeStart", _rfc3339(start))
    result = result.replace("v.timeRangeStop", _rfc3339(stop))
    result = result.replace("v.windowPeriod", f"{max(1, round(interval_s * 1000))}ms")
    if bucket is not None:
        result = result.replace("v.defaultBucket", json.dumps(bucket))
    return result
