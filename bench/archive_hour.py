"""The hourly archive's cost: one mission-hour of 3 satellites at 1 Hz from InfluxDB to S3.

One run starts its own InfluxDB and moto server (the dev stack's), fills a bucket with one hour
of the simulator engine's telemetry for 3 satellites at 1 Hz encoded by the ingest's line-protocol
code (tests/integration/grafana/fleet_data.py: 3 × 3,600 samples × 7 points), then measures:

- two ways of reading the hour into one Arrow table in archive schema: what the archive does
  (`InfluxSource.hour_table`: a query per measurement, four at a time, pivoted and grouped by
  Flux, plain CSV parsed by pyarrow with the catalogue's types, joined in Arrow), and the
  alternative kept here: one query pivoting every measurement, parsed by the kit's annotated-CSV
  reader and merged row by row in Python;
- the 3 zstd Parquet files of that table;
- `Archiver.archive_hour` end to end into moto's S3 (a fresh archive bucket per repetition, so
  every repetition writes the objects and the manifest).

Each figure is the median of `--repeat` repetitions with the min–max; the two ways of reading
alternate, so that load drift on a shared machine hits both alike. Writes
bench/results/archive_hour.json and .md. Not a test: numbers depend on the machine.
Run: `.venv/bin/python bench/archive_hour.py [--repeat N]`.
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
from pathlib import Path
from typing import Any

import boto3
import httpx
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "grafana"))
from fleet_data import EPOCH, Bucket, fleet, telemetry
from machine import machine

from mpcs.core.names import SUBSYSTEM_MEASUREMENTS
from mpcs.dev.servers import InfluxDB, Moto
from mpcs.kit.influx import flux_string, parse_annotated_csv
from mpcs.lambdas.archive.handler import Archiver, parquet_bytes
from mpcs.lambdas.archive.layout import HOUR_NS, hour_start
from mpcs.lambdas.archive.schema import conform, split_by_satellite
from mpcs.lambdas.archive.source import InfluxSource, archive_column
from mpcs.lambdas.archive.store import ArchiveStore
from mpcs.orbit.timeutil import format_time_ns, ns_from_datetime, parse_time_ns

RESULTS = Path(__file__).parent / "results"
SATELLITES = 3
NAMESPACE, MISSION = "bench", "archive"


def _figure(times: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(times), 4),
        "min": round(min(times), 4),
        "max": round(max(times), 4),
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return _figure(times), value


def interleaved(
    cases: dict[str, Callable[[], Any]], repeat: int
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Each case once per round, rounds repeated: load drift on a shared machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    values: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in cases.items():
            started = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - started)
    return {name: _figure(t) for name, t in times.items()}, values


def one_pivot_query(url: str, org: str, token: str, bucket: str, start: int, stop: int) -> Any:
    """The alternative: every measurement pivoted in one query, merged per sample in Python."""
    wanted = " or ".join(f"r._measurement == {flux_string(m)}" for m in SUBSYSTEM_MEASUREMENTS)
    flux = (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: time(v: {flux_string(format_time_ns(start))}), "
        f"stop: time(v: {flux_string(format_time_ns(stop))}))\n"
        f"  |> filter(fn: (r) => {wanted})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop"])\n'
    )
    response = httpx.post(
        f"{url}/api/v2/query",
        params={"org": org},
        headers={"Authorization": f"Token {token}", "Accept": "application/csv"},
        json={"query": flux, "type": "flux", "dialect": {"annotations": ["datatype"]}},
        timeout=300,
    )
    response.raise_for_status()
    samples: dict[tuple[str, int], dict[str, Any]] = {}
    for row in parse_annotated_csv(response.text):
        measurement = row.pop("_measurement")
        key = (row.pop("satellite"), parse_time_ns(row.pop("_time")))
        sample = samples.setdefault(key, {"satellite": key[0], "time": key[1]})
        for field, value in row.items():
            # The kit's reader takes an empty cell for null; here every field is present, so
            # only the strings InfluxDB holds as "" (no station, no FDIR reason) read as null.
            sample[archive_column(measurement, field)] = "" if value is None else value
    rows = list(samples.values())
    table = pa.Table.from_pylist(rows)
    return conform(
        table.set_column(
            table.schema.get_field_index("time"),
            "time",
            pa.array([r["time"] for r in rows], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    # The fleet flies from EPOCH; the archived hour is the first whole hour after it.
    start = hour_start(ns_from_datetime(EPOCH)) + HOUR_NS
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mpcs-bench-archive-") as root:
        influx = InfluxDB("influxdb", root=Path(root), die_with_parent=True)
        moto = Moto("moto", root=Path(root), die_with_parent=True)
        influx.start()
        moto.start()
        try:
            influx.wait_ready()
            moto.wait_ready()
            bucket = Bucket(
                url=influx.url, org=influx.org, token=influx.token, name=f"{NAMESPACE}.{MISSION}"
            ).create()
            lead_s = (start - ns_from_datetime(EPOCH)) / 1e9
            for lines in telemetry(
                fleet(SATELLITES), start=EPOCH, duration_s=lead_s + 3600.0, step_s=1.0
            ):
                bucket.write(lines)
            source = InfluxSource(url=influx.url, org=influx.org, token=influx.token)
            stop = start + HOUR_NS

            reads, tables = interleaved(
                {
                    "read_hour_table_per_measurement_s": lambda: source.hour_table(
                        bucket.name, start, stop
                    ),
                    "read_one_pivot_query_python_merge_s": lambda: one_pivot_query(
                        influx.url, influx.org, influx.token, bucket.name, start, stop
                    ),
                },
                args.repeat,
            )
            figures.update(reads)
            table, other = tables.values()
            differ = [n for n in table.column_names if not other[n].equals(table[n])]
            assert not differ, f"the two ways read different columns: {differ}"
            parts = split_by_satellite(table)
            figures["samples_per_satellite"] = {s: t.num_rows for s, t in parts.items()}
            figures["parquet_files_s"], files = timed(
                lambda: [parquet_bytes(t) for t in parts.values()], args.repeat
            )
            figures["parquet_bytes_per_satellite"] = [len(f) for f in files]

            s3 = boto3.client(
                "s3",
                endpoint_url=moto.url,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            runs = iter(range(args.repeat))

            def archive() -> Any:
                store = ArchiveStore(s3, f"archive-{next(runs)}")
                store.ensure_bucket()
                archiver = Archiver(
                    store=store, source=source, close_delay_s=0, max_catchup_hours=1
                )
                return archiver.archive_hour(NAMESPACE, MISSION, start)

            puts = iter(range(args.repeat))

            def put_files() -> None:
                store = ArchiveStore(s3, f"puts-{next(puts)}")
                store.ensure_bucket()
                for k, body in enumerate(files):
                    store.put_once(f"k{k}", body, content_type="application/octet-stream")

            figures["s3_put_3_files_s"], _ = timed(put_files, args.repeat)
            figures["archive_hour_end_to_end_s"], result = timed(archive, args.repeat)
            figures["archived_rows"] = result.written
            source.close()
        finally:
            moto.stop()
            influx.stop()

    out = {
        "machine": {
            **machine(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0],
        },
        "settings": {"satellites": SATELLITES, "rate_hz": 1, "repeat": args.repeat},
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "archive_hour.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Archive: one mission-hour, 3 satellites at 1 Hz",
        "",
        "Generated by `bench/archive_hour.py`; median (min–max) of "
        f"{args.repeat} repetitions, seconds.",
        "",
        f"Commit {out['machine']['commit']}. Machine: {out['machine']['cpus']} CPUs shared with "
        f"other work, 1-min load average {out['machine']['load_average_1m_before']:.1f} before "
        f"and {out['machine']['load_average_1m_after']:.1f} after the run.",
        "",
        "| Step | Median | Min | Max |",
        "| --- | --- | --- | --- |",
    ]
    for key, value in figures.items():
        if isinstance(value, dict) and "median" in value:
            lines.append(f"| {key} | {value['median']} | {value['min']} | {value['max']} |")
    lines += [
        "",
        f"Samples per satellite: {figures['samples_per_satellite']}; Parquet bytes per "
        f"satellite: {figures['parquet_bytes_per_satellite']}.",
        "",
    ]
    (RESULTS / "archive_hour.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
