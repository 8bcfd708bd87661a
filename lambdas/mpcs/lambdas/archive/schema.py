"""The Parquet schema of the telemetry archive, derived from the telemetry catalogue.

One row per sample: `time` (timestamp, ns, UTC), `satellite`, `mode` and `seq` (the message
header), then one column per catalogued channel named `<subsystem>.<name>` in catalogue order,
typed from the channel (float → float64, int → int64, bool → bool, str → string) and carrying its
unit and description as field metadata. A channel added to `mpcs.core.telemetry.CHANNELS` is a
new column of the next archived hour without any change here; a value InfluxDB does not hold for
a sample (a channel added later, a point lost) is null.
"""

from __future__ import annotations

import pyarrow as pa

from mpcs.core.telemetry import CHANNELS, ChannelType

#: Schema identity written into every file's metadata (readers can tell versions apart).
SCHEMA_NAME = "mpcs-telemetry-archive/1"

_ARROW_TYPES: dict[ChannelType, pa.DataType] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "str": pa.string(),
}
#: Columns from the message header; `mode` and `seq` are stored on the obc point.
HEADER_COLUMNS = ("time", "satellite", "mode", "seq")


def arrow_type(kind: ChannelType) -> pa.DataType:
    """The Arrow type of a catalogue channel type."""
    return _ARROW_TYPES[kind]


def build_schema() -> pa.Schema:
    """The archive schema for the current catalogue."""
    fields = [
        pa.field("time", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("satellite", pa.string(), nullable=False),
        pa.field("mode", pa.string()),
        pa.field("seq", pa.int64()),
    ]
    for channel in CHANNELS:
        metadata = {"unit": channel.unit, "description": channel.description}
        fields.append(pa.field(channel.key, arrow_type(channel.type), metadata=metadata))
    return pa.schema(fields, metadata={"mpcs.schema": SCHEMA_NAME})


SCHEMA = build_schema()


def conform(table: pa.Table) -> pa.Table:
    """`table` in the archive schema: its columns cast and in order, the missing ones null, the
    others dropped, rows sorted by satellite then time."""
    columns = []
    for field in SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    result = pa.Table.from_arrays(columns, schema=SCHEMA)
    return result.sort_by([("satellite", "ascending"), ("time", "ascending")])


def split_by_satellite(table: pa.Table) -> dict[str, pa.Table]:
    """The rows of each satellite (a table sorted by satellite, as `conform` returns it)."""
    satellites = table.column("satellite").to_pylist()
    parts: dict[str, pa.Table] = {}
    start = 0
    for end in range(1, len(satellites) + 1):
        if end == len(satellites) or satellites[end] != satellites[start]:
            parts[satellites[start]] = table.slice(start, end - start)
            start = end
    return parts
