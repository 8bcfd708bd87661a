"""values.yaml is the chart's user interface: one value per operator setting, every value
explained, and a schema that rejects what the operator would refuse at start-up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mpcs.dev import chart
from mpcs.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / chart.CHART
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(SCHEMA)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the defaults (maps merge, everything else replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def test_operator_settings_map_one_to_one_onto_values() -> None:
    keys = list(VALUES["operator"]["settings"])
    assert keys == [s.value_key for s in chart.settings()]


def test_setting_defaults_are_the_operators_own() -> None:
    """A value's default is the operator's default, so installing with defaults changes nothing
    the settings docs say; only the chart-filled image values and the secret references differ."""
    values = VALUES["operator"]["settings"]
    for setting in chart.settings():
        value = values[setting.value_key]
        default = OperatorSettings.model_fields[setting.field].default
        if setting.secret:
            assert value == {"name": "", "key": chart.SECRET_DEFAULT_KEYS[setting.field]}
        elif setting.field in chart.CHART_FALLBACKS:
            assert value is None
        else:
            assert value == default, setting.value_key


def _uncommented(lines: list[str]) -> list[str]:
    """Keys with no comment line right above them and no commented ancestor.

    A section key (`image:`) may go without its own comment when each of its children has one;
    the children of a commented key (a Kubernetes object such as `resources`, a Secret
    reference's `name`/`key`) are explained by it.
    """
    open_keys: list[tuple[int, bool]] = []  # (indent, explained) of the enclosing keys
    missing = []
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while open_keys and open_keys[-1][0] >= indent:
            open_keys.pop()
        commented = index > 0 and lines[index - 1].strip().startswith("#")
        inherited = bool(open_keys) and open_keys[-1][1]
        section = line.rstrip().endswith(":")
        if not (commented or inherited or section):
            missing.append(f"line {index + 1}: {line.strip()}")
        open_keys.append((indent, commented or inherited))
    return missing


def test_every_value_has_a_comment() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert not _uncommented(lines)


def test_the_comment_check_finds_an_uncommented_value() -> None:
    lines = [
        "image:",
        "  # -- Image repository.",
        "  repository: x",
        "  tag: ''",
        "# -- Resources.",
        "resources:",
        "  limits:",
        "    memory: 1Gi",
    ]
    assert _uncommented(lines) == ["line 4: tag: ''"]


def test_schema_is_self_contained() -> None:
    assert '"$ref"' not in json.dumps(SCHEMA)
    jsonschema.Draft7Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_defaults_and_scenarios_satisfy_the_schema(scenario: Path) -> None:
    values = _merged(VALUES, yaml.safe_load(scenario.read_text()) or {})
    errors = sorted(_validator().iter_errors(values), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"operator": {"settings": {"metricsPort": 0}}}, ["operator", "settings", "metricsPort"]),
        ({"operator": {"settings": {"logLevel": "TRACE"}}}, ["operator", "settings", "logLevel"]),
        (
            {"operator": {"settings": {"peeringLifetime": 2}}},
            ["operator", "settings", "peeringLifetime"],
        ),
        (
            {"operator": {"settings": {"alertsTopicArn": "sns-topic"}}},
            ["operator", "settings", "alertsTopicArn"],
        ),
        ({"operator": {"settings": {"kafkaBoostrap": "k:9092"}}}, ["operator", "settings"]),
        (
            {"operator": {"settings": {"influxToken": "plain-text-token"}}},
            ["operator", "settings", "influxToken"],
        ),
        ({"image": {"pullPolicy": "Sometimes"}}, ["image", "pullPolicy"]),
        ({"serviceMonitor": {"enable": True}}, ["serviceMonitor"]),
    ],
)
def test_schema_rejects_what_the_operator_or_kubernetes_would(
    override: dict[str, Any], path: list[str]
) -> None:
    errors = list(_validator().iter_errors(_merged(VALUES, override)))
    assert [list(e.absolute_path) for e in errors] == [path]


def test_schema_bounds_are_the_settings_bounds() -> None:
    """The schema copies each setting's pydantic bounds, so `helm install` refuses a value the
    operator would exit on (MPCS_PEERING_LIFETIME must be 5–3600, and so on)."""
    properties = SCHEMA["properties"]["operator"]["properties"]["settings"]["properties"]
    assert properties["peeringLifetime"]["minimum"] == 5
    assert properties["peeringLifetime"]["maximum"] == 3600
    assert properties["passHorizonHours"]["exclusiveMinimum"] == 0
    assert (
        properties["grafanaInstanceSelector"]["pattern"]
        == (
            OperatorSettings.model_json_schema()["properties"]["grafana_instance_selector"][
                "pattern"
            ]
        )
    )
    for setting in chart.settings():
        assert properties[setting.value_key]["description"].startswith(f"{setting.env}: ")
