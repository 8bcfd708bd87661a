"""The dead-letter record the ingest writes for a telemetry message it cannot store.

Shape (JSON, keyed like the original message; the simulator's command DLQ records carry the same
`topic`/`offset`/`key`/`reason`/`value`/`time` keys):

    {"source": "ingest", "reason": "orbit.lat_deg: 91.0 outside -90..90 deg",
     "field": "orbit.lat_deg", "topic": "mpcs.ops.m.telemetry", "partition": 1, "offset": 42,
     "key": "sat-a", "timestamp_ms": 1700000000000, "value": "{...original payload...}",
     "time": "2025-03-01T12:00:00.000000000Z"}

`value` is the original payload decoded as UTF-8; a payload that is not UTF-8 is given as
`value_base64` instead, so nothing is lost. `field` is `$` when the whole payload is at fault
(not JSON, not an object) and `influxdb` when InfluxDB itself refused the message's points.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from mpcs.orbit.timeutil import format_time_ns

SOURCE = "ingest"


def dlq_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int | None,
    field: str,
    reason: str,
    now_ns: int | None = None,
) -> dict[str, Any]:
    """The DLQ record of one rejected Kafka message (see the module docstring for the shape)."""
    record: dict[str, Any] = {
        "source": SOURCE,
        "reason": f"{field}: {reason}" if field and not reason.startswith(field) else reason,
        "field": field,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else key.decode("utf-8", errors="replace"),
        "timestamp_ms": timestamp_ms,
        "time": format_time_ns(time.time_ns() if now_ns is None else now_ns),
    }
    if value is None:
        record["value"] = None
    else:
        try:
            record["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            record["value_base64"] = base64.b64encode(value).decode("ascii")
    return record


def encode_record(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)
