"""The whole product at scale: N Satellites at 1 Hz, pooled simulation, on this machine.

For each size, in a fresh namespace of one dev stack: a Mission with `simulation.pods` (about
2,000 Satellites per simulator pod) and N Satellites with `telemetryIntervalSeconds: 1`; the
operator (its own process, the chart's identity) and the LocalRunner running every Deployment it
makes as a local process (ingest, command API, the simulator pods). Measured:

- time to all Satellites Ready (creation burst included) and the operator's RSS sampled every
  0.5 s through the burst (peak) and at steady state;
- once telemetry has flowed for `--warmup` seconds, over a `--window`-second steady state:
  stored channel values/s (the ingest's counter of values InfluxDB accepted) against the
  offered 48 × N, the ingest's consumer lag sampled every 5 s (its slope: flat, or growing by how
  many messages/s), the freshness p99 (the ingest's histogram: Kafka produce time → InfluxDB
  accepted), the simulators' late samples, and CPU (cores) and RSS of every component: operator,
  each workload kind, each server;
- the apiserver's stored object count (`apiserver_storage_objects`).

Each size runs `--runs` times (a fresh namespace and operator each); the report gives the median
and spread (min–max) of the runs, never the best, the commit and the machine's load.
`--profile-seconds S` records S seconds of py-spy (MPCS_BENCH_PY_SPY=/path/to/py-spy) on the
busiest Python process of the last run of each size.

    .venv/bin/python bench/scale.py --sizes 1000,3000,10000 --runs 3,3,1
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import copy
import json
import math
import os
import re
import statistics
import subprocess
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
from kubernetes.client.exceptions import ApiException
from machine import machine

from mpcs.core import names
from mpcs.dev import cluster
from mpcs.dev.process import free_port, spawn, stop_group
from mpcs.dev.runner import LocalRunner
from mpcs.dev.stack import DevStack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORKERS = 16
MISSION = "wildfire"
#: Channel values per telemetry message (7 points).
VALUES_PER_MESSAGE = 48
SATELLITES_PER_POD = 2_000


def _examples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _satellite(template: dict[str, Any], index: int) -> dict[str, Any]:
    sat = copy.deepcopy(template)
    sat["metadata"] = {"name": f"sat-{index:05d}"}
    sat["spec"]["telemetryIntervalSeconds"] = 1
    sat["spec"]["simulator"]["seed"] = index
    sat["spec"]["simulator"].pop("faults", None)
    sat["spec"].pop("noradId", None)
    return sat


def _get(url: str, **kwargs: Any) -> str:
    with urllib.request.urlopen(url, timeout=10, **kwargs) as resp:
        text: str = resp.read().decode()
        return text


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of metric `name` in a Prometheus text page: (labels, value)."""
    found = []
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        found.append((labels, float(m.group(2))))
    return found


def _sum(text: str, name: str) -> float:
    return sum(v for _, v in _samples(text, name))


def _storage_objects(stack: DevStack) -> dict[str, int]:
    text = _get(f"{stack.apiserver.url}/metrics", context=stack.apiserver.ssl_context())
    # 1.34 serves both metrics, naming resources differently, and fills the newer one for a few
    # resources only: take whichever counts more (never their sum).
    best: dict[str, int] = {}
    for metric in ("apiserver_resource_objects", "apiserver_storage_objects"):
        counts: dict[str, int] = {}
        for labels, value in _samples(text, metric):
            if value > 0:
                resource = labels.get("resource", "?")
                counts[resource] = counts.get(resource, 0) + int(value)
        if sum(counts.values()) > sum(best.values()):
            best = counts
    counts = best
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 1e6


def _component(key: str) -> str:
    """`ns/<mission>-<component>/<replica>` → the component kind."""
    name = key.split("/")[1].removeprefix(f"{MISSION}-")
    return "simulator-pool" if re.fullmatch(r"simulator-\d+", name) else name


