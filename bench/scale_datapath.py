"""The data path alone at N Satellites × 1 Hz: simulator pods → Kafka → ingest → InfluxDB.

bench/scale.py runs the whole product, and on a loaded 2-core machine its creation burst of N
Satellite objects takes longer than the data path needs to saturate. This measures the data path
without the control plane: one mission's topics (6 partitions) and bucket on a dev stack (the
harness of bench/command_latency.py), `mpcs ingest run`, and ceil(N / 2,000) `mpcs sim pool
--config` processes, each with its shard in a file (the same `PoolConfig` the operator writes).
After `--warmup` seconds, over `--window` seconds: sampled and stored channel values/s against
the offered 48 × N, the ingest's lag slope, freshness p99, the pods' late samples, CPU (cores)
and RSS of every process, then `--profile-seconds` of py-spy (MPCS_BENCH_PY_SPY) on the busiest
Python process. Each size runs `--runs` times; the report gives the median and spread.

    .venv/bin/python bench/scale_datapath.py --sizes 10000 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from command_latency import MissionHarness, _examples
from machine import machine
from scale import (
    VALUES_PER_MESSAGE,
    _cpu_s,
    _get,
    _histogram_delta,
    _quantile,
    _rss_mb,
    _slope,
    _sum,
    _top_frames,
    _tree,
)

from mpcs.dev.process import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SATELLITES_PER_POD = 2_000


def _shard_files(root: Path, mission: str, n: int) -> list[Path]:
    template = _examples("Satellite")[0]["spec"]
    pods = max(1, math.ceil(n / SATELLITES_PER_POD))
    shards: list[list[dict[str, Any]]] = [[] for _ in range(pods)]
    for i in range(n):
        spec = copy.deepcopy(template)
        spec["missionRef"] = {"name": mission}
        spec["telemetryIntervalSeconds"] = 1
        spec["simulator"]["seed"] = i
        spec["simulator"].pop("faults", None)
        spec.pop("noradId", None)
        shards[i % pods].append({"name": f"sat-{i:05d}", "spec": spec})
    paths = []
    for shard, members in enumerate(shards):
        path = root / f"shard-{shard}.json"
        path.write_text(json.dumps({"shard": shard, "pods": pods, "satellites": members}))
        paths.append(path)
    return paths


def _metrics(port: int) -> str:
    try:
        return _get(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return ""


async def run_size(n: int, run: int, args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mpcs-bench-datapath-") as tmp:
        harness = MissionHarness(Path(tmp))
        try:
            await harness.start()
            assert harness.stack is not None
            ingest_port = free_port()
            harness.spawn(
                "ingest",
                [sys.executable, "-m", "mpcs.cli", "ingest", "run"],
                {"MPCS_METRICS_PORT": str(ingest_port)},
            )
            ingest_pid = harness.procs[-1].pid
            pool_ports: list[int] = []
            pool_pids: list[int] = []
            for shard, path in enumerate(_shard_files(Path(tmp), harness.mission, n)):
                port = free_port()
                harness.spawn(
                    f"pool-{shard}",
                    [sys.executable, "-m", "mpcs.cli", "sim", "pool", "--config", str(path)],
                    {"MPCS_METRICS_PORT": str(port)},
                )
                pool_ports.append(port)
                pool_pids.append(harness.procs[-1].pid)
            await asyncio.sleep(args.warmup)
            groups: dict[str, list[psutil.Process]] = {
                "ingest": _tree(ingest_pid),
                "simulator-pool": [p for pid in pool_pids for p in _tree(pid)],
                "bench": [psutil.Process()],
            }
            for server in harness.stack.servers:
                if server.pid is not None:
                    groups[server.name] = _tree(server.pid)
            cpu0 = {k: _cpu_s(v) for k, v in groups.items()}
            ingest0 = _metrics(ingest_port)
            sims0 = "\n".join(_metrics(p) for p in pool_ports)
            load = [os.getloadavg()[0]]
            t0 = time.monotonic()
            lag: list[tuple[float, float]] = []
            rss: dict[str, list[float]] = {}
            while time.monotonic() - t0 < args.window:
                page = _metrics(ingest_port)
                lag.append((time.monotonic() - t0, _sum(page, "mpcs_ingest_consumer_lag_total")))
                for name, procs in groups.items():
                    rss.setdefault(name, []).append(_rss_mb(procs))
                await asyncio.sleep(5)
            elapsed = time.monotonic() - t0
            cpu1 = {k: _cpu_s(v) for k, v in groups.items()}
            ingest1 = _metrics(ingest_port)
            sims1 = "\n".join(_metrics(p) for p in pool_ports)
            load.append(os.getloadavg()[0])
            profile = (
                _profile(groups, args.profile_seconds, Path(tmp), n)
                if args.profile_seconds
                else None
            )
        finally:
            harness.stop()

    def delta(after: str, before: str, name: str) -> float:
        return _sum(after, name) - _sum(before, name)

    values = delta(ingest1, ingest0, "mpcs_ingest_channel_values_total")
    sampled = delta(sims1, sims0, "mpcs_sim_pool_samples_total")
    freshness = _histogram_delta(ingest0, ingest1, "mpcs_ingest_freshness_seconds")
    slope = _slope(lag)
    cpu = {k: round((cpu1[k] - cpu0[k]) / elapsed, 2) for k in groups}
    return {
        "satellites": n,
        "run": run,
        "simulator_pods": len(pool_ports),
        "window_s": round(elapsed, 1),
        "offered_values_per_s": n * VALUES_PER_MESSAGE,
        "sampled_values_per_s": round(sampled * VALUES_PER_MESSAGE / elapsed),
        "sampled_fraction": round(sampled / elapsed / n, 3),
        "delivered_fraction": round(
            delta(sims1, sims0, "mpcs_sim_pool_messages_delivered_total") / elapsed / n, 3
        ),
        "stored_values_per_s": round(values / elapsed),
        "stored_fraction": round(values / elapsed / (n * VALUES_PER_MESSAGE), 3),
        "lag_first": lag[0][1] if lag else None,
        "lag_last": lag[-1][1] if lag else None,
        "lag_slope_msgs_per_s": round(slope, 1),
        "lag_flat": abs(slope) <= 0.02 * n,
        "freshness_p99_s": _q(_quantile(freshness, 0.99)),
        "late_samples": int(delta(sims1, sims0, "mpcs_sim_pool_late_samples_total")),
        "cpu_cores": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
        "cpu_cores_total": round(sum(cpu.values()), 2),
        "rss_mb": {k: round(statistics.median(v), 1) for k, v in sorted(rss.items())},
        "load_avg_window": [round(x, 2) for x in load],
        "profile": profile,
    }


def _q(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _profile(
    groups: dict[str, list[psutil.Process]], seconds: float, out: Path, n: int
) -> dict[str, Any] | None:
    """py-spy on the Python process that used the most CPU over the last second."""
    import subprocess

    binary = os.environ.get("MPCS_BENCH_PY_SPY")
    if not binary:
        return None
    before = {(k, p.pid): _cpu_s([p]) for k, procs in groups.items() for p in procs}
    time.sleep(1.0)
    best: tuple[float, str, psutil.Process] | None = None
    for name, procs in groups.items():
        if name == "bench":
            continue
        for p in procs:
            try:
                if "python" not in p.cmdline()[0].lower():
                    continue
            except (psutil.Error, IndexError):
                continue
            used = _cpu_s([p]) - before.get((name, p.pid), 0.0)
            if best is None or used > best[0]:
                best = (used, name, p)
    if best is None:
        return None
    raw = out / f"datapath-{n}.pyspy.txt"
    subprocess.run(
        [
            binary,
            "record",
            "--pid",
            str(best[2].pid),
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
    return {"component": best[1], "pid": best[2].pid, "top": _top_frames(raw)}


def _stat(values: list[Any]) -> dict[str, float] | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": values[0], "max": values[-1]}


def _cell(stat: dict[str, float] | None) -> str:
    if stat is None:
        return "—"
    if stat["min"] == stat["max"]:
        return f"{stat['median']:g}"
    return f"{stat['median']:g} ({stat['min']:g}–{stat['max']:g})"


def write(meta: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    sizes = sorted({r["satellites"] for r in runs})
    keys = (
        "sampled_fraction",
        "delivered_fraction",
        "stored_values_per_s",
        "stored_fraction",
        "lag_slope_msgs_per_s",
        "freshness_p99_s",
        "late_samples",
        "cpu_cores_total",
    )
    summary = []
    for n in sizes:
        same = [r for r in runs if r["satellites"] == n]
        row: dict[str, Any] = {
            "satellites": n,
            "runs": len(same),
            "pods": same[0]["simulator_pods"],
        }
        row.update({k: _stat([r[k] for r in same]) for k in keys})
        comps = sorted({c for r in same for c in r["cpu_cores"]})
        row["cpu_cores"] = {c: _stat([r["cpu_cores"].get(c) for r in same]) for c in comps}
        row["rss_mb"] = {c: _stat([r["rss_mb"].get(c) for r in same]) for c in comps}
        row["profile"] = next((r["profile"] for r in reversed(same) if r["profile"]), None)
        summary.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_datapath.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    lines = [
        "# Scale, the data path alone: simulator pods → Kafka → ingest → InfluxDB",
        "",
        f"{meta['time']}, commit {meta['commit']}, {meta['cpus']} CPUs, 1-min load average "
        f"{meta['load_avg_before']:.1f} before and {meta['load_avg_after']:.1f} after (other "
        "engineers' builds and test stacks shared the machine). Median (min–max) of the runs. "
        f"Command: `{meta['command']}`.",
        "",
        "| satellites (pods) | runs | sampled ÷ offered | delivered to Kafka ÷ offered "
        "| stored values/s | stored ÷ offered "
        "| lag slope (msg/s) | freshness p99 (s) | late samples | CPU (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['satellites']} ({r['pods']}) | {r['runs']} | {_cell(r['sampled_fraction'])} "
            f"| {_cell(r['delivered_fraction'])} "
            f"| {_cell(r['stored_values_per_s'])} | {_cell(r['stored_fraction'])} "
            f"| {_cell(r['lag_slope_msgs_per_s'])} | {_cell(r['freshness_p99_s'])} "
            f"| {_cell(r['late_samples'])} | {_cell(r['cpu_cores_total'])} |"
        )
    for r in summary:
        lines += ["", f"CPU (cores) / RSS (MB) at {r['satellites']}:", ""]
        lines += [
            f"- {c}: {_cell(r['cpu_cores'][c])} / {_cell(r['rss_mb'].get(c))}"
            for c in sorted(
                r["cpu_cores"], key=lambda c: -(r["cpu_cores"][c] or {"median": 0})["median"]
            )
        ]
        if r["profile"]:
            lines += [
                "",
                f"py-spy on the busiest Python process ({r['profile']['component']}):",
                "",
            ]
            lines += [f"- {f['share']:.1%} {f['frame']}" for f in r["profile"]["top"]]
    (RESULTS / "scale_datapath.md").write_text("\n".join(lines) + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--append", action="store_true", help="keep the runs already written")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    commands = ["bench/scale_datapath.py " + " ".join(sys.argv[1:])]
    previous = RESULTS / "scale_datapath.json"
    if args.append and previous.exists():
        earlier = json.loads(previous.read_text())
        runs = earlier["runs"]
        load_before = earlier["meta"]["load_avg_before"]
        commands = [*earlier["meta"]["commands"], *commands]
    for run in range(args.runs):
        for n in [int(s) for s in args.sizes.split(",")]:
            row = await run_size(n, run, args)
            row["invocation"] = len(commands)
            print(json.dumps(row), flush=True)
            runs.append(row)
            meta = {
                **machine(),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_avg_before": load_before,
                "load_avg_after": os.getloadavg()[0],
                "command": " ; ".join(commands),
                "commands": commands,
            }
            write(meta, runs)


if __name__ == "__main__":
    asyncio.run(main())
