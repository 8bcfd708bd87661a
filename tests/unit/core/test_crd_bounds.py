"""Every fractional bound in the generated CRDs is backed by a CEL rule.

The API server checks an integer input against `int64(minimum)`: `telemetryIntervalSeconds: 0`
passed `minimum: 0.1` until the generator added `self >= 0.1`. The apiserver half is in
tests/integration/operator (the catalogue's `*-integer` cases).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mpcs.core.resources.crds import crd_manifests


def _numbers(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if node.get("type") == "number":
        yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _numbers(sub, f"{path}.{name}")
    if "items" in node:
        yield from _numbers(node["items"], f"{path}[]")


def _fractional_bounds() -> list[tuple[str, str, float, bool, list[str]]]:
    found: list[tuple[str, str, float, bool, list[str]]] = []
    for crd in crd_manifests():
        (version,) = crd["spec"]["versions"]
        root = version["schema"]["openAPIV3Schema"]
        for path, node in _numbers(root, crd["spec"]["names"]["kind"]):
            for key in ("minimum", "maximum"):
                bound = node.get(key)
                if bound is not None and not float(bound).is_integer():
                    rules = [r["rule"] for r in node.get("x-kubernetes-validations", ())]
                    exclusive = node.get("exclusive" + key[0].upper() + key[1:]) is True
                    found.append((path, key, bound, exclusive, rules))
    return found


def test_the_satellite_interval_is_among_the_fractional_bounds() -> None:
    """The scan below finds something (a scan of nothing would pass by default)."""
    paths = {f[0] for f in _fractional_bounds()}
    assert "Satellite.spec.telemetryIntervalSeconds" in paths


@pytest.mark.parametrize("found", _fractional_bounds(), ids=lambda f: f"{f[0]}.{f[1]}")
def test_fractional_bound_has_a_cel_rule(found: Any) -> None:
    path, key, bound, exclusive, rules = found
    op = {"minimum": ">" if exclusive else ">=", "maximum": "<" if exclusive else "<="}[key]
    assert f"self {op} {float(bound)!r}" in rules, (path, key, bound, rules)