class Components:
    """Every process of the run by component: operator, workloads (by kind), servers."""

    def __init__(self, stack: DevStack, runner: LocalRunner, operator_pid: int) -> None:
        self.stack = stack
        self.runner = runner
        self.operator_pid = operator_pid

    def processes(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {"operator": _tree(self.operator_pid)}
        with self.runner._lock:
            replicas = list(self.runner.replicas.items())
        for key, replica in replicas:
            if replica.proc is not None:
                groups.setdefault(_component(key), []).extend(_tree(replica.proc.pid))
        for server in self.stack.servers:
            if server.pid is not None:
                groups[server.name] = _tree(server.pid)
        groups["bench"] = [psutil.Process()]
        return groups


def _ports(runner: LocalRunner, component: str) -> list[int]:
    return [
        ports["metrics"]
        for key, ports in runner.endpoints().items()
        if _component(key) == component and "metrics" in ports
    ]


def _scrape(runner: LocalRunner, component: str) -> list[str]:
    pages = []
    for port in _ports(runner, component):
        with contextlib.suppress(OSError):
            pages.append(_get(f"http://127.0.0.1:{port}/metrics"))
    return pages


def _histogram_delta(before: str, after: str, name: str) -> list[tuple[float, float]]:
    """(upper bound, count in window) of a histogram's cumulative buckets."""

    def buckets(text: str) -> dict[float, float]:
        out: dict[float, float] = {}
        for labels, value in _samples(text, f"{name}_bucket"):
            le = labels["le"]
            bound = math.inf if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + value
        return out

    b, a = buckets(before), buckets(after)
    return sorted((bound, a[bound] - b.get(bound, 0.0)) for bound in a)


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float | None:
    """Quantile from cumulative buckets, linear inside the bucket (Prometheus' method)."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return None


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y)."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def _parallel(fn: Any, items: list[Any]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for future in concurrent.futures.as_completed([pool.submit(fn, i) for i in items]):
            future.result()


class RssSampler:
    """Peak RSS of one process, sampled every 0.5 s in a thread (through the creation burst)."""

    def __init__(self, pid: int) -> None:
        self.procs = _tree(pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _rss_mb(self.procs))
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def run_size(
    stack: DevStack,
    admin: Any,
    runner: LocalRunner,
    op_kubeconfig: Path,
    *,
    n: int,
    run: int,
    warmup_s: float,
    window_s: float,
    profile_s: float,
    ready_timeout_s: float,
) -> dict[str, Any]:
    namespace = f"scale-{n}-r{run}"
    pods = max(1, math.ceil(n / SATELLITES_PER_POD))
    custom = k8s.CustomObjectsApi(admin)
    k8s.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
    docs = _examples()
    for obj in docs:
        if obj["kind"] == "GroundStation":
            custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, "groundstations", obj
            )
        if obj["kind"] == "Mission":
            mission = copy.deepcopy(obj)
            mission["spec"]["simulation"] = {"pods": pods}
            mission["spec"]["kafka"] = {**mission["spec"].get("kafka", {}), "partitions": 6}
            mission["spec"]["alerts"] = []
            custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, "missions", mission
            )
    template = next(o for o in docs if o["kind"] == "Satellite")
    metrics_port = free_port()
    conn = stack.connection_info()
    env = {
        **os.environ,
        "KUBECONFIG": str(op_kubeconfig),
        "MPCS_KAFKA_BOOTSTRAP": conn.kafka_bootstrap_servers,
        "MPCS_INFLUX_URL": conn.influx_url,
        "MPCS_INFLUX_ORG": conn.influx_org,
        "MPCS_INFLUX_TOKEN": conn.influx_token,
        "MPCS_METRICS_PORT": str(metrics_port),
        "MPCS_IMAGE": "mpcs:bench",
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
    components = Components(stack, runner, operator.pid)
    rss = RssSampler(operator.pid)
    try:
        _wait_mission(custom, namespace)
        started = time.monotonic()
        _parallel(lambda i: _create(custom, namespace, _satellite(template, i)), list(range(n)))
        create_s = time.monotonic() - started
        ready = 0
        while time.monotonic() - started < ready_timeout_s:
            try:
                ready = _count_ready(custom, namespace)
            except ApiException as exc:  # an apiserver under load times out now and then
                print(f"listing Satellites: {exc.status} {exc.reason}; again", flush=True)
                time.sleep(5)
                continue
            if ready == n:
                break
            time.sleep(5)
        all_ready_s = time.monotonic() - started
        burst_peak_rss = rss.peak_mb
        # Telemetry flowing from every simulator pod, then the warm-up.
        flowing_s = _wait_flowing(runner, pods=pods, n=n, started=started)
        time.sleep(warmup_s)
        result = _window(components, runner, n=n, window_s=window_s)
        try:
            result["objects"] = _storage_objects(stack)
        except OSError:
            result["objects"] = {}
        profile = (
            _profile(components, profile_s, stack.root / f"scale-{n}-r{run}") if profile_s else None
        )
    finally:
        peak_rss = rss.stop()
        stop_group(operator.pid, proc=operator)
        with contextlib.suppress(ApiException):
            k8s.CoreV1Api(admin).delete_namespace(namespace)
    result.update(
        satellites=n,
        run=run,
        simulator_pods=pods,
        ready=ready,
        create_s=round(create_s, 1),
        all_ready_s=round(all_ready_s, 1),
        telemetry_from_all_pods_s=flowing_s,
        operator_peak_rss_burst_mb=round(burst_peak_rss, 1),
        operator_peak_rss_mb=round(peak_rss, 1),
        objects_total=sum(result["objects"].values()),
        profile=profile,
    )
    _wait_gone(runner, namespace)
    return result


def _count_ready(custom: Any, namespace: str) -> int:
    """Satellites in phase Ready, listed 250 at a time (a whole list of thousands of objects
    timed out, 504, on the loaded machine)."""
    ready, token = 0, None
    while True:
        page = custom.list_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, "satellites", limit=250, _continue=token
        )
        ready += sum(1 for s in page["items"] if (s.get("status") or {}).get("phase") == "Ready")
        token = page["metadata"].get("continue")
        if not token:
            return ready


def _create(custom: Any, namespace: str, obj: dict[str, Any]) -> None:
    """Create one object, retrying the apiserver's timeouts (409: an earlier try got through)."""
    for attempt in range(10):
        try:
            custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, "satellites", obj
            )
            return
        except ApiException as exc:
            if exc.status == 409:
                return
            if exc.status not in (429, 500, 503, 504) or attempt == 9:
                raise
            time.sleep(1 + attempt)


