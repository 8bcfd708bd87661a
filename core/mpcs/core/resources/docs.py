"""docs/resources.md, rendered from the CRD schemas (`mpcs crds generate` writes it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mpcs.core.names import API_VERSION

from ._schema import JsonSchema
from .crds import KINDS, REGENERATE, KindInfo, openapi_schema


def _type(node: JsonSchema) -> str:
    kind = str(node.get("type", "any"))
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if node.get("format"):
        return f"{kind} ({node['format']})"
    if node.get("x-kubernetes-preserve-unknown-fields") and kind == "object":
        return "object (free-form)"
    return kind


def _value(value: Any) -> str:
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _constraints(node: JsonSchema) -> str:
    parts: list[str] = []
    if "enum" in node:
        parts.append("one of " + ", ".join(_value(v) for v in node["enum"]))
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None or high is not None:
        left = "(" if node.get("exclusiveMinimum") else "["
        right = ")" if node.get("exclusiveMaximum") else "]"
        lo = "…" if low is None else _fmt(low)
        hi = "…" if high is None else _fmt(high)
        parts.append(f"{left}{lo}, {hi}{right}")
    for key, label in (("minLength", "min length"), ("maxLength", "max length")):
        if key in node:
            parts.append(f"{label} {node[key]}")
    for key, label in (("minItems", "min items"), ("maxItems", "max items")):
        if key in node:
            parts.append(f"{label} {node[key]}")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    return "; ".join(parts)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _rows(node: JsonSchema, prefix: str, required: bool) -> Iterator[tuple[str, ...]]:
    """(field, type, required, default, constraints, description) for `node` and its children."""
    if prefix:
        default = _value(node["default"]) if "default" in node else ""
        yield (
            f"`{prefix}`",
            _type(node),
            "yes" if required else "",
            default,
            _constraints(node),
            " ".join(str(node.get("description", "")).split()),
        )
    child = node.get("items", node) if node.get("type") == "array" else node
    mandatory = set(child.get("required", ()))
    base = f"{prefix}[]" if node.get("type") == "array" else prefix
    for name, sub in child.get("properties", {}).items():
        path = f"{base}.{name}" if base else name
        yield from _rows(sub, path, name in mandatory)


def _rules(node: JsonSchema, prefix: str) -> Iterator[tuple[str, str, str]]:
    """(where, rule, message) of every CEL rule under `node`."""
    for rule in node.get("x-kubernetes-validations", ()):
        where = prefix + rule.get("fieldPath", "")
        yield where or "(root)", rule["rule"], rule["message"]
    if node.get("type") == "array":
        yield from _rules(node.get("items", {}), f"{prefix}[]")
    for name, sub in node.get("properties", {}).items():
        yield from _rules(sub, f"{prefix}.{name}" if prefix else name)


def _table(rows: Iterator[tuple[str, ...]]) -> list[str]:
    out = [
        "| Field | Type | Required | Default | Accepted | Description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return out


def _kind_section(info: KindInfo) -> list[str]:
    schema = openapi_schema(info)
    spec, status = schema["properties"]["spec"], schema["properties"]["status"]
    out = [
        f"## {info.kind}",
        "",
        f"`{API_VERSION}`, namespaced, short name `{info.short_name}`, plural `{info.plural}`, "
        "category `mpcs`, status subresource.",
        "",
        info.description,
        "",
        "### spec",
        "",
        *_table(_rows(spec, "", True)),
    ]
    rules = list(_rules(spec, "spec"))
    if rules:
        out += ["", "CEL rules (enforced by the API server):", ""]
        for where, rule, message in rules:
            out.append(f"- `{where}`: {message} — `{rule}`")
    out += ["", "### status", "", *_table(_rows(status, "", True))]
    columns = ", ".join(
        c["name"] + (" (wide)" if c.get("priority") else "") for c in info.printer_columns
    )
    out += ["", f"`kubectl get {info.short_name}` columns: {columns}.", ""]
    return out


def render_markdown() -> str:
    """The whole reference page."""
    out = [
        "# Resources",
        "",
        "<!-- GENERATED from core/mpcs/core/resources by `" + REGENERATE + "`; do not edit "
        "(a unit test fails when this file is stale). -->",
        "",
        "MPCS has four kinds in `" + API_VERSION + "`. `kubectl get mpcs` lists all of them. "
        "Fields are camelCase; numbers carry their unit in the name. Every bound, enum, pattern "
        "and CEL rule below is enforced by the API server, so an invalid object is "
        "rejected with the field named (a fractional bound is also a CEL rule: the API server's "
        "own bound check truncates it for an integer input, so `0` would pass `[0.1, …]`; a rule "
        "on `oldSelf` refuses a change, not a value). What CEL cannot check — TLE checksums, "
        "that referenced objects exist, command names and arguments against the command dictionary "
        "(docs/commands.md), alert channels against the telemetry catalogue (docs/telemetry.md) "
        "— the operator checks and reports as a condition and an Event.",
        "",
        "Time fields are RFC 3339 date-times (UTC, e.g. `2025-06-01T12:00:00Z`). Intervals "
        "`[a, b]` are inclusive, `(a, b]` excludes `a`.",
        "",
        "Satellite faults: `start` (a date-time) or `startOffsetSeconds` (seconds after the "
        "simulation start), at most one; neither means at the simulation start.",
        "",
    ]
    for info in KINDS:
        out += _kind_section(info)
    return "\n".join(out)
