"""Operator at scale: apply N Satellites, time until every one is Ready; RSS, CPU, API requests.

Baseline measured in the same run: server-side applying the same children (a ConfigMap and a
Deployment per Satellite) straight to the apiserver from this process with the same concurrency,
i.e. the apiserver-bound floor any operator has to pay. Results: bench/results/operator_scale.*

    .venv/bin/python bench/operator_scale.py [--sizes 100,500,1000] [--runs 3]

Each size runs `--runs` times (rounds interleaved across sizes, a fresh namespace each); the report
gives the median of the runs and their spread (min–max), never the best run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from machine import commit
from profiling import start_py_spy, stop_py_spy

from mpcs.core import names
from mpcs.core.resources import SatelliteSpec
from mpcs.core.resources.simulation import NamedGroundStation, SimulatorConfig
from mpcs.dev import cluster
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.stack import DevStack
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORKERS = 16


def _examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _apiserver_requests(stack: DevStack) -> dict[str, float]:
    """apiserver_request_total by `VERB resource[/subresource]`."""
    with urllib.request.urlopen(
        f"{stack.apiserver.url}/metrics", context=stack.apiserver.ssl_context(), timeout=10
    ) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for m in re.finditer(r"^apiserver_request_total\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        key = f"{labels.get('verb')} {labels.get('resource')}"
        key += f"/{labels['subresource']}" if labels.get("subresource") else ""
        counts[key] = counts.get(key, 0.0) + float(m.group(2))
    return counts


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {
        k: int(v - before.get(k, 0.0))
        for k, v in sorted(after.items(), key=lambda kv: -(kv[1] - before.get(kv[0], 0.0)))
        if v - before.get(k, 0.0) >= 1
    }


def _operator_errors(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(m.group(1))
        for m in re.finditer(r"^mpcs_operator_reconcile_errors_total\{[^}]*\} (\S+)$", text, re.M)
    )


class _RssSampler:
    """The peak RSS of a process, sampled in a thread every 0.2 s until `stop()`."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.peak_mb = proc.memory_info().rss / 1e6
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak_mb = max(self.peak_mb, self.proc.memory_info().rss / 1e6)
            except psutil.NoSuchProcess:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def _satellite(template: dict[str, Any], index: int) -> dict[str, Any]:
    sat = copy.deepcopy(template)
    sat["metadata"] = {"name": f"sat-{index:05d}"}
    sat["spec"]["simulator"]["seed"] = index
    sat["spec"].pop("noradId", None)
    return sat


