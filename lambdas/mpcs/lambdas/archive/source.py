"""One closed hour of a mission's telemetry, read back from its InfluxDB bucket.

The ingest stores a sample as one point per subsystem (measurement = subsystem, tag `satellite`,
a field per channel, `mode` and `seq` on the obc point; `mpcs.workloads.ingest.lineprotocol`).
One Flux query pivots every (measurement, satellite) series on `_time` — a table per pair, a
column per field — and the rows are merged here by (satellite, time) into archive columns. The
alternative, one query per measurement run side by side, was measured slower on 3 satellites ×
3,600 samples (`bench/archive_hour.py`, docs/archive.md#measurements), so `hour_samples` makes
one request.

Synchronous httpx: the Lambda handler is synchronous and does one mission-hour at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from mpcs.core.names import SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.kit.influx import InfluxUnavailable, flux_string, parse_annotated_csv
from mpcs.orbit.timeutil import format_time_ns, parse_time_ns

#: satellite → time (ns) → archive column → value.
Samples = dict[str, dict[int, dict[str, Any]]]
#: Fields of the obc point that come from the message header (archive columns of their own).
_HEADER_FIELDS = {"obc": ("mode", "seq")}


def hour_query(bucket: str, start_ns: int, stop_ns: int, measurements: Iterable[str]) -> str:
    """Flux: the measurements' points in [start, stop), pivoted to a column per field."""
    wanted = " or ".join(f"r._measurement == {flux_string(m)}" for m in measurements)
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: time(v: {flux_string(format_time_ns(start_ns))}), "
        f"stop: time(v: {flux_string(format_time_ns(stop_ns))}))\n"
        f"  |> filter(fn: (r) => {wanted})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop"])\n'
    )


def merge_rows(rows: Iterable[dict[str, Any]], into: Samples | None = None) -> Samples:
    """Pivoted rows (`_measurement`, `satellite`, `_time`, fields…) merged per sample."""
    samples: Samples = {} if into is None else into
    for row in rows:
        measurement = row.pop("_measurement")
        satellite = row.pop(SATELLITE_TAG)
        stamp = parse_time_ns(row.pop("_time"))
        header = _HEADER_FIELDS.get(measurement, ())
        sample = samples.setdefault(satellite, {}).setdefault(stamp, {})
        for field, value in row.items():
            sample[field if field in header else f"{measurement}.{field}"] = value
    return samples


class InfluxSource:
    """Reads archive hours from InfluxDB 2 with a token that may read the mission buckets."""

    def __init__(self, *, url: str, org: str, token: str, timeout_s: float = 120.0) -> None:
        self.org = org
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Token {token}", "Accept": "application/csv"},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
        )

    def close(self) -> None:
        self._http.close()

    def query(self, flux: str) -> list[dict[str, Any]]:
        """The typed rows of a Flux query; InfluxUnavailable when it cannot be answered."""
        try:
            response = self._http.post(
                "/api/v2/query",
                params={"org": self.org},
                json={
                    "query": flux,
                    "type": "flux",
                    "dialect": {"header": True, "annotations": ["datatype"], "delimiter": ","},
                },
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise InfluxUnavailable(
                f"InfluxDB query failed: {response.status_code} {response.text[:300]}",
                kind="auth" if response.status_code in (401, 403, 404) else "server",
            )
        return parse_annotated_csv(response.text)

    def hour_samples(self, bucket: str, start_ns: int, stop_ns: int) -> Samples:
        """Every sample in [start, stop) of every satellite, from one pivoting query."""
        return merge_rows(self.query(hour_query(bucket, start_ns, stop_ns, SUBSYSTEM_MEASUREMENTS)))

    def hour_samples_per_measurement(self, bucket: str, start_ns: int, stop_ns: int) -> Samples:
        """The same as `hour_samples` from one query per measurement, run side by side.

        Kept for `bench/archive_hour.py`, which compares the two.
        """
        with ThreadPoolExecutor(max_workers=len(SUBSYSTEM_MEASUREMENTS)) as pool:
            results = pool.map(
                lambda m: self.query(hour_query(bucket, start_ns, stop_ns, [m])),
                SUBSYSTEM_MEASUREMENTS,
            )
            samples: Samples = {}
            for rows in results:
                merge_rows(rows, samples)
        return samples
