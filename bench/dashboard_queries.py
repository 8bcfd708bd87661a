"""Dashboard query latency: every Flux panel query of the overview and satellite dashboards, on a
day of telemetry of a 100-satellite fleet, and whether the satellite dashboard's cost grows with
the fleet.

One run starts its own InfluxDB (the dev stack's server), fills two buckets the way production
does (tests/integration/grafana/fleet_data.py: the simulator engine's telemetry encoded by the
ingest's line-protocol code, the command API's audit points, the operator's pass points) — one
with 100 satellites, one with 10, each 24 h at 10 s — and then runs each query as Grafana would
send it for the dashboard's default time range ("now" = the end of the data; `substitute` with
Grafana's interval for a 1000-pixel-wide panel, or the panel's own max data points).

A run executes every query `--samples` times, queries interleaved so that load drift hits all
alike; each query's p95 over those samples is one run's figure. Three runs: the median p95 is
reported with the spread (min–max) of the runs. Queries run one at a time (Grafana sends a
dashboard's panels in parallel, so a dashboard's load time is not their sum).

Writes bench/results/dashboard_queries.json and .md. Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/dashboard_queries.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "grafana"))
from fleet_data import EPOCH, EXAMPLES, Bucket, commands, fleet, passes, telemetry
from machine import machine

from mpcs.dev.servers import InfluxDB
from mpcs.grafana import overview, satellite
from mpcs.grafana.catalog import DashboardModel
from mpcs.grafana.cli import example_context
from mpcs.grafana.context import MissionContext
from mpcs.grafana.queries import PanelQuery, panel_queries, query_interval_s, substitute
from mpcs.kit.influx import parse_annotated_csv

RESULTS = Path(__file__).parent / "results"
STEP_S = 10.0
#: The selected satellite of the detail dashboard: present in every fleet size.
SELECTED = "fw-001"
TARGET_P95_S = 1.0


def context(n: int) -> MissionContext:
    """The example mission's stations and alert rules, over a bucket of `n` satellites."""
    example = example_context(EXAMPLES)
    return MissionContext(
        namespace="bench", mission=f"fleet{n}", stations=example.stations, alerts=example.alerts
    )


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _stats(values: list[float]) -> dict[str, float]:
    """Median and spread (min, max) of the runs: the median is reported, never the best."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _relative(text: str) -> timedelta:
    if text == "now":
        return timedelta(0)
    sign = -1 if text[3] == "-" else 1
    unit = {"m": "minutes", "h": "hours", "d": "days"}[text[-1]]
    return sign * timedelta(**{unit: int(text[4:-1])})


def prepared(model: DashboardModel, now: datetime) -> list[tuple[PanelQuery, str]]:
    """Each query of a dashboard with the text Grafana would send for its default range."""
    panels = {}
    for panel in model["panels"]:
        panels[panel.get("title")] = panel
        panels.update({inner.get("title"): inner for inner in panel.get("panels", [])})
    start, stop = now + _relative(model["time"]["from"]), now + _relative(model["time"]["to"])
    out = []
    for query in panel_queries(model):
        panel = panels.get(query.panel, {})
        begin, end = start, stop
        if "timeFrom" in panel:  # the panel's own "last X" replaces the dashboard's range
            begin, end = now + _relative(f"now-{panel['timeFrom']}"), now
        interval = query_interval_s(
            (end - begin).total_seconds(), max_data_points=int(panel.get("maxDataPoints", 1000))
        )
        text = substitute(
            query.text, {"satellite": SELECTED}, start=begin, stop=end, interval_s=interval
        )
        out.append((query, text))
    return out


def fill(bucket: Bucket, n: int, hours: float) -> dict[str, Any]:
    """A day (or `hours`) of the fleet's data; returns what was written and how fast."""
    configs = fleet(n)
    duration_s = hours * 3600
    t0 = time.perf_counter()
    lines = 0
    # Generation (one core) and writing (InfluxDB, the other) overlap: one batch in flight.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        batches = telemetry(
            configs,
            start=EPOCH,
            duration_s=duration_s,
            step_s=STEP_S,
            batch_samples=max(1, 5000 // n),
        )
        for batch in batches:
            lines += batch.count(b"\n")
            if pending is not None:
                pending.result()
            pending = writer.submit(bucket.write, batch)
        if pending is not None:
            pending.result()
    names = [c.name for c in configs]
    extra = commands(names, start=EPOCH, duration_s=duration_s)
    extra += passes(configs, start=EPOCH, duration_s=duration_s + 3 * 3600)
    for i in range(0, len(extra), 20_000):
        bucket.write("\n".join(extra[i : i + 20_000]))
    elapsed = time.perf_counter() - t0
    return {
        "satellites": n,
        "hours": hours,
        "telemetry_points": lines,
        "other_points": len(extra),
        "fill_s": round(elapsed, 1),
        "points_per_s": round((lines + len(extra)) / elapsed),
    }


