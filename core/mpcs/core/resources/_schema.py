"""Turn the pydantic resource models into Kubernetes structural OpenAPI v3 schemas.

The models in this package are the one source of truth for the four kinds; `crds.py` calls
`structural_schema(Model)` to get the `openAPIV3Schema` of a spec or status. Pydantic emits JSON
Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3.0 subset, so this module:

- inlines `$ref`s (structural schemas have no references),
- turns `Optional[X]` (`anyOf: [X, null]`) into plain `X` (absence is how a field is unset),
- turns numeric `exclusiveMinimum`/`exclusiveMaximum` into OpenAPI 3.0's boolean form,
- drops `title`, `additionalProperties: false` and empty-list defaults,
- states an int64 maximum as `format: int64` (the API server cannot hold 2^63-1 as a bound),
- turns `dict[str, Any]` into `x-kubernetes-preserve-unknown-fields: true`,
- turns a default sub-object into `default: {}` so that the API server fills in its fields'
  own defaults (the stored object then shows every effective value),
- backs every fractional bound of a number with a CEL rule: the API server compares an integer
  input with `int64(bound)`, so `0` passes `minimum: 0.1`; CEL compares the value as a double.

CEL rules travel in `json_schema_extra` as `x-kubernetes-validations` (see `cel()`), so the rule
sits beside the field it guards; the Python validators of the models enforce the same rules for code
that builds or parses objects without an API server.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

_INT64_MAX = 2**63 - 1
_DROP = frozenset({"title", "$defs"})
#: Keys first in every node, for readable YAML; the rest follow alphabetically.
_ORDER = {"type": 0, "format": 1, "description": 2, "default": 3}


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `field_path` (e.g. `.line2`) names the field."""
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> JsonSchema:
    """`json_schema_extra` carrying CEL rules."""
    return {"x-kubernetes-validations": list(rules)}


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of `model` (by alias, i.e. the camelCase wire names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, JsonSchema] = raw.get("$defs", {})
    return _convert(raw, defs)


def _resolve(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Merge `$ref` and single-type `anyOf` (Optional) into one plain node."""
    node = dict(node)
    while True:
        if "$ref" in node:
            target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
            # Keys beside the reference (description, default, CEL rules) win over the target's.
            node = {**target, **node}
            continue
        if "anyOf" in node:
            branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
            if len(branches) != 1:
                raise ValueError(f"a CRD field must have exactly one type, got {branches}")
            if node.get("default", 0) is None:
                del node["default"]
            node = {**branches[0], **node}
            continue
        return node


def _convert(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    node = _resolve(node, defs)
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _convert(value, defs)
            # `false` (extra="forbid") is the structural default: unknown fields are pruned.
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "default":
            if isinstance(value, dict):
                out[key] = {}
            elif isinstance(value, list) and not value:
                continue
            else:
                out[key] = value
        else:
            out[key] = value
    if out.get("type") == "integer" and out.get("maximum") == _INT64_MAX:
        # The API server holds bounds as float64, and 2^63-1 rounds to 2^63, which overflows when
        # it is converted back for an integer field; `format: int64` states the same bound.
        del out["maximum"]
        out["format"] = "int64"
    if out.get("type") == "object" and "properties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "number":
        rules = _fractional_bound_rules(out)
        if rules:
            out["x-kubernetes-validations"] = [*out.get("x-kubernetes-validations", ()), *rules]
    return dict(sorted(out.items(), key=lambda item: (_ORDER.get(item[0], 9), item[0])))


def _fractional_bound_rules(node: JsonSchema) -> list[dict[str, str]]:
    """CEL rules restating `node`'s non-integral `minimum`/`maximum` (see the module docstring).

    The messages are the OpenAPI check's own words, so a fractional input is refused with the
    same text whichever check catches it.

    >>> _fractional_bound_rules({"type": "number", "minimum": 0.1, "maximum": 3600})
    [{'message': 'should be greater than or equal to 0.1', 'rule': 'self >= 0.1'}]
    >>> _fractional_bound_rules({"type": "number", "minimum": 0, "maximum": 1})
    []
    """
    rules: list[dict[str, str]] = []
    for key, strict, loose, word in (
        ("minimum", ">", ">=", "greater"),
        ("maximum", "<", "<=", "less"),
    ):
        bound = node.get(key)
        if bound is None or float(bound).is_integer():
            continue
        exclusive = node.get("exclusive" + key[0].upper() + key[1:]) is True
        op = strict if exclusive else loose
        text = f"should be {word} than" + ("" if exclusive else " or equal to")
        # Sorted keys, like the rules pydantic passes through from `json_schema_extra`.
        rules.append(dict(sorted(cel(f"self {op} {float(bound)!r}", f"{text} {bound}").items())))
    return rules
