"""One closed hour of a mission's telemetry, read back from its InfluxDB bucket as an Arrow table.

The ingest stores a sample as one point per subsystem (measurement = subsystem, tag `satellite`,
a field per channel, `mode` and `seq` on the obc point; `mpcs.workloads.ingest.lineprotocol`).
The hour is read with one Flux query per measurement, run side by side: each pivots its points to
a column per field and groups every satellite into one table, which InfluxDB sends as plain CSV
with a single header, so pyarrow's CSV reader parses it with the column types of the catalogue.
The seven tables are then joined on (satellite, time) in Arrow.

Measured on one hour of 3 satellites at 1 Hz (`bench/archive_hour.py`, docs/archive.md): a single
query pivoting every measurement, parsed by the kit's annotated-CSV reader and merged row by row
in Python, took about 3.9 s; this way takes the figure the bench reports now (`hour_table`).

Synchronous httpx: the Lambda handler is synchronous; the queries run in a small thread pool.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyarrow as pa
import pyarrow.csv as pa_csv

from mpcs.core.names import SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.core.telemetry import CHANNELS_BY_SUBSYSTEM
from mpcs.kit.influx import InfluxUnavailable, flux_string
from mpcs.orbit.timeutil import format_time_ns

from .schema import SCHEMA, arrow_type, conform

#: Fields of the obc point that come from the message header (archive columns of their own).
HEADER_FIELDS = {"obc": ("mode", "seq")}
_KEYS = ["satellite", "time"]


def measurement_query(bucket: str, start_ns: int, stop_ns: int, measurement: str) -> str:
    """Flux: one measurement's points in [start, stop), a column per field, one table."""
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: time(v: {flux_string(format_time_ns(start_ns))}), "
        f"stop: time(v: {flux_string(format_time_ns(stop_ns))}))\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(measurement)})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])\n'
        "  |> group()\n"
    )


def archive_column(measurement: str, field: str) -> str:
    """The archive column of a stored field: `<subsystem>.<name>`, or the header's own name."""
    return field if field in HEADER_FIELDS.get(measurement, ()) else f"{measurement}.{field}"


def field_types(measurement: str) -> dict[str, pa.DataType]:
    """The CSV columns a measurement's query returns, with their Arrow types."""
    types = {c.name: arrow_type(c.type) for c in CHANNELS_BY_SUBSYSTEM[measurement]}
    for header in HEADER_FIELDS.get(measurement, ()):
        types[header] = SCHEMA.field(header).type
    return types


def parse_measurement(measurement: str, text: bytes) -> pa.Table:
    """A measurement query's CSV as (satellite, time, archive columns…).

    Strings stay strings even when empty (`comms.station` is "" out of contact); a field a row
    lacks is null; columns InfluxDB holds but the catalogue does not know are left out.
    """
    types = field_types(measurement)
    if not text.strip():
        return pa.table(
            {
                "satellite": pa.array([], pa.string()),
                "time": pa.array([], SCHEMA.field("time").type),
                **{archive_column(measurement, f): pa.array([], t) for f, t in types.items()},
            }
        )
    names = next(csv.reader([text.split(b"\n", 1)[0].decode().rstrip("\r")]))
    wanted = {"_time": SCHEMA.field("time").type, SATELLITE_TAG: pa.string()}
    wanted.update({f: t for f, t in types.items() if f in names})
    table = pa_csv.read_csv(
        io.BytesIO(text),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=wanted,
            include_columns=list(wanted),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    renamed = ["time", "satellite"] + [archive_column(measurement, f) for f in list(wanted)[2:]]
    return table.rename_columns(renamed)


def assemble(tables: list[pa.Table]) -> pa.Table:
    """The measurements' tables joined into one row per (satellite, time), in archive schema."""
    if not tables:
        return conform(SCHEMA.empty_table())
    joined = tables[0]
    for table in tables[1:]:
        joined = joined.join(table, keys=_KEYS, join_type="full outer")
    return conform(joined)


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

    def query_csv(self, flux: str) -> bytes:
        """The plain CSV (one header, no annotations) of a Flux query; InfluxUnavailable if not."""
        try:
            response = self._http.post(
                "/api/v2/query",
                params={"org": self.org},
                json={
                    "query": flux,
                    "type": "flux",
                    "dialect": {"header": True, "annotations": [], "delimiter": ","},
                },
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise InfluxUnavailable(
                f"InfluxDB query failed: {response.status_code} {response.text[:300]}",
                kind="auth" if response.status_code in (401, 403, 404) else "server",
            )
        return response.content

    def hour_table(self, bucket: str, start_ns: int, stop_ns: int) -> pa.Table:
        """Every sample in [start, stop) of every satellite, in archive schema."""

        def read(measurement: str) -> pa.Table:
            flux = measurement_query(bucket, start_ns, stop_ns, measurement)
            return parse_measurement(measurement, self.query_csv(flux))

        with ThreadPoolExecutor(max_workers=4) as pool:
            tables = list(pool.map(read, SUBSYSTEM_MEASUREMENTS))
        return assemble(tables)