def _wait_mission(custom: Any, namespace: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            obj = custom.get_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, "missions", MISSION
            )
        except ApiException:
            obj = {}
        if (obj.get("status") or {}).get("phase") == "Ready":
            return
        time.sleep(1)
    raise RuntimeError(f"Mission {namespace}/{MISSION} not Ready in 180 s")


def _wait_flowing(runner: LocalRunner, *, pods: int, n: int, started: float) -> float | None:
    """Seconds from the burst's start until the pods fly all N Satellites (None: not in 300 s)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pages = _scrape(runner, "simulator-pool")
        if len(pages) == pods and sum(_sum(p, "mpcs_sim_pool_satellites") for p in pages) == n:
            ingest = _scrape(runner, "ingest")
            if ingest and _sum(ingest[0], "mpcs_ingest_channel_values_total") > 0:
                return round(time.monotonic() - started, 1)
        time.sleep(2)
    return None


def _window(
    components: Components, runner: LocalRunner, *, n: int, window_s: float
) -> dict[str, Any]:
    groups = components.processes()
    cpu0 = {name: _cpu_s(procs) for name, procs in groups.items()}
    ingest0 = "\n".join(_scrape(runner, "ingest"))
    sims0 = "\n".join(_scrape(runner, "simulator-pool"))
    load = [os.getloadavg()[0]]
    t0 = time.monotonic()
    lag: list[tuple[float, float]] = []
    rss: dict[str, list[float]] = {}
    while time.monotonic() - t0 < window_s:
        page = "\n".join(_scrape(runner, "ingest"))
        lag.append((time.monotonic() - t0, _sum(page, "mpcs_ingest_consumer_lag_total")))
        for name, procs in groups.items():
            rss.setdefault(name, []).append(_rss_mb(procs))
        time.sleep(5)
    elapsed = time.monotonic() - t0
    cpu1 = {name: _cpu_s(procs) for name, procs in groups.items()}
    ingest1 = "\n".join(_scrape(runner, "ingest"))
    sims1 = "\n".join(_scrape(runner, "simulator-pool"))
    load.append(os.getloadavg()[0])
    values = _sum(ingest1, "mpcs_ingest_channel_values_total") - _sum(
        ingest0, "mpcs_ingest_channel_values_total"
    )
    sampled = _sum(sims1, "mpcs_sim_pool_samples_total") - _sum(
        sims0, "mpcs_sim_pool_samples_total"
    )
    late = _sum(sims1, "mpcs_sim_pool_late_samples_total") - _sum(
        sims0, "mpcs_sim_pool_late_samples_total"
    )
    freshness = _histogram_delta(ingest0, ingest1, "mpcs_ingest_freshness_seconds")
    offered_msgs = n  # 1 Hz each
    slope = _slope(lag)
    cpu = {name: round((cpu1[name] - cpu0[name]) / elapsed, 2) for name in groups}
    return {
        "window_s": round(elapsed, 1),
        "offered_values_per_s": n * VALUES_PER_MESSAGE,
        "sampled_values_per_s": round(sampled * VALUES_PER_MESSAGE / elapsed),
        "stored_values_per_s": round(values / elapsed),
        "stored_fraction": round(values / elapsed / (n * VALUES_PER_MESSAGE), 3),
        "lag_first": lag[0][1] if lag else None,
        "lag_last": lag[-1][1] if lag else None,
        "lag_slope_msgs_per_s": round(slope, 1),
        "lag_flat": abs(slope) <= 0.02 * offered_msgs,
        "freshness_p50_s": _round(_quantile(freshness, 0.5)),
        "freshness_p99_s": _round(_quantile(freshness, 0.99)),
        "late_samples": int(late),
        "cpu_cores": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
        "cpu_cores_total": round(sum(cpu.values()), 2),
        "rss_mb": {name: round(statistics.median(v), 1) for name, v in sorted(rss.items())},
        "load_avg_window": [round(x, 2) for x in load],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _profile(components: Components, seconds: float, out: Path) -> dict[str, Any] | None:
    """py-spy on the Python process that used the most CPU over one second; its top frames."""
    binary = os.environ.get("MPCS_BENCH_PY_SPY")
    if not binary:
        return None
    candidates: list[tuple[float, str, psutil.Process]] = []
    groups = components.processes()
    before = {(n, p.pid): _cpu_s([p]) for n, procs in groups.items() for p in procs}
    time.sleep(1.0)
    for name, procs in groups.items():
        for p in procs:
            try:
                if "python" not in " ".join(p.cmdline()[:1]).lower():
                    continue
            except psutil.Error:
                continue
            candidates.append((_cpu_s([p]) - before.get((name, p.pid), 0.0), name, p))
    if not candidates:
        return None
    _, name, proc = max(candidates, key=lambda c: c[0])
    raw = out.with_suffix(".pyspy.txt")
    subprocess.run(
        [
            binary,
            "record",
            "--pid",
            str(proc.pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--duration",
            str(int(seconds)),
            "-o",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return {"component": name, "pid": proc.pid, "file": str(raw), "top": _top_frames(raw)}


def _top_frames(raw: Path, limit: int = 12) -> list[dict[str, Any]]:
    """Self time by function from py-spy's collapsed stacks: the leaf frame of each sample."""
    if not raw.exists():
        return []
    leaf: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frame = stack.split(";")[-1]
        leaf[frame] = leaf.get(frame, 0) + int(count)
        total += int(count)
    top = sorted(leaf.items(), key=lambda kv: -kv[1])[:limit]
    return [{"frame": f, "share": round(c / total, 3)} for f, c in top]


