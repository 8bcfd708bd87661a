"""Console load: 100 satellites at 1 Hz streaming into one open web console for 2 minutes.

The command API (`create_app`, the real routes, live cache and WebSocket fan-out) runs under
uvicorn in a child process on in-memory stand-ins for Kafka, InfluxDB and the Kubernetes API
(tests/unit/workloads/api_fakes): 100 Satellite objects, and 100 telemetry messages a second fed
into the live cache exactly as the API's Kafka consumer feeds it (`Services.on_telemetry`), with
positions from `mpcs.orbit` (one TLE, each satellite offset in longitude). What is measured is the
browser, so the servers of the dev stack are left out; the telemetry path from Kafka to the cache
is measured by bench/api_throughput.py and bench/command_latency.py.

Debian's chromium-headless-shell (Playwright, `executable_path`) opens the built console
(console/dist) signed in as a viewer, in one of two views:

- `fleet`: the fleet table and map of all 100 satellites (GET /api/v1/fleet every 2 s), the
  ground track, both stations and the pass timeline;
- `satellite`: one satellite's live telemetry over the WebSocket at 1 Hz, a uPlot chart per
  subsystem and unit of the telemetry catalogue (26; the report counts them) and the state
  bands, while the other 99 stream into the same API.

Per run, after a 15 s warm-up, over `--seconds` (default 120):
- frames dropped: requestAnimationFrame callbacks more than 1.5 frame intervals apart, counted as
  the frames missing in each gap (at 60 Hz);
- main-thread busy fraction: the increase of CDP `Performance.getMetrics` TaskDuration over wall
  time (target < 50 %);
- memory: JSHeapUsedSize after a forced garbage collection at the start and the end, and the
  slope of a line fitted to samples every 10 s (target: flat).

Writes bench/results/console_load.json and .md (`--name`: another name, e.g. for a long heap
check; commit, machine load, median and spread of the runs). Not a test. Run:
`.venv/bin/python bench/console_load.py [--runs 3] [--seconds 120] [--name NAME]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from mpcs.dev.process import free_port
from mpcs.dev.tools import binary

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
DIST = REPO / "console" / "dist"
SATELLITES = 100
VIEWER = "viewer-token"  # api_fakes' viewer token
FRAME_MS = 1000.0 / 60.0

# Records every animation frame and long task from the first script on the page.
# Counters, not a list of frame times: a list would grow the heap the bench measures by 60
# numbers a second (~0.3 MB in 10 minutes).
RECORDER = """
window.__frames = 0;
window.__dropped = 0;
window.__longTasks = 0;
(function () {
  const FRAME_MS = 1000 / 60;  // as FRAME_MS above
  let last = null;
  (function tick(t) {
    if (last !== null) {
      const gap = t - last;
      if (gap > 1.5 * FRAME_MS) window.__dropped += Math.max(0, Math.round(gap / FRAME_MS) - 1);
    }
    last = t;
    window.__frames += 1;
    requestAnimationFrame(tick);
  })(performance.now());
})();
try {
  new PerformanceObserver(list => { window.__longTasks += list.getEntries().length; })
    .observe({entryTypes: ["longtask"]});
} catch (e) {}
"""


# --- the API with 100 satellites (child process) ---------------------------------------------


def serve(port: int) -> None:
    """Run the command API on in-memory adapters, fed 100 satellites' telemetry at 1 Hz."""
    import numpy as np
    import orjson
    import uvicorn

    sys.path.insert(0, str(REPO / "tests" / "unit" / "workloads"))
    from api_fakes import DEFAULT_OBJECTS, L1, L2, make_services, satellite_manifest

    from mpcs.core.telemetry import CHANNELS
    from mpcs.orbit.timeutil import format_time_ns
    from mpcs.orbit.tle import parse_tle
    from mpcs.orbit.track import propagate
    from mpcs.workloads.api import create_app

    names = [f"sat-{i:03d}" for i in range(SATELLITES)]
    objects = {
        **DEFAULT_OBJECTS,
        "satellites": [satellite_manifest(n) for n in names],
        "missions": [
            {"metadata": {"name": "wildfire"}, "spec": {"groundStations": ["svalbard", "inuvik"]}}
        ],
        "groundstations": [
            *DEFAULT_OBJECTS["groundstations"],
            {
                "metadata": {"name": "inuvik"},
                "spec": {"latitudeDeg": 68.3195, "longitudeDeg": -133.5495, "altitudeM": 60},
            },
        ],
    }
    services = make_services(objects=objects)
    app = create_app(services.settings, services=services)
    tle = parse_tle(f"{L1}\n{L2}")
    defaults = {"float": 1.0, "int": 1, "bool": False, "str": ""}
    template: dict[str, Any] = {}
    for channel in CHANNELS:
        template.setdefault(channel.subsystem, {})[channel.name] = defaults[channel.type]

    async def feed() -> None:
        seq = 0
        while True:
            started = time.monotonic()
            now_ns = time.time_ns()
            here = propagate(tle, np.array([now_ns], dtype=np.int64))
            for i, name in enumerate(names):
                message = {
                    "version": 1,
                    "satellite": name,
                    "time": format_time_ns(now_ns),
                    "seq": seq,
                    "mode": ("NOMINAL", "PAYLOAD", "SAFE", "DOWNLINK")[(seq // 30 + i) % 4],
                    **{k: dict(v) for k, v in template.items()},
                }
                lon = (float(here.lon_deg[0]) + 3.6 * i + 180.0) % 360.0 - 180.0
                message["orbit"].update(
                    lat_deg=float(here.lat_deg[0]),
                    lon_deg=lon,
                    alt_km=float(here.alt_km[0]),
                    sunlit=bool(here.sunlit[0]),
                )
                phase = (seq + i) / 60.0
                message["power"]["battery_soc_pct"] = 70.0 + 20.0 * math.sin(phase)
                message["power"]["solar_power_w"] = 40.0 + 30.0 * math.sin(phase * 2)
                message["thermal"]["battery_temp_c"] = 10.0 + 5.0 * math.cos(phase)
                message["obc"]["storage_used_pct"] = (seq % 600) / 6.0
                services.on_telemetry(message, orjson.dumps(message))
            seq += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    def crashed(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            raise SystemExit(f"the telemetry feed stopped: {task.exception()!r}")

    async def main() -> None:
        feeder = asyncio.create_task(feed())
        feeder.add_done_callback(crashed)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        try:
            await uvicorn.Server(config).serve()
        finally:
            feeder.cancel()

    asyncio.run(main())


# --- one measured run -------------------------------------------------------------------------


def _fit_slope(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den


def run_once(base: str, view: str, seconds: float, warmup_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(binary("chromium", "chromium-headless-shell")),
            args=["--no-sandbox"],
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.add_init_script(RECORDER)
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(f"{base}/")
            page.get_by_label("Bearer token").fill(VIEWER)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_test_id("role").wait_for()
            page.goto(f"{base}/#/{'fleet' if view == 'fleet' else 'satellite/sat-000'}")
            page.wait_for_timeout(warmup_s * 1000)

            def metrics() -> dict[str, float]:
                raw = cdp.send("Performance.getMetrics")["metrics"]
                return {m["name"]: float(m["value"]) for m in raw}

            def heap_after_gc() -> float:
                cdp.send("HeapProfiler.collectGarbage")
                return metrics()["JSHeapUsedSize"]

            heap_start = heap_after_gc()
            start = metrics()
            frames_before = int(page.evaluate("window.__frames"))
            dropped_before = int(page.evaluate("window.__dropped"))
            long_before = int(page.evaluate("window.__longTasks"))
            t0 = time.monotonic()
            samples: list[tuple[float, float]] = [(0.0, start["JSHeapUsedSize"])]
            while time.monotonic() - t0 < seconds:
                page.wait_for_timeout(min(10_000, (seconds - (time.monotonic() - t0)) * 1000))
                samples.append((time.monotonic() - t0, metrics()["JSHeapUsedSize"]))
            wall = time.monotonic() - t0
            end = metrics()
            frames = int(page.evaluate("window.__frames")) - frames_before
            dropped = int(page.evaluate("window.__dropped")) - dropped_before
            long_tasks = int(page.evaluate("window.__longTasks")) - long_before
            heap_end = heap_after_gc()
            rows = page.locator("table.fleet-table tbody tr").count() if view == "fleet" else None
            plots = page.locator(".uplot").count()
            received = page.get_by_test_id("stream-status").inner_text() if view != "fleet" else ""
        finally:
            browser.close()
    expected_frames = wall * 1000.0 / FRAME_MS
    busy = (end["TaskDuration"] - start["TaskDuration"]) / wall
    return {
        "view": view,
        "seconds": round(wall, 1),
        "frames": frames,
        "frames_dropped": int(dropped),
        "frames_dropped_pct": round(100.0 * dropped / expected_frames, 2),
        "long_tasks": long_tasks,
        "main_thread_busy_pct": round(100.0 * busy, 1),
        "script_s": round(end["ScriptDuration"] - start["ScriptDuration"], 2),
        "layout_s": round(end["LayoutDuration"] - start["LayoutDuration"], 2),
        "heap_start_mb": round(heap_start / 1e6, 2),
        "heap_end_mb": round(heap_end / 1e6, 2),
        "heap_growth_mb": round((heap_end - heap_start) / 1e6, 2),
        "heap_slope_mb_per_min": round(
            _fit_slope([s[0] for s in samples], [s[1] for s in samples]) * 60 / 1e6, 3
        ),
        "fleet_rows": rows,
        "plots": plots,
        "stream": received,
        "page_errors": errors,
    }


# --- report -----------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]], view: str) -> dict[str, Any]:
    mine = [r for r in runs if r["view"] == view]
    out: dict[str, Any] = {"view": view, "runs": len(mine)}
    for key in ("main_thread_busy_pct", "frames_dropped_pct", "heap_growth_mb"):
        values = [r[key] for r in mine]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def write(runs: list[dict[str, Any]], meta: dict[str, Any], name: str = "console_load") -> None:
    views = sorted({r["view"] for r in runs})
    summary = [summarize(runs, v) for v in views]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"machine": meta, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    lines = [
        "# Console load",
        "",
        f"{SATELLITES} satellites at 1 Hz streaming into the command API (real routes, live cache "
        "and WebSocket; in-memory Kafka/InfluxDB/Kubernetes stand-ins), one console open in "
        "Debian's chromium-headless-shell (`bench/console_load.py`).",
        "",
        f"Commit {meta['commit']}. Machine: {meta['cpus']} CPUs shared by the API, the browser "
        f"and other work; load average (1 min) {meta['load_average_start']:.2f} at the start, "
        f"{meta['load_average_1m']:.2f} at the end.",
        "",
        "| Run | View | uPlot charts | s | Main thread busy | Frames dropped | Long tasks | "
        "Heap start → end (after GC) | Heap slope |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(runs):
        lines.append(
            f"| {i} | {r['view']} | {r.get('plots', '—')} | {r['seconds']} | "
            f"{r['main_thread_busy_pct']} % | "
            f"{r['frames_dropped']} ({r['frames_dropped_pct']} %) | {r['long_tasks']} | "
            f"{r['heap_start_mb']} → {r['heap_end_mb']} MB | {r['heap_slope_mb_per_min']} MB/min |"
        )
    lines.append("")
    for s in summary:
        busy, drop, heap = s["main_thread_busy_pct"], s["frames_dropped_pct"], s["heap_growth_mb"]
        lines.append(
            f"- **{s['view']}** ({s['runs']} runs): main thread busy median **{busy['median']} %** "
            f"({busy['min']}–{busy['max']}; target < 50 %), frames dropped median "
            f"{drop['median']} % ({drop['min']}–{drop['max']}), heap growth median "
            f"{heap['median']} MB ({heap['min']}–{heap['max']}; target flat)."
        )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per view")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--views", default="fleet,satellite")
    parser.add_argument(
        "--name",
        default="console_load",
        help="results file name (a long heap check beside the measurement, not over it)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if not (DIST / "index.html").is_file():
        raise SystemExit(f"{DIST} is not built: mpcs dev tools install --only console")
    port = free_port()
    (REPO / "build").mkdir(exist_ok=True)
    log = open(REPO / "build" / "console_load_api.log", "w")  # noqa: SIM115 — as long as the child
    env = {**os.environ, "MPCS_CONSOLE_DIR": str(DIST)}
    api = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=log, stderr=log, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not start; see {log.name}")
            time.sleep(0.5)
        meta = {**machine(), "load_average_start": os.getloadavg()[0]}
        runs = []
        for i in range(args.runs):
            for view in args.views.split(","):
                result = run_once(base, view, args.seconds, args.warmup)
                print(f"run {i} {view}: {json.dumps(result)}", flush=True)
                runs.append(result)
        meta["load_average_1m"] = os.getloadavg()[0]
        write(runs, meta, args.name)
    finally:
        api.terminate()
        api.wait(timeout=20)
        log.close()
    print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
