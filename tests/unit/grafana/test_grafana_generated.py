"""grafana/dashboards/*.json are what the code generates now, and `mpcs grafana` says so.

The files are reviewed in pull requests and imported by hand; a change to a dashboard module
without `mpcs grafana generate` would leave them describing dashboards nobody runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mpcs.grafana import catalog
from mpcs.grafana.cli import GENERATED_NOTE, app, generated_files, mark_generated, stale_files

REPO_ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = REPO_ROOT / "grafana" / "dashboards"
EXAMPLES = REPO_ROOT / "examples"


def test_committed_dashboards_are_current() -> None:
    stale = stale_files(DASHBOARDS, EXAMPLES)
    assert stale == [], f"run `mpcs grafana generate` (stale: {[p.name for p in stale]})"


def test_one_file_per_dashboard_and_no_leftovers() -> None:
    expected = {f"{kind.slug}.json" for kind in catalog.dashboards()}
    assert {path.name for path in generated_files(DASHBOARDS, EXAMPLES)} == expected
    assert {path.name for path in DASHBOARDS.glob("*.json")} == expected


def test_generated_files_say_they_are_generated() -> None:
    for path, text in generated_files(DASHBOARDS, EXAMPLES).items():
        model = json.loads(text)
        assert model["description"].endswith(GENERATED_NOTE), path.name
        assert model["uid"].startswith("mpcs-default-wildfire-"), path.name


def test_mark_generated_keeps_the_description_and_copes_without_one() -> None:
    assert mark_generated({"description": "Fleet."})["description"] == f"Fleet. {GENERATED_NOTE}"
    assert mark_generated({})["description"] == GENERATED_NOTE


def test_generate_then_check_then_stale(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--out", str(tmp_path), "--examples", str(EXAMPLES)]
    result = runner.invoke(app, ["check", *args])
    assert result.exit_code == 1
    assert "stale: " in result.output
    assert "overview.json" in result.output

    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "overview.json").read_text() == (DASHBOARDS / "overview.json").read_text()
    result = runner.invoke(app, ["check", *args])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["generate", *args])
    assert result.output.count("unchanged") == len(catalog.dashboards())

    (tmp_path / "satellite.json").write_text("{}\n")
    result = runner.invoke(app, ["check", *args])
    assert result.exit_code == 1
    assert "satellite.json" in result.output
    assert "overview.json" not in result.output


def test_examples_without_a_mission_are_refused(tmp_path: Path) -> None:
    (tmp_path / "00-groundstations.yaml").write_text(
        (EXAMPLES / "00-groundstations.yaml").read_text()
    )
    with pytest.raises(ValueError, match="expected one Mission manifest, found 0"):
        generated_files(tmp_path / "out", tmp_path)