def _wait_gone(runner: LocalRunner, namespace: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not any(k.startswith(f"{namespace}/") for k in runner.endpoints()):
            return
        time.sleep(1)


_SUMMARISED = (
    "all_ready_s",
    "telemetry_from_all_pods_s",
    "operator_peak_rss_mb",
    "stored_values_per_s",
    "stored_fraction",
    "lag_slope_msgs_per_s",
    "freshness_p99_s",
    "cpu_cores_total",
    "objects_total",
)


def _stat(values: list[float]) -> dict[str, float] | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": values[0], "max": values[-1]}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"satellites": runs[0]["satellites"], "runs": len(runs)}
    for key in _SUMMARISED:
        row[key] = _stat([r[key] for r in runs])
    row["simulator_pods"] = runs[0]["simulator_pods"]
    row["lag_flat_runs"] = sum(1 for r in runs if r["lag_flat"])
    for field in ("cpu_cores", "rss_mb"):
        names_ = sorted({k for r in runs for k in r[field]})
        row[field] = {k: _stat([r[field].get(k) for r in runs]) for k in names_}
    row["profile"] = next((r["profile"] for r in reversed(runs) if r.get("profile")), None)
    return row


def _cell(stat: dict[str, float] | None, fmt: str = "g") -> str:
    if stat is None:
        return "—"
    if stat["min"] == stat["max"]:
        return f"{stat['median']:{fmt}}"
    return f"{stat['median']:{fmt}} ({stat['min']:{fmt}}–{stat['max']:{fmt}})"


def render(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Scale: N Satellites at 1 Hz, pooled simulation, on one machine",
        "",
        f"{meta['time']}, commit {meta['commit']}, {meta['cpus']} CPUs, 1-min load average "
        f"{meta['load_avg_before']:.1f} before and {meta['load_avg_after']:.1f} after "
        "(other engineers' builds and tests shared the machine). Each cell: the median of the "
        "runs, then the spread (min–max); never the best run. Command: "
        f"`{meta['command']}`.",
        "",
        "| satellites (pods) | runs | all Ready (s) | telemetry from all pods (s) "
        "| stored values/s | stored ÷ offered | lag slope (msg/s) | lag flat | freshness p99 (s) "
        "| CPU (cores) | operator peak RSS (MB) | apiserver objects |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['satellites']} ({r['simulator_pods']}) | {r['runs']} "
            f"| {_cell(r['all_ready_s'])} "
            f"| {_cell(r['telemetry_from_all_pods_s'])} | {_cell(r['stored_values_per_s'])} "
            f"| {_cell(r['stored_fraction'])} | {_cell(r['lag_slope_msgs_per_s'])} "
            f"| {r['lag_flat_runs']}/{r['runs']} | {_cell(r['freshness_p99_s'])} "
            f"| {_cell(r['cpu_cores_total'])} | {_cell(r['operator_peak_rss_mb'])} "
            f"| {_cell(r['objects_total'])} |"
        )
    lines += ["", "CPU (cores, median of the runs) and RSS (MB) per component:", ""]
    comps = sorted({k for r in rows for k in r["cpu_cores"]})
    lines.append(
        "| component | " + " | ".join(f"{r['satellites']}: CPU / RSS" for r in rows) + " |"
    )
    lines.append("|---|" + "---|" * len(rows))
    for comp in sorted(
        comps, key=lambda c: -max((r["cpu_cores"].get(c) or {"median": 0})["median"] for r in rows)
    ):
        cells = []
        for r in rows:
            cpu = r["cpu_cores"].get(comp)
            rss = r["rss_mb"].get(comp)
            cells.append(f"{cpu['median']:g} / {rss['median']:g}" if cpu and rss else "—")
        lines.append(f"| {comp} | " + " | ".join(cells) + " |")
    for r in rows:
        if r["profile"]:
            p = r["profile"]
            lines += [
                "",
                f"Profile at {r['satellites']} (py-spy, busiest Python process: {p['component']}), "
                "self time by frame:",
                "",
            ]
            lines += [f"- {f['share']:.1%} {f['frame']}" for f in p["top"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--runs", default="3,3,1", help="runs per size, one number or per size")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--profile-seconds", type=float, default=0.0)
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for all Ready; the window is measured after it either way",
    )
    parser.add_argument("--out", default="scale", help="results file stem in bench/results")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the runs already in the results file (several invocations, one report)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs_arg = [int(r) for r in args.runs.split(",")]
    runs_per = runs_arg * len(sizes) if len(runs_arg) == 1 else runs_arg
    root = Path(tempfile.mkdtemp(prefix="mpcs-bench-scale-"))
    stack = DevStack(root, die_with_parent=True)
    load_before = os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    previous = RESULTS / f"{args.out}.json"
    if args.append and previous.exists():
        earlier = json.loads(previous.read_text())
        runs = earlier["runs"]
        load_before = earlier["meta"]["load_avg_before"]
    commands = [_command()]
    if runs:
        commands = [*(earlier["meta"].get("commands") or [earlier["meta"]["command"]]), *commands]
    report_sizes = sorted({*sizes, *(r["satellites"] for r in runs)})
    try:
        conn = stack.start()
        admin = k8s_config.new_client_from_config(config_file=conn.kubeconfig)
        admin.configuration.connection_pool_maxsize = WORKERS
        cluster.install_crds(admin)
        op_kubeconfig = cluster.operator_kubeconfig(
            admin, admin_kubeconfig=Path(conn.kubeconfig), out=root / "operator.kubeconfig"
        )
        runner = LocalRunner(
            api=admin, kubeconfig=Path(conn.kubeconfig), log_dir=root / "logs" / "workloads"
        )
        with runner.running():
            for run in range(max(runs_per)):
                for n, count in zip(sizes, runs_per, strict=True):
                    if run >= count:
                        continue
                    last = run == count - 1
                    row = run_size(
                        stack,
                        admin,
                        runner,
                        op_kubeconfig,
                        n=n,
                        run=run,
                        warmup_s=args.warmup,
                        window_s=args.window,
                        profile_s=args.profile_seconds if last else 0.0,
                        ready_timeout_s=args.ready_timeout,
                    )
                    print(json.dumps(row), flush=True)
                    runs.append(row)
                    _write(args, report_sizes, runs, load_before, commands)
    finally:
        stack.stop()
    _write(args, report_sizes, runs, load_before, commands)


def _command() -> str:
    return "bench/scale.py " + " ".join(sys.argv[1:])


def _write(
    args: Any,
    sizes: list[int],
    runs: list[dict[str, Any]],
    load_before: float,
    commands: list[str],
) -> None:
    rows = [
        summarise([r for r in runs if r["satellites"] == n])
        for n in sizes
        if any(r["satellites"] == n for r in runs)
    ]
    meta = {
        **machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg()[0],
        "command": " ; ".join(commands),
        "commands": commands,
        "warmup_s": args.warmup,
        "window_s": args.window,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(
        json.dumps({"meta": meta, "summary": rows, "runs": runs}, indent=2) + "\n"
    )
    (RESULTS / f"{args.out}.md").write_text(render(meta, rows))


if __name__ == "__main__":
    main()
