"""`mpcs dev up/status/down` as a user runs them: a detached stack that `down` removes entirely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mpcs.dev import tools
from mpcs.dev.process import pid_alive

pytestmark = pytest.mark.integration

MPCS = [sys.executable, "-m", "mpcs.cli"]


def _mpcs(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*MPCS, *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_dev_up_kubectl_then_down_leaves_no_process(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    up = _mpcs("dev", "up", "--dir", str(root))
    assert "kubeconfig:" in up.stdout
    assert "prometheus:" in up.stdout
    state = json.loads((root / "state.json").read_text())
    pids = [pid for pid in state["pids"].values() if pid]
    try:
        # etcd, kube-apiserver, kube-controller-manager, Kafka, InfluxDB, moto, Prometheus
        assert len(pids) == 7
        assert all(pid_alive(p) for p in pids)
        kubeconfig = state["connection"]["kubeconfig"]
        kubectl = subprocess.run(
            [
                str(tools.binary("kubectl")),
                "--kubeconfig",
                kubeconfig,
                "get",
                "namespaces",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert "namespace/default" in kubectl.stdout, kubectl.stderr
        assert _mpcs("dev", "status", "--dir", str(root)).returncode == 0
    finally:
        down = _mpcs("dev", "down", "--dir", str(root))
    assert "stopped:" in down.stdout
    assert not [p for p in pids if pid_alive(p)]
    assert _mpcs("dev", "status", "--dir", str(root), check=False).returncode == 1
