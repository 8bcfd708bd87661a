"""API throughput: `GET /api/v1/satellites/{sat}/telemetry/latest` req/s against a bare FastAPI
endpoint returning a constant, both served the same way in the same run.

Both apps run under uvicorn as one process each, with the same settings (one worker, the default
event loop and HTTP parser, no access log): the command API by `mpcs api serve` against a real
mission (bench/command_latency.py's harness: dev stack, Satellite objects, a real simulator
feeding the live cache every second), the bare one by `python -m uvicorn api_throughput:bare_app`.
Load comes from a separate process: httpx async clients, a fixed number of concurrent requests
kept in flight for a fixed time; rounds alternate bare / latest so drift on this shared machine
hits both alike. Each latest answer is checked (source `stream`, every channel present).

Writes bench/results/api_throughput.json and .md. Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/api_throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).parent))
from command_latency import (
    RESULTS,
    TOKENS,
    MissionHarness,
    machine_now,
    pct,
    wait_http,
)

from mpcs.core.telemetry import CHANNELS
from mpcs.dev.process import free_port

bare_app = FastAPI()


@bare_app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}


async def load(url: str, *, concurrency: int, seconds: float, check: str) -> dict[str, Any]:
    """Keep `concurrency` requests in flight for `seconds`; req/s and latency percentiles."""
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as http:
        for _ in range(concurrency):  # open the connections before the clock starts
            await http.get(url)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors += 1
                elif check == "latest":
                    body = response.json()
                    if body["source"] != "stream" or len(body["channels"]) != len(CHANNELS):
                        errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 50) * 1000, 2),
        "p99_ms": round(pct(latencies, 99) * 1000, 2),
    }


def client_main() -> None:
    """The load generator process: `api_throughput.py --client URL CONCURRENCY SECONDS CHECK`."""
    url, concurrency, seconds, check = (
        sys.argv[2],
        int(sys.argv[3]),
        float(sys.argv[4]),
        sys.argv[5],
    )
    print(json.dumps(asyncio.run(load(url, concurrency=concurrency, seconds=seconds, check=check))))


def run_client(url: str, concurrency: int, seconds: float, check: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", url, str(concurrency), str(seconds), check],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds (smoke run)")
    opts = parser.parse_args()
    seconds = 5.0 if opts.quick else 15.0
    rounds_per_target = 1 if opts.quick else 3
    concurrency = 32
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mpcs-bench-api-") as tmp:
        harness = MissionHarness(Path(tmp))
        try:
            await harness.start()
            harness.start_simulator()
            api_url = await harness.start_api()
            bare_port = free_port()
            harness.spawn(
                "bare",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "api_throughput:bare_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(bare_port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                {"PYTHONPATH": str(Path(__file__).parent)},
            )
            bare_url = f"http://127.0.0.1:{bare_port}/bare"
            await wait_http(bare_url, harness.procs[-1], Path(tmp) / "bare.log")
            latest_url = f"{api_url}/api/v1/satellites/{harness.satellite}/telemetry/latest"
            # The live cache fills with the first telemetry message (1 s interval).
            await wait_http(
                latest_url,
                harness.procs[-2],
                Path(tmp) / "api.log",
                headers={"Authorization": f"Bearer {TOKENS['viewer']}"},
            )
            servers = {
                "bare": psutil.Process(harness.procs[-1].pid),
                "latest": psutil.Process(harness.procs[-2].pid),
            }
            rounds = []
            for index in range(rounds_per_target):
                for name, url, check in (
                    ("bare", bare_url, "bare"),
                    ("latest", latest_url, "latest"),
                ):
                    before = servers[name].cpu_times()
                    result = await asyncio.to_thread(run_client, url, concurrency, seconds, check)
                    after = servers[name].cpu_times()
                    cpu_s = (after.user - before.user) + (after.system - before.system)
                    result.update({"target": name, "round": index, "concurrency": concurrency})
                    # Server CPU per request: what a request costs, whoever limits the rate.
                    result["server_cpu_ms_per_request"] = round(
                        cpu_s * 1000 / max(1, result["requests"]), 3
                    )
                    print(json.dumps(result), flush=True)
                    rounds.append(result)
        except BaseException:
            print(harness.log_tails(), file=sys.stderr)
            raise
        finally:
            harness.stop()
    write(
        {
            "benchmark": "api_throughput",
            "machine": {**machine_now(), "load_average_1m_start": load_start},
            "rounds": rounds,
        }
    )


def write(result: dict[str, Any]) -> None:
    rounds = result["rounds"]
    req_per_s = {
        name: sorted(r["req_per_s"] for r in rounds if r["target"] == name)
        for name in ("bare", "latest")
    }
    median = {name: statistics.median(values) for name, values in req_per_s.items()}
    spread = {name: (values[0], values[-1]) for name, values in req_per_s.items()}
    cpu = {
        name: statistics.median(
            r["server_cpu_ms_per_request"] for r in rounds if r["target"] == name
        )
        for name in ("bare", "latest")
    }
    result["summary"] = {
        "bare_server_cpu_ms_per_request": cpu["bare"],
        "latest_server_cpu_ms_per_request": cpu["latest"],
        "ratio_by_server_cpu": round(cpu["bare"] / cpu["latest"], 3),
        "bare_req_per_s_median": median["bare"],
        "latest_req_per_s_median": median["latest"],
        "ratio_median": round(median["latest"] / median["bare"], 3),
        "bare_req_per_s_spread": spread["bare"],
        "latest_req_per_s_spread": spread["latest"],
        "rounds_per_target": len(req_per_s["bare"]),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["summary"]
    lines = [
        "# API throughput",
        "",
        "`GET /api/v1/satellites/{sat}/telemetry/latest` (bearer auth, satellite lookup, live "
        "cache) vs a bare FastAPI endpoint returning a constant, both under uvicorn (one process, "
        "same settings), load from a separate httpx process "
        f"({rounds[0]['concurrency']} requests in flight) (`bench/api_throughput.py`).",
        "",
        f"Commit {result['machine']['commit']}; the command service as shipped (its CommandPlan "
        "executor on). "
        f"Machine: {result['machine']['cpus']} CPUs (server and load generator share them), load "
        f"average (1 min) {result['machine'].get('load_average_1m_start', float('nan')):.2f} at "
        f"the start and {result['machine']['load_average_1m']:.2f} at the end of the run.",
        "",
        "| Round | Target | req/s | p50 (ms) | p99 (ms) | requests | errors | server CPU ms/req |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rounds:
        lines.append(
            f"| {r['round']} | {r['target']} | {r['req_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['requests']} | {r['errors']} | {r['server_cpu_ms_per_request']} |"
        )
    lines += [
        "",
        f"Median of {s['rounds_per_target']} rounds each (never the best round): latest "
        f"{s['latest_req_per_s_median']} req/s ({s['latest_req_per_s_spread'][0]}–"
        f"{s['latest_req_per_s_spread'][1]}) vs bare {s['bare_req_per_s_median']} req/s "
        f"({s['bare_req_per_s_spread'][0]}–{s['bare_req_per_s_spread'][1]}) = "
        f"**{s['ratio_median']}×** (target ≥ 0.5×).",
        "",
        f"Server CPU per request (median): latest {s['latest_server_cpu_ms_per_request']} ms vs "
        f"bare {s['bare_server_cpu_ms_per_request']} ms: by server cost the latest endpoint "
        f"would sustain **{s['ratio_by_server_cpu']}×** the bare rate on a CPU of its own. "
        "The req/s ratio is only meaningful when the server, not the load generator, is the "
        "bottleneck; on a shared 2-CPU machine the httpx load generator often is, which is why "
        "the CPU cost is reported too.",
        "",
    ]
    (RESULTS / "api_throughput.md").write_text("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main()
    else:
        asyncio.run(main())
