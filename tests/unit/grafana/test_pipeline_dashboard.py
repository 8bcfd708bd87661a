"""The pipeline dashboard's queries, read without Prometheus: what a wrong label or a counter read
without rate() would get past a test that only asks whether a query returns data."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY, CollectorRegistry
from utils.doctests import run_doctests

from mpcs.core.names import PROMETHEUS_LABELS
from mpcs.grafana import pipeline
from mpcs.grafana.context import MissionContext
from mpcs.grafana.queries import panel_queries
from mpcs.operator import metrics as operator_metrics
from mpcs.workloads.api.metrics import ApiMetrics
from mpcs.workloads.ingest.metrics import IngestMetrics

CONTEXT = MissionContext("ops", "wildfire")
MODEL = pipeline.build(CONTEXT)
QUERIES = panel_queries(MODEL)
OPERATOR_PANELS = {"Operator reconciles", "Operator reconcile errors"}
#: A metric name followed by its selector, and whether `rate(` opens right before it.
_METRIC = re.compile(r"(?P<rate>rate\()?(?P<name>mpcs_\w+)\{")


def test_doctests() -> None:
    run_doctests(pipeline)


def test_identity_and_the_datasource_users_pick() -> None:
    assert MODEL["uid"] == CONTEXT.dashboard_uid("pipeline")
    (variable,) = MODEL["templating"]["list"]
    assert (variable["type"], variable["name"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    used = {"prometheus", "${datasource}"}
    for panel in MODEL["panels"]:
        assert {panel["datasource"]["type"], panel["datasource"]["uid"]} == used
        for target in panel["targets"]:
            assert {target["datasource"]["type"], target["datasource"]["uid"]} == used


def test_titles_are_unique_and_every_panel_has_a_query() -> None:
    titles = [panel["title"] for panel in MODEL["panels"]]
    assert len(titles) == len(set(titles))
    assert {q.panel for q in QUERIES} == set(titles)


def test_mission_panels_select_the_missions_processes_by_the_scrape_labels() -> None:
    assert PROMETHEUS_LABELS == ("namespace", "mission", "component")
    for query in QUERIES:
        selectors = re.findall(r"\{([^}]*)\}", query.text)
        assert selectors, query
        for selector in selectors:
            if query.panel in OPERATOR_PANELS:
                # One operator serves every namespace and mission; its series carry neither.
                assert selector == 'component="operator"', query
            else:
                assert selector.startswith('namespace="ops",mission="wildfire",component="'), query


def _exposed() -> dict[str, bool]:
    """Every series name the services expose, and whether it is cumulative (a counter's
    `_total`, a histogram's `_bucket`) rather than a gauge: read from their own registries."""
    ingest = CollectorRegistry()
    IngestMetrics(ingest)
    assert operator_metrics.RECONCILES  # registered in the default registry on import
    registries = (ingest, ApiMetrics().registry, REGISTRY)
    names: dict[str, bool] = {}
    for family in (f for r in registries for f in r.collect() if f.name.startswith("mpcs_")):
        if family.type == "counter":
            names[f"{family.name}_total"] = True
        elif family.type == "histogram":
            names[f"{family.name}_bucket"] = True
        else:
            names[family.name] = False
    return names


def test_every_metric_exists_and_only_cumulative_ones_are_read_through_rate() -> None:
    exposed = _exposed()
    found = [(m["name"], bool(m["rate"])) for q in QUERIES for m in _METRIC.finditer(q.text)]
    assert len(found) == len(QUERIES)  # one metric per query, each seen by the pattern
    for name, in_rate in found:
        assert name in exposed, f"{name}: no service exposes it"
        cumulative = exposed[name]
        assert in_rate == cumulative, f"{name}: {'not ' if cumulative else ''}inside rate()"
    quantiles = [q.text for q in QUERIES if "histogram_quantile" in q.text]
    assert quantiles
    assert all("sum by (le) (rate(" in text for text in quantiles)
