"""What every benchmark result records about the run: the commit measured and the machine."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def commit() -> str:
    """The short hash of the commit measured (a results file without it cannot be compared)."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    ).stdout.strip()


def machine() -> dict[str, Any]:
    """Platform, Python, CPU count and the commit; callers add the load averages they sampled."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "commit": commit(),
    }
