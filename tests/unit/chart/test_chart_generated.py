"""The chart's generated parts must match the Python they come from, or the chart lies.

The ClusterRole is the operator's real RBAC (rbac.py), the chart's crds/ the real CRDs, and the
settings env/schema/table the real `OperatorSettings`; a change to any of them without
`mpcs dev chart generate` must fail here, not in a user's cluster.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from mpcs.core.resources.crds import KINDS
from mpcs.core.resources.peering import PEERING_KINDS
from mpcs.dev import chart
from mpcs.operator import rbac
from mpcs.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / chart.CHART


def test_generated_files_are_current() -> None:
    stale = chart.stale_files(ROOT)
    assert not stale, f"stale: {[str(p) for p in stale]}; run `{chart.REGENERATE}`"


def test_chart_crds_are_the_repository_crds() -> None:
    expected = {info.file_name for info in KINDS} | {info.file_name for info in PEERING_KINDS}
    assert {p.name for p in (CHART / "crds").iterdir()} == expected
    for name in expected:
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes()


def test_cluster_role_template_holds_exactly_the_rbac_rules() -> None:
    text = (CHART / "templates" / "clusterrole.yaml").read_text()
    # Strip the template actions (lines that are only `{{ … }}` or inside the header comment)
    # and the templated metadata: what is left is plain YAML with the rules.
    body = text.split("rules:\n", 1)[1].rsplit("{{- end }}", 1)[0]
    assert yaml.safe_load(body) == rbac.RULES


def test_check_command_names_a_stale_file_and_generate_repairs_it(tmp_path: Path) -> None:
    shutil.copytree(CHART, tmp_path / chart.CHART)
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / chart.INSTALL_DOC, tmp_path / chart.INSTALL_DOC)
    # The CRDs come from the models, not from a crds/ directory under --root.
    role = tmp_path / chart.CHART / "templates" / "clusterrole.yaml"
    role.write_text(role.read_text().replace("- watch\n", "- watch\n  - delete\n", 1))
    runner = CliRunner()

    result = runner.invoke(chart.app, ["check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert f"stale: {role}" in result.output
    assert "values.schema.json" not in result.output

    assert runner.invoke(chart.app, ["generate", "--root", str(tmp_path)]).exit_code == 0
    assert runner.invoke(chart.app, ["check", "--root", str(tmp_path)]).exit_code == 0
    assert role.read_text() == chart.cluster_role_template()


def test_every_setting_has_a_doc_a_variable_and_one_table_row() -> None:
    table = chart.settings_table(yaml.safe_load((CHART / "values.yaml").read_text()))
    settings = chart.settings()
    assert [s.field for s in settings] == list(OperatorSettings.model_fields)
    for setting in settings:
        assert setting.doc, f"{setting.field} has no doc comment or description"
        rows = [row for row in table.splitlines() if f"`{setting.env}`" in row]
        assert len(rows) == 1, f"{setting.env}: {rows}"
        assert rows[0].startswith(f"| `{setting.value_key}` |")


def test_comment_docs_follow_the_block_above_each_field() -> None:
    docs = {s.field: s.doc for s in chart.settings()}
    # influx_org shares influx_url's block; aws_secret_access_key shares the access key's.
    assert docs["influx_org"] == docs["influx_url"]
    assert docs["aws_secret_access_key"] == docs["aws_access_key_id"]
    assert docs["influx_token_secret"].startswith("… or read from this Secret")
    # The base class's fields are documented by their pydantic descriptions.
    assert docs["metrics_port"].startswith("Port serving /healthz")


def test_settings_env_template_names_each_variable_once() -> None:
    text = (CHART / "templates" / "_settings.tpl").read_text()
    for setting in chart.settings():
        assert text.count(f"- name: {setting.env}\n") == 1, setting.env
        assert f"$s.{setting.value_key}" in text


def test_value_docs_read_multi_line_comments_by_dotted_path() -> None:
    docs = chart.value_docs(
        "# -- Top.\ntop: 1\nsection:\n  # -- First line\n  # and its continuation.\n"
        "  leaf: {}\n  # A plain comment documents nothing.\n  other: 2\n"
    )
    assert docs == {"top": "Top.", "section.leaf": "First line and its continuation."}


def test_values_table_lists_every_documented_value_but_the_settings() -> None:
    text = (CHART / "values.yaml").read_text()
    table = chart.values_table(text)
    documented = chart.value_docs(text)
    settings = [p for p in documented if p.startswith("operator.settings.")]
    assert len(settings) == len(chart.settings())  # each setting has its `# -- ` line
    for path in documented:
        row = f"| `{path}` |"
        assert (row in table) != (path in settings), path
