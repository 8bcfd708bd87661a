"""Simulator throughput: satellite-samples per second, full model vs raw SGP4, on one core.

For N = 1, 100, 1,000 and 10,000 satellites (a Walker-like shell built from the ISS elements) this
measures, in the same run and for the same epochs (1 s apart):

- raw:   `SatrecArray.sgp4` alone — the floor any SGP4-based simulator pays;
- model: `Engine.advance(1.0)` — every subsystem (orbit, frames, sun/shadow, two ground stations,
         ADCS, power, thermal, comms, storage, FDIR, sensor noise);
- model + messages: the same plus building every telemetry message and encoding it to JSON bytes
         (what `mpcs sim run` would hand to Kafka).

Writes bench/results/sim_throughput.json and .md. Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/sim_throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine
from sgp4.api import SatrecArray

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import encode
from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import jday_from_ns, parse_time
from mpcs.orbit.tle import tle_checksum
from mpcs.simulator import Engine, SatelliteConfig

RESULTS = Path(__file__).parent / "results"
START = parse_time("2008-09-20T12:00:00Z")
STATIONS = [
    Station(
        latitude_deg=78.23,
        longitude_deg=15.39,
        altitude_m=500,
        min_elevation_deg=5,
        name="svalbard",
    ),
    Station(
        latitude_deg=43.56, longitude_deg=1.48, altitude_m=150, min_elevation_deg=5, name="toulouse"
    ),
]


def _line(body: str) -> str:
    return body + str(tle_checksum(body))


def constellation(n: int) -> list[SatelliteConfig]:
    """N satellites on ISS-like orbits spread in RAAN and mean anomaly."""
    planes = max(1, int(np.sqrt(n)))
    sats = []
    for i in range(n):
        raan = (i % planes) * 360.0 / planes
        anomaly = (i // planes) * 360.0 / max(1, n // planes) % 360.0
        satnum = 10_000 + i % 89_999
        l1 = _line(f"1 {satnum:05d}U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  292")
        l2 = _line(
            f"2 {satnum:05d}  51.6416 {raan:8.4f} 0006703 130.5360 {anomaly:8.4f} 15.72125391 5635"
        )
        spec = SatelliteSpec.model_validate(
            {
                "missionRef": {"name": "bench"},
                "tle": {"line1": l1, "line2": l2},
                "simulator": {"seed": i},
            }
        )
        sats.append(SatelliteConfig(name=f"sat-{i:05d}", spec=spec))
    return sats


def _once(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _stats(values: list[float]) -> dict[str, float]:
    """Median and spread (min, max) of the repeats: the median is reported, never the best."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(n: int, steps: int, repeats: int) -> dict[str, Any]:
    sats = constellation(n)
    epochs = [jday_from_ns(START + k * 1_000_000_000) for k in range(1, steps + 1)]
    jd = [np.array([e[0]]) for e in epochs]
    fr = [np.array([e[1]]) for e in epochs]
    raw_array = SatrecArray([s.tle.satrec for s in sats])

    def raw() -> None:
        for k in range(steps):
            raw_array.sgp4(jd[k], fr[k])

    def model() -> None:
        engine = Engine(sats, start_ns=START, stations=STATIONS)
        t0 = time.perf_counter()
        for _ in range(steps):
            engine.advance(1.0)
        model.elapsed = time.perf_counter() - t0  # type: ignore[attr-defined]

    def model_messages() -> None:
        engine = Engine(sats, start_ns=START, stations=STATIONS)
        t0 = time.perf_counter()
        for _ in range(steps):
            engine.advance(1.0)
            for message in engine.telemetry():
                encode(message)
        model_messages.elapsed = time.perf_counter() - t0  # type: ignore[attr-defined]

    # Raw, model and model+messages take turns within each repeat, so that load from other
    # processes hits all three alike; each ratio is taken within one repeat.
    samples = n * steps
    raw_rate, model_rate, messages_rate, model_ratio, messages_ratio = [], [], [], [], []
    for _ in range(repeats):
        raw_s, model_s, messages_s = _once(raw), _timed(model), _timed(model_messages)
        raw_rate.append(samples / raw_s)
        model_rate.append(samples / model_s)
        messages_rate.append(samples / messages_s)
        model_ratio.append(raw_s / model_s)
        messages_ratio.append(raw_s / messages_s)
    row = {
        "satellites": n,
        "steps": steps,
        "repeats": repeats,
        "raw_samples_per_s": _stats(raw_rate),
        "model_samples_per_s": _stats(model_rate),
        "model_with_messages_samples_per_s": _stats(messages_rate),
        "model_vs_raw": _stats(model_ratio),
        "model_with_messages_vs_raw": _stats(messages_ratio),
        "model_step_ms": _stats([n / r * 1000 for r in model_rate]),
        "model_with_messages_step_ms": _stats([n / r * 1000 for r in messages_rate]),
    }
    r = row
    print(
        f"N={n:>6}: raw {r['raw_samples_per_s']['median']:>12,.0f}/s"
        f"  model {r['model_samples_per_s']['median']:>12,.0f}/s"
        f" ({r['model_vs_raw']['median']:.2f}x)"
        f"  +messages {r['model_with_messages_samples_per_s']['median']:>10,.0f}/s"
        f" ({r['model_with_messages_vs_raw']['median']:.3f}x)",
        flush=True,
    )
    return row


