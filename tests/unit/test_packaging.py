"""The wheel a user installs: every runtime package, no developer tooling, one `mpcs` command.

The wheel is built as CI and `pip install` build it (`uv build --wheel`: hatchling in an isolated
build environment), for this project only: its native dependency `mpcs-lineproto` is a separate
distribution and is not rebuilt. The file list is what `only-include` in pyproject.toml makes of
the component folders; the CLI is then run from the unpacked wheel, where `mpcs.dev` (which only a
source checkout has) cannot be found, to show the image's `mpcs` works without it.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer

from mpcs.dev import tools

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The packages a user's install must hold, from the orbit maths up to the CLI root.
SHIPPED = ("cli", "orbit", "kit", "core", "operator", "simulator", "workloads", "lambdas")

#: Sub-commands every image has, whatever else is added beside them.
COMPONENT_COMMANDS = {"api", "crds", "grafana", "ingest", "lambdas", "operator", "sim"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    argv = [str(tools.uv()), "build", "--wheel", "--no-progress", "--out-dir", str(out)]
    result = subprocess.run(
        [*argv, str(REPO_ROOT)], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("mpcs-*.whl")
    return built


def _packages(names: list[str]) -> set[str]:
    """`mpcs.<x>` packages in a file list: directories directly under `mpcs/`."""
    return {
        name.split("/")[1] for name in names if name.startswith("mpcs/") and name.count("/") > 1
    }


def test_wheel_ships_the_runtime_packages_and_not_the_dev_tooling(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = _packages(names)
    assert "dev" not in packages
    assert set(SHIPPED) <= packages, sorted(set(SHIPPED) - packages)
    for package in SHIPPED:  # a folder of data alone would not import
        assert any(re.fullmatch(rf"mpcs/{package}/\w+\.py", name) for name in names), package
    # `mpcs` is a namespace package (docs/architecture.md): an __init__ would hide other slices.
    assert "mpcs/__init__.py" not in names
    assert {name.split("/")[0] for name in names} == {
        "mpcs",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    assert not [name for name in names if "__pycache__" in name or "/tests/" in name]


def test_wheel_console_script_is_the_cli_root(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [
            n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")
        ]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == {"mpcs": "mpcs.cli:app"}


# Runs in a fresh interpreter: the checkout's component folders (put on sys.path by the editable
# install's .pth) are replaced by the unpacked wheel, so `mpcs` is exactly what a user installs.
_FROM_THE_WHEEL = """
import importlib.util, json, os, sys
unpacked, checkout = sys.argv[1], sys.argv[2]
sys.path[:] = [unpacked] + [p for p in sys.path if p and os.path.dirname(p) != checkout]
import typer
import mpcs.cli
print(json.dumps({
    "cli": mpcs.cli.__file__,
    "dev_found": importlib.util.find_spec("mpcs.dev") is not None,
    "commands": sorted(typer.main.get_command(mpcs.cli.app).commands),
}), flush=True)
mpcs.cli.app(["--help"], prog_name="mpcs")
"""


def test_cli_from_the_wheel_runs_without_the_dev_tooling(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    result = subprocess.run(
        [sys.executable, "-c", _FROM_THE_WHEEL, str(unpacked), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    facts_line, help_text = result.stdout.split("\n", 1)
    facts = json.loads(facts_line)
    assert Path(facts["cli"]).is_relative_to(unpacked), facts["cli"]
    assert not facts["dev_found"]
    assert "dev" not in facts["commands"]
    assert set(facts["commands"]) >= COMPONENT_COMMANDS
    # What a user reads: one row per command; `sim` is there (the pattern does match rows), `dev`
    # is not.
    assert re.search(r"^\W*sim\s", help_text, re.MULTILINE), help_text
    assert not re.search(r"^\W*dev\s", help_text, re.MULTILINE), help_text


def test_checkout_cli_has_the_dev_commands() -> None:
    from mpcs.cli import app
    from mpcs.dev.cli import app as dev_app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert set(group.commands) >= {*COMPONENT_COMMANDS, "dev"}
    dev = group.commands["dev"]
    assert isinstance(dev, typer.core.TyperGroup)
    assert set(dev.commands) == set(typer.main.get_command(dev_app).commands)
