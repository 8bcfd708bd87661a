"""py-spy around a measured process, for the benchmarks that profile what they measure.

Set MPCS_BENCH_PY_SPY to a py-spy binary to get collapsed stacks of the process under test;
unset, the benchmarks run unprofiled (py-spy costs CPU on the same cores).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def start_py_spy(pid: int, out: Path, *, rate: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling `pid` into `out` when MPCS_BENCH_PY_SPY names the binary, else None."""
    binary = os.environ.get("MPCS_BENCH_PY_SPY")
    if not binary:
        return None
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
    return subprocess.Popen(
        [*command, "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(profiler: subprocess.Popen[bytes] | None, out: Path) -> None:
    """Let py-spy write its file (it does on SIGINT) and say where it is."""
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)
    profiler.wait()
    print(f"profile (py-spy collapsed stacks): {out}")
