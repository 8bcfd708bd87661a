"""Child-process handling for the dev stack: spawn with a log file, stop without orphans.

Every server runs in its own process group so stopping it also stops anything it forked. When the
stack is owned by a test run, the servers also get a parent-death signal from the kernel, so a
crashed or killed pytest leaves no server behind.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool,
) -> subprocess.Popen[bytes]:
    """Start a server with stdout+stderr appended to `log`, in a new process group."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(
    pid: int, *, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 15.0
) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout_s`.

    `proc` is the Popen when the caller started the server (so it is reaped, not left a zombie);
    `mpcs dev down` stops servers another process started and passes only the pid.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + (timeout_s if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()
            if not _group_alive(pid):
                break
            time.sleep(0.1)
        else:
            continue
        break
    if proc is not None:
        proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


#: Ports `free_port` handed out in this process (two servers of one stack must not share one).
_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 10_000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for automatically assigned ports (outgoing connections, bind to 0)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, outside the kernel's ephemeral range.

    A port from `bind(0)` is an ephemeral one: until the server that is given it binds it
    (seconds later for the controller-manager, which starts last), any outgoing connection on
    the machine may take it as its source port, and the server then fails with "address already
    in use". Ports outside that range are only ever taken by an explicit bind, which this checks.
    """
    low, high = _ephemeral_range()
    pool = range(_LOWEST_PORT, low) if low - _LOWEST_PORT >= 1_000 else range(high + 1, 65_536)
    for _ in range(200):
        port = random.choice(pool)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # all tried were taken
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file (the part a failing test's report shows)."""
    if not path.exists():
        return f"<no log at {path}>"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])
