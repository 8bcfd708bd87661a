"""The image tier: build the MPCS image with scripts/build-image and run it (docs/image.md).

Needs podman, buildah, runc and mmdebstrap (Debian packages; scripts/build-image installs them
with apt-get when it runs as root) and the package registries for the wheelhouse. Where neither the
tools nor root are there, the tier is skipped with that reason, except under CI (`CI` set), where
it fails: the project's CI machine is root with apt, so a missing tool there is a broken install.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time

import pytest
from imagerun import LIMITS, PODMAN, REPO_ROOT, TAG, Built, Run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "image: builds and runs the container image (podman)")


def _can_build() -> str | None:
    """Why the image cannot be built here, or None."""
    tools = ("podman", "buildah", "runc", "mmdebstrap")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        return f"needs {', '.join(missing)} (Debian packages) or root with apt-get to install them"
    return None


@pytest.fixture(scope="session")
def built() -> Built:
    """The image built from this checkout, once per run (about 5 minutes, docs/image.md)."""
    reason = _can_build()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"image tier under CI: {reason}")
        pytest.skip(reason)
    # The commit the build labels the image with (read before it: a shared work tree may move on).
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-image"), TAG],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
        env={**os.environ, "PODMAN": shlex.join(PODMAN)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    seconds = time.monotonic() - started
    print(f"image built in {seconds:.0f} s: {result.stdout.strip().splitlines()[-1]}")
    return Built(tag=TAG, revision=revision, seconds=seconds)


@pytest.fixture(scope="session")
def image(built: Built) -> str:
    return built.tag


@pytest.fixture(scope="session")
def run_image(image: str) -> Run:
    """`podman run` of the image as a Pod would run it: read-only root, no network."""

    def run(
        *args: str, stdin: str | None = None, entrypoint: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [*PODMAN, "run", "--rm", "-i", *LIMITS, "--read-only", "--network=none"]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        return subprocess.run(
            [*argv, image, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, "COLUMNS": "100"},
        )

    return run
