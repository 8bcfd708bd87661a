"""Process handling of the dev stack: a stopped server leaves no process in its group."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mpcs.dev.process import free_port, pid_alive, port_open, spawn, stop_group, tail


def test_stop_group_ends_the_server_and_its_children(tmp_path: Path) -> None:
    # A parent that forks a grandchild ignoring SIGTERM: both must be gone after stop_group.
    script = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "server.log"
    proc = spawn([sys.executable, "-c", script], log=log, die_with_parent=True)
    deadline = time.monotonic() + 10
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(log.read_text().split()[0])
    stop_group(proc.pid, proc=proc, timeout_s=1.0)
    time.sleep(0.2)
    assert not pid_alive(proc.pid)
    assert not pid_alive(grandchild)


def test_free_port_is_free_and_tail_reads_the_end(tmp_path: Path) -> None:
    assert not port_open(free_port())
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99"
    assert "no log" in tail(tmp_path / "missing.log")


def test_free_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    # An ephemeral port can be taken by any outgoing connection before the server binds it
    # (seen: kube-controller-manager "address already in use").
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(100)]
    assert len(set(ports)) == len(ports)
    assert all(not low <= port <= high for port in ports)