def _parallel(fn: Any, items: list[Any]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for future in concurrent.futures.as_completed([pool.submit(fn, i) for i in items]):
            future.result()


def run_size(stack: DevStack, admin: Any, op_kubeconfig: Path, n: int, run: int) -> dict[str, Any]:
    """One run at one size, in its own namespace (deleted afterwards so runs do not pile up)."""
    namespace = f"scale-{n}-r{run}"
    custom = k8s.CustomObjectsApi(admin)
    k8s.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
    docs = _examples()
    for obj in docs:
        if obj["kind"] in ("GroundStation", "Mission"):
            custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, f"{obj['kind'].lower()}s", obj
            )
    template = next(o for o in docs if o["kind"] == "Satellite")
    metrics_port = free_port()
    conn = stack.connection_info()
    env = {
        "KUBECONFIG": str(op_kubeconfig),
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": conn.influx_token,
        "MPCS_METRICS_PORT": str(metrics_port),
        "MPCS_RESYNC_SECONDS": "300",
    }
    operator = spawn(
        [
            sys.executable,
            "-m",
            "mpcs.cli",
            "operator",
            "run",
            "--standalone",
            "--namespace",
            namespace,
        ],
        log=stack.root / "logs" / f"operator-{n}-r{run}.log",
        env=env,
        die_with_parent=True,
    )
    proc = psutil.Process(operator.pid)
    profile = stack.root / f"operator-{n}-r{run}.pyspy.txt"
    profiler = start_py_spy(operator.pid, profile, rate=50)
    time.sleep(3)  # let the operator settle on the mission before the burst
    requests_before = _apiserver_requests(stack)
    cpu_before = proc.cpu_times()
    # RSS sampled every 0.2 s from before the first create to all Ready: the creation burst is
    # where the operator's memory peaks (before, it was sampled only after the last create).
    sampler = _RssSampler(proc)
    started = time.monotonic()
    _parallel(
        lambda i: custom.create_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, "satellites", _satellite(template, i)
        ),
        list(range(n)),
    )
    created_s = time.monotonic() - started
    burst_peak_rss = sampler.peak_mb
    ready = 0
    while time.monotonic() - started < 600:
        items = custom.list_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, "satellites"
        )["items"]
        ready = sum(
            1
            for s in items
            if (s.get("status") or {}).get("phase") == "Ready"
            and s["status"].get("observedGeneration") == s["metadata"]["generation"]
        )
        if ready == n:
            break
        time.sleep(0.5)
    all_ready_s = time.monotonic() - started
    peak_rss = sampler.stop()
    cpu_after = proc.cpu_times()
    cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    # Our own requests: n creates + the polling lists (one per 0.5 s).
    own = n + int(all_ready_s / 0.5) + 1
    by_kind = _delta(_apiserver_requests(stack), requests_before)
    requests = sum(by_kind.values()) - own
    errors = _operator_errors(metrics_port)
    stop_py_spy(profiler, profile)
    stop_group(operator.pid, proc=operator)
    baseline_s = _baseline(admin, namespace, n)
    k8s.CoreV1Api(admin).delete_namespace(namespace)
    return {
        "satellites": n,
        "run": run,
        "ready": ready,
        "all_ready_s": round(all_ready_s, 1),
        "create_s": round(created_s, 1),
        "operator_peak_rss_mb": round(peak_rss, 1),
        "operator_peak_rss_during_creates_mb": round(burst_peak_rss, 1),
        "operator_cpu_s": round(cpu_s, 1),
        "operator_apiserver_requests": requests,
        "requests_per_satellite": round(requests / n, 1),
        "requests_by_verb_resource": by_kind,
        "reconcile_errors": errors,
        "baseline_direct_apply_s": round(baseline_s, 1),
        "ratio_vs_direct_apply": round(all_ready_s / baseline_s, 2) if baseline_s else None,
    }