def _timed(fn: Any) -> float:
    fn()
    return float(fn.elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    plan = {1: 2000, 100: 400, 1000: 60, 10_000: 8}
    repeats = 5  # at least 3: the median and spread of 5 interleaved repeats are reported
    load_at_start = os.getloadavg()[0]
    if args.quick:
        plan = {n: max(2, s // 10) for n, s in plan.items()}
        repeats = 3
    rows = [measure(n, steps, repeats) for n, steps in plan.items()]
    at_1000 = next(r for r in rows if r["satellites"] == 1000)
    result = {
        "benchmark": "sim_throughput",
        "machine": {
            **machine(),
            "load_average_1min_at_start": load_at_start,
            "load_average_1min_at_end": os.getloadavg()[0],
            "note": "pinned to one core; the machine may be shared with other work",
        },
        "rows": rows,
        "targets": {
            "model_vs_raw_at_1000_ge_0.3": at_1000["model_vs_raw"]["median"] >= 0.3,
            "realtime_1000_sats_at_1hz_with_messages": at_1000["model_with_messages_step_ms"][
                "median"
            ]
            < 1000.0,
            "max_sats_at_1hz_with_messages_estimate": int(
                1000.0 / at_1000["model_with_messages_step_ms"]["median"] * 1000
            ),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "sim_throughput.md").write_text(_markdown(result))
    print(f"wrote {RESULTS / 'sim_throughput.json'} and .md")


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Simulator throughput",
        "",
        "Generated by `bench/sim_throughput.py` (one core; satellite-samples per second, the same"
        " epochs for every column). *model* = `Engine.advance` with every subsystem; *+messages* ="
        " also building and JSON-encoding every telemetry message.",
        "",
        "Each cell: the median of the repeats (5; 3 with --quick), then the spread (min–max).",
        "",
        f"Commit {result['machine']['commit']}. Machine: {result['machine']['platform']}, "
        f"Python {result['machine']['python']}, "
        f"{result['machine']['cpus']} CPUs, 1-min load average "
        f"{result['machine']['load_average_1min_at_start']:.1f} at the start and "
        f"{result['machine']['load_average_1min_at_end']:.1f} at the end of the run (the model's "
        "many small numpy calls suffer more from a busy machine than SGP4's single C call).",
        "",
        "| Satellites | raw SatrecArray /s | model /s | model ÷ raw | model+messages /s "
        "| (+messages) ÷ raw | model step ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['satellites']:,} | {_cell(r['raw_samples_per_s'], ',.0f')}"
            f" | {_cell(r['model_samples_per_s'], ',.0f')} | {_cell(r['model_vs_raw'], '.2f')}"
            f" | {_cell(r['model_with_messages_samples_per_s'], ',.0f')}"
            f" | {_cell(r['model_with_messages_vs_raw'], '.3f')}"
            f" | {_cell(r['model_step_ms'], '.2f')} |"
        )
    t = result["targets"]
    lines += [
        "",
        "- Target ≥ 0.3× raw at 1,000 satellites: "
        f"**{'met' if t['model_vs_raw_at_1000_ge_0.3'] else 'NOT met'}**.",
        f"- 1,000 satellites at 1 Hz in real time (with messages): "
        f"**{'yes' if t['realtime_1000_sats_at_1hz_with_messages'] else 'no'}**; about "
        f"{t['max_sats_at_1hz_with_messages_estimate']:,} satellites would fit in one second.",
        "",
    ]
    return "\n".join(lines)


def _cell(stat: dict[str, float], fmt: str) -> str:
    return f"{stat['median']:{fmt}} ({stat['min']:{fmt}}–{stat['max']:{fmt}})"


if __name__ == "__main__":
    main()
