"""What the image tier's conftest and tests share: where, which tag, and how podman is called."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/mpcs:image-tier"
#: The same global flags and limits scripts/build-image uses: the sandbox refuses cgroup v2
#: delegation and raising rlimits.
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")

Run = Callable[..., subprocess.CompletedProcess[str]]


class Built(NamedTuple):
    """An image scripts/build-image made: tag, commit built from, seconds it took."""

    tag: str
    revision: str
    seconds: float
