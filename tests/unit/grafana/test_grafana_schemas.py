"""Every mission dashboard is valid for Grafana 11: no server here, so Grafana's own JSON Schemas
(grafana/reference/schemas/) are the judge — the dashboard model, and each panel's `options` and
`fieldConfig.defaults.custom` against its panel kind's schema.

A panel kind without a vendored schema fails the test: vendor Grafana's schema for it first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mpcs.grafana import catalog
from mpcs.grafana.catalog import DashboardKind
from mpcs.grafana.context import MissionContext

SCHEMAS = Path(__file__).resolve().parents[3] / "grafana" / "reference" / "schemas"
KINDS = {kind.slug: kind for kind in catalog.dashboards()}


#: Where the vendored schemas (generated from Grafana's CUE) are stricter than Grafana itself,
#: which writes and reads these values: (definition, property) → the schema the test uses.
RELAXED: dict[tuple[str, str], dict[str, Any]] = {
    # The base step of every threshold list is `"value": null` (the schema's own description
    # says so: "Nulls currently appear here when serializing -Infinity to JSON").
    ("Threshold", "value"): {"type": ["number", "null"]},
    # Field matchers take their option as a string (`byName`: the field name, `byRegexp`: the
    # pattern) — TypeScript's `MatcherConfig<TOptions = any>` in @grafana/data.
    ("MatcherConfig", "options"): {},
    # An override's value is whatever the property takes (`unit`: a string, `mappings`: a list)
    # — `DynamicConfigValue.value?: any` in @grafana/data.
    ("DynamicConfigValue", "value"): {},
}


@cache
def _schema(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())
    for (definition, prop), schema in RELAXED.items():
        target = document.get("definitions", {}).get(definition)
        if target is not None:
            target["properties"][prop] = schema
    return document


def _validator(name: str, definition: str | None = None) -> jsonschema.Draft7Validator:
    schema = _schema(name)
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, instance: object) -> list[str]:
    """Every error where it is; for a panel (`oneOf` panel or row), those of its own kind."""
    found = []
    for error in validator.iter_errors(instance):
        errors = [error]
        if error.validator == "oneOf" and error.context:
            refs = [branch.get("$ref", "") for branch in error.schema.get("oneOf", [])]
            is_row = isinstance(error.instance, dict) and error.instance.get("type") == "row"
            want = "/RowPanel" if is_row else "/Panel"
            errors = [
                sub for sub in error.context if refs[int(sub.schema_path[0])].endswith(want)
            ] or errors
        found += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    return found


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> DashboardKind:
    return KINDS[request.param]


def test_dashboard_model_validates(kind: DashboardKind, context: MissionContext) -> None:
    model = kind.build(context)
    assert _errors(_validator("dashboard"), model) == []
    # Grafana's JSON, not Python objects that happen to serialise: a plain JSON round trip.
    assert json.loads(catalog.dumps(model)) == model


def test_panel_options_and_custom_field_config_validate(
    kind: DashboardKind, context: MissionContext
) -> None:
    model = kind.build(context)
    problems: dict[str, list[str]] = {}
    for panel in _panels(model):
        # Schema files are named after the plugin id without dashes (`state-timeline`).
        title, panel_type = panel.get("title", "?"), panel["type"].replace("-", "")
        assert (SCHEMAS / f"{panel_type}.jsonschema.json").is_file(), (
            f"panel {title!r}: no vendored schema for panel kind {panel_type!r}"
        )
        errors = _errors(_validator(panel_type, "Options"), panel.get("options", {}))
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            if "FieldConfig" in _schema(panel_type)["definitions"]:
                errors += _errors(_validator(panel_type, "FieldConfig"), custom)
            elif custom:
                errors.append(f"custom field config {custom!r} for a kind that has none")
        if errors:
            problems[title] = errors
    assert problems == {}


def test_panel_titles_are_unique(kind: DashboardKind, context: MissionContext) -> None:
    titles = Counter(panel.get("title") for panel in _panels(kind.build(context)))
    assert {title: n for title, n in titles.items() if n > 1} == {}
    assert None not in titles
    assert "" not in titles


def test_panel_ids_are_unique_and_panels_fit_the_grid(
    kind: DashboardKind, context: MissionContext
) -> None:
    model = kind.build(context)
    rows = [panel for panel in model.get("panels", []) if panel.get("type") == "row"]
    every = [*rows, *_panels(model)]
    # Grafana numbers panels without an id itself; ids that are given must not collide.
    ids = Counter(panel["id"] for panel in every if "id" in panel)
    assert {i: n for i, n in ids.items() if n > 1} == {}
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel.get("title")


def test_validation_catches_a_broken_panel() -> None:
    """The checks above can fail: a wrong option type is reported."""
    errors = _errors(_validator("timeseries", "Options"), {"legend": 1, "tooltip": {}})
    assert any(error.startswith("legend") for error in errors)


def test_validation_catches_a_broken_panel_inside_a_dashboard() -> None:
    model = {
        "schemaVersion": 41,
        "templating": {},
        "annotations": {},
        "panels": [
            {"type": "row", "collapsed": True, "id": 1, "panels": [{"type": "timeseries"}]},
            {"type": "timeseries", "id": 2, "gridPos": "top left"},
        ],
    }
    errors = _errors(_validator("dashboard"), model)
    assert errors == ["panels/1/gridPos: 'top left' is not of type 'object'"]
