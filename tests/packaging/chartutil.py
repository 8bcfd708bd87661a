"""Rendering charts/mpcs with the bootstrap's helm, shared by the packaging tests."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mpcs.dev import tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mpcs"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
#: The apiserver the dev stack runs, which the chart is rendered and validated for.
KUBE_VERSION = tools.KUBE_VERSION.removeprefix("v")


def helm(*argv: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run helm; the caller asserts on the exit code (and names stderr when it fails)."""
    return subprocess.run(
        [str(tools.binary("helm")), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


@cache
def render(values_file: Path | None = None, *sets: str) -> tuple[dict[str, Any], ...]:
    """`helm template` of the chart (its crds/ included) as a tuple of manifests."""
    argv = ["template", "rel", str(CHART), "--namespace", "ops", "--kube-version", KUBE_VERSION]
    argv += ["--include-crds"]
    if values_file is not None:
        argv += ["--values", str(values_file)]
    for item in sets:
        argv += ["--set", item]
    result = helm(*argv)
    assert result.returncode == 0, f"helm template failed: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def only(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    """The one manifest of `kind`; fails when there is none or more than one."""
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} manifests rendered"
    return found[0]


def values_of(values_file: Path | None) -> dict[str, Any]:
    """The chart's values.yaml with `values_file` merged over it, the way helm merges them."""
    base: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    override = yaml.safe_load(values_file.read_text()) if values_file else None
    return _merged(base, override or {})


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out