def _baseline(admin: Any, namespace: str, n: int) -> float:
    """Server-side apply the same children directly: the apiserver floor for N satellites."""
    from mpcs.operator.kube import Kube

    kube = Kube(admin)
    # A real owner: with a made-up uid the garbage collector deletes every child again, and those
    # deletes would land in the middle of the next size's run.
    owner_cm = k8s.CoreV1Api(admin).create_namespaced_config_map(
        namespace, {"metadata": {"name": "baseline-owner"}}
    )
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "baseline-owner",
        "uid": owner_cm.metadata.uid,
        "controller": False,
    }
    # The same simulator input the operator writes: an example Satellite and the stations.
    docs = _examples()
    spec = SatelliteSpec.model_validate(next(d for d in docs if d["kind"] == "Satellite")["spec"])
    stations = [
        NamedGroundStation.model_validate({"name": d["metadata"]["name"], "spec": d["spec"]})
        for d in docs
        if d["kind"] == "GroundStation"
    ]
    settings = OperatorSettings()

    def apply(i: int) -> None:
        config = SimulatorConfig(satellite=f"base-{i:05d}", spec=spec, ground_stations=stations)
        for child in builders.satellite_children(
            namespace=namespace,
            mission="wildfire",
            owner=owner,
            config=config,
            settings=settings,
        ):
            kube._apply_sync(child)

    started = time.monotonic()
    _parallel(apply, list(range(n)))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (median reported)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="mpcs-bench-operator-"))
    stack = DevStack(root, die_with_parent=True)
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    try:
        conn = stack.start()
        admin = k8s_config.new_client_from_config(config_file=conn.kubeconfig)
        admin.configuration.connection_pool_maxsize = WORKERS
        cluster.install_crds(admin)
        op_kubeconfig = cluster.operator_kubeconfig(
            admin, admin_kubeconfig=Path(conn.kubeconfig), out=root / "operator.kubeconfig"
        )
        for run in range(args.runs):
            for n in sizes:
                row = run_size(stack, admin, op_kubeconfig, n, run)
                print(json.dumps(row), flush=True)
                runs.append(row)
    finally:
        stack.stop()
    rows = [_summary([r for r in runs if r["satellites"] == n]) for n in sizes]
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "rss_sampling": "every 0.2 s from the first create to all Ready",
        "load_avg": os.getloadavg(),
        "python": platform.python_version(),
        "git": commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs_per_size": args.runs,
    }
    (RESULTS / "operator_scale.json").write_text(
        json.dumps({"meta": meta, "summary": rows, "runs": runs}, indent=2)
    )
    lines = [
        "# Operator scale",
        "",
        f"{meta['time']}, commit {meta['git']}, {meta['cpus']} CPUs, 1-min load average "
        f"{load_before:.1f} before and {meta['load_avg'][0]:.1f} after. Each cell: the median "
        f"of {args.runs} runs, then the spread (min–max); runs interleaved across sizes. "
        "Peak RSS is sampled every 0.2 s from the first create to all Ready (the creation "
        "burst included).",
        "",
        "| satellites | all Ready (s) | direct-apply floor (s) | ratio | peak RSS (MB) | "
        "operator CPU (s) | API requests / satellite | reconcile errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['satellites']} | {_cell(r['all_ready_s'])} | {_cell(r['baseline_direct_apply_s'])} "
        f"| {_cell(r['ratio_vs_direct_apply'])} | {_cell(r['operator_peak_rss_mb'])} "
        f"| {_cell(r['operator_cpu_s'])} | {_cell(r['requests_per_satellite'])} "
        f"| {r['reconcile_errors']:g} |"
        for r in rows
    ]
    lines += _verdict(rows)
    (RESULTS / "operator_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


_SUMMARISED = (
    "all_ready_s",
    "baseline_direct_apply_s",
    "ratio_vs_direct_apply",
    "operator_peak_rss_mb",
    "operator_peak_rss_during_creates_mb",
    "operator_cpu_s",
    "requests_per_satellite",
)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and spread of each measured quantity over the runs of one size."""
    row: dict[str, Any] = {"satellites": runs[0]["satellites"], "runs": len(runs)}
    for key in _SUMMARISED:
        values = sorted(float(r[key]) for r in runs if r[key] is not None)
        row[key] = {
            "median": round(statistics.median(values), 2),
            "min": values[0],
            "max": values[-1],
        }
    row["reconcile_errors"] = sum(r["reconcile_errors"] for r in runs)
    last = runs[-1]
    row["requests_by_verb_resource"] = last["requests_by_verb_resource"]
    return row


def _cell(stat: dict[str, float]) -> str:
    return f"{stat['median']:g} ({stat['min']:g}–{stat['max']:g})"


def _verdict(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets at 1,000 Satellites, each stated as met or NOT met."""
    big = next((r for r in rows if r["satellites"] == 1000), None)
    if big is None:
        return ["", "No 1,000-Satellite run: targets not evaluated."]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    requests = ", ".join(f"{k} {v}" for k, v in list(big["requests_by_verb_resource"].items())[:6])
    return [
        "",
        "Targets at 1,000 Satellites (2 cores):",
        f"- all Ready in under 60 s (median): {verdict(big['all_ready_s']['median'] < 60)} "
        f"({_cell(big['all_ready_s'])} s)",
        f"- operator RSS under 300 MB: {verdict(big['operator_peak_rss_mb']['max'] < 300)} "
        f"({big['operator_peak_rss_mb']['max']:g} MB, the highest peak of the runs)",
        f"- no reconcile errors: {verdict(big['reconcile_errors'] == 0)} "
        f"({big['reconcile_errors']:g})",
        "",
        f"Largest apiserver request counts during the last 1,000 run (whole cluster): {requests}.",
    ]


if __name__ == "__main__":
    main()