def measure(
    cases: dict[str, tuple[Bucket, str]], *, runs: int, samples: int
) -> dict[str, dict[str, Any]]:
    """p95 latency per case per run (queries interleaved), and the rows each answered."""
    p95s: dict[str, list[float]] = {key: [] for key in cases}
    rows: dict[str, int] = {}
    for key, (bucket, text) in cases.items():  # warm-up, and the size of the answer
        rows[key] = len(parse_annotated_csv(bucket.query(text)))
    for _ in range(runs):
        latencies: dict[str, list[float]] = {key: [] for key in cases}
        for _ in range(samples):
            for key, (bucket, text) in cases.items():
                t0 = time.perf_counter()
                bucket.query(text)
                latencies[key].append(time.perf_counter() - t0)
        for key, values in latencies.items():
            p95s[key].append(pct(values, 95))
    return {key: {"p95_s": _stats(p95s[key]), "rows": rows[key]} for key in cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 h of 20 + 5 satellites")
    parser.add_argument("--samples", type=int, default=10, help="executions per query per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    big, small, hours = (20, 5, 2.0) if args.quick else (100, 10, 24.0)
    now = EPOCH + timedelta(hours=hours)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="mpcs-bench-dash-") as root:
        server = InfluxDB("influxdb", root=Path(root), die_with_parent=True)
        server.start()
        try:
            server.wait_ready()
            buckets: dict[int, Bucket] = {}
            filled = []
            for n in (big, small):
                bucket = context(n).bucket
                buckets[n] = Bucket(
                    url=server.url, org=server.org, token=server.token, name=bucket
                ).create()
                filled.append(fill(buckets[n], n, hours))
                print(f"filled {bucket}: {filled[-1]}", flush=True)

            cases: dict[str, tuple[Bucket, str]] = {}
            labels: dict[str, dict[str, str]] = {}
            builds: dict[str, Callable[[MissionContext], DashboardModel]] = {
                "overview": overview.build,
                "satellite": satellite.build,
            }
            for slug, build in builds.items():
                sizes = (big, small) if slug == "satellite" else (big,)
                for n in sizes:
                    model = build(context(n))
                    for query, text in prepared(model, now):
                        key = f"{slug}|{n}|{query.panel}|{query.ref_id}"
                        cases[key] = (buckets[n], text)
                        labels[key] = {
                            "dashboard": slug,
                            "satellites": str(n),
                            "panel": query.panel,
                            "ref_id": query.ref_id,
                        }
            measured = measure(cases, runs=args.runs, samples=args.samples)
        finally:
            server.stop()

    results = [{**labels[key], **value} for key, value in measured.items()]
    detail = {
        n: sum(
            r["p95_s"]["median"]
            for r in results
            if r["dashboard"] == "satellite" and r["satellites"] == str(n)
        )
        for n in (big, small)
    }
    worst = max(results, key=lambda r: r["p95_s"]["median"])
    summary = {
        "target_p95_s": TARGET_P95_S,
        "queries": len(results),
        "over_target": [
            f"{r['dashboard']}: {r['panel']} ({r['satellites']} sats)"
            for r in results
            if r["p95_s"]["median"] >= TARGET_P95_S
        ],
        "worst": {k: worst[k] for k in ("dashboard", "panel", "ref_id", "satellites", "p95_s")},
        "satellite_dashboard_sum_p95_s": {str(n): round(v, 4) for n, v in detail.items()},
        "satellite_dashboard_ratio_big_over_small": round(detail[big] / detail[small], 3),
    }
    name = "dashboard_queries" + ("_quick" if args.quick else "")
    out = {
        "machine": {
            **machine(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0],
        },
        "settings": {
            "runs": args.runs,
            "samples_per_run": args.samples,
            "step_s": STEP_S,
            "hours": hours,
            "selected_satellite": SELECTED,
        },
        "filled": filled,
        "summary": summary,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(render(out, big=big, small=small))
    print(json.dumps(summary, indent=2))


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['median'] * 1000:,.0f} ({stats['min'] * 1000:,.0f}–{stats['max'] * 1000:,.0f})"


def render(out: dict[str, Any], *, big: int, small: int) -> str:
    m, s, summary = out["machine"], out["settings"], out["summary"]
    lines = [
        "# Dashboard query latency",
        "",
        f"Generated by `bench/dashboard_queries.py`. {big} satellites × {s['hours']:g} h of "
        f"{s['step_s']:g} s telemetry (simulator engine, ingest line protocol), plus command "
        "audit and pass points, in a fresh InfluxDB 2 (the dev stack's `influxd`). Every Flux "
        "query of the overview and satellite dashboards as Grafana would send it for the "
        'dashboard\'s default time range, "now" = the end of the data; the satellite '
        f"dashboard for `{SELECTED}`, against {big} and against {small} satellites stored.",
        "",
        f"Each cell: p95 latency in ms, the median of {s['runs']} runs of {s['samples_per_run']} "
        "executions each (queries interleaved), then the spread (min–max) of the runs. Queries "
        "run one at a time.",
        "",
        f"Commit {m['commit']}. Machine: {m['platform']}, Python {m['python']}, {m['cpus']} "
        f"CPUs, 1-min load average {m['load_average_1m_before']:.1f} before and "
        f"{m['load_average_1m_after']:.1f} after the run.",
        "",
        "| Bucket | Satellites | Hours | Telemetry points | Other points | Fill s | Points/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in out["filled"]:
        lines.append(
            f"| bench.fleet{f['satellites']} | {f['satellites']} | {f['hours']:g} | "
            f"{f['telemetry_points']:,} | {f['other_points']:,} | {f['fill_s']:,.1f} | "
            f"{f['points_per_s']:,} |"
        )
    lines += [
        "",
        f"## Mission overview ({big} satellites)",
        "",
        "| Panel | Query | Rows | p95 ms |",
        "| --- | --- | ---: | ---: |",
    ]
    results = out["results"]
    for r in results:
        if r["dashboard"] == "overview":
            lines.append(f"| {r['panel']} | {r['ref_id']} | {r['rows']:,} | {_ms(r['p95_s'])} |")
    lines += [
        "",
        f"## Satellite detail: {big} vs {small} satellites stored",
        "",
        f"| Panel | Rows | p95 ms, {big} sats | p95 ms, {small} sats | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    by_panel = {(r["panel"], r["satellites"]): r for r in results if r["dashboard"] == "satellite"}
    for (panel, n), r in by_panel.items():
        if n != str(big):
            continue
        other = by_panel[(panel, str(small))]
        ratio = r["p95_s"]["median"] / other["p95_s"]["median"]
        lines.append(
            f"| {panel} | {r['rows']:,} | {_ms(r['p95_s'])} | {_ms(other['p95_s'])} | {ratio:.2f} |"
        )
    sums = summary["satellite_dashboard_sum_p95_s"]
    worst = summary["worst"]
    lines += [
        "",
        f"- Target p95 < {summary['target_p95_s']:g} s per panel query: "
        + (
            "**met** by every query"
            if not summary["over_target"]
            else "**not met** by " + ", ".join(summary["over_target"])
        )
        + f"; the slowest is {worst['dashboard']} / {worst['panel']} ({worst['ref_id']}) at "
        f"{worst['p95_s']['median'] * 1000:,.0f} ms.",
        f"- Satellite detail, sum of its {len(by_panel) // 2} queries' p95: "
        f"{sums[str(big)] * 1000:,.0f} ms with {big} satellites stored, "
        f"{sums[str(small)] * 1000:,.0f} ms with {small}: ratio "
        f"**{summary['satellite_dashboard_ratio_big_over_small']:.2f}** for "
        f"{big // small}× the fleet.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
