"""Where everything lives in the archive bucket, and which hours are closed (pure functions).

Key layout (docs/archive.md#key-layout), Hive-style partitions so Athena, Spark, DuckDB or
`pyarrow.dataset` read `telemetry/<namespace>/<mission>/` as one table partitioned by date and hour;
names starting with `_` are bookkeeping those readers skip:

    telemetry/<namespace>/<mission>/date=YYYY-MM-DD/hour=HH/<satellite>.parquet
    telemetry/<namespace>/<mission>/date=YYYY-MM-DD/hour=HH/_manifest.json   (the hour is done)
    telemetry/<namespace>/<mission>/_archived_through.json                    (high-water mark)
    products/<namespace>/<mission>/<satellite>/<product id>.png | .json

Hours are UTC, named by their start: the hour `date=2025-03-01/hour=13` holds the samples with
13:00:00 ≤ time < 14:00:00. An hour is *closed* once its end lies `close_delay_s` in the past.

>>> telemetry_key("ops", "wildfire", 1_740_834_000 * NS_PER_S, "sat-a")
'telemetry/ops/wildfire/date=2025-03-01/hour=13/sat-a.parquet'
"""

from __future__ import annotations

import time

from mpcs.orbit.timeutil import NS_PER_S

HOUR_NS = 3600 * NS_PER_S


def hour_start(time_ns: int) -> int:
    """The start of the UTC hour holding `time_ns`."""
    return time_ns - time_ns % HOUR_NS


def _partition(hour_ns: int) -> str:
    if hour_ns % HOUR_NS:
        raise ValueError(f"{hour_ns} ns is not the start of an hour")
    return time.strftime("date=%Y-%m-%d/hour=%H", time.gmtime(hour_ns // NS_PER_S))


def mission_prefix(namespace: str, mission: str) -> str:
    """The prefix of a mission's telemetry archive (one Hive-partitioned table)."""
    return f"telemetry/{namespace}/{mission}/"


def hour_prefix(namespace: str, mission: str, hour_ns: int) -> str:
    """The prefix of one archived hour."""
    return f"{mission_prefix(namespace, mission)}{_partition(hour_ns)}/"


def telemetry_key(namespace: str, mission: str, hour_ns: int, satellite: str) -> str:
    """The Parquet object of one satellite's samples in one hour."""
    return f"{hour_prefix(namespace, mission, hour_ns)}{satellite}.parquet"


def manifest_key(namespace: str, mission: str, hour_ns: int) -> str:
    """Written last, once per hour: its presence says the hour is archived."""
    return f"{hour_prefix(namespace, mission, hour_ns)}_manifest.json"


def high_water_key(namespace: str, mission: str) -> str:
    """The mission's high-water mark: every hour up to this one is archived (or given up)."""
    return f"{mission_prefix(namespace, mission)}_archived_through.json"


def product_key(namespace: str, mission: str, satellite: str, product_id: str, ext: str) -> str:
    """A product's object: `ext` is `png` (the image) or `json` (its metadata).

    >>> product_key("ops", "wildfire", "sat-a", "20250301T120000.000000000Z-000001", "png")
    'products/ops/wildfire/sat-a/20250301T120000.000000000Z-000001.png'
    """
    return f"products/{namespace}/{mission}/{satellite}/{product_id}.{ext}"


def last_closed_hour(now_ns: int, *, close_delay_s: int) -> int:
    """The start of the newest hour whose end is at least `close_delay_s` before `now_ns`.

    >>> last_closed_hour(2 * HOUR_NS + 299 * NS_PER_S, close_delay_s=300) // HOUR_NS
    0
    >>> last_closed_hour(2 * HOUR_NS + 300 * NS_PER_S, close_delay_s=300) // HOUR_NS
    1
    """
    return hour_start(now_ns - close_delay_s * NS_PER_S) - HOUR_NS


def hours_to_archive(
    now_ns: int,
    *,
    archived_through_ns: int | None,
    close_delay_s: int,
    max_catchup_hours: int,
) -> list[int]:
    """Closed hours after the high-water mark, oldest first, at most `max_catchup_hours`.

    Without a mark (a new mission, a new bucket) the window is the last `max_catchup_hours`
    closed hours; hours already done inside it are recognised by their manifest, not here.
    """
    if max_catchup_hours < 1:
        raise ValueError(f"max_catchup_hours must be at least 1, got {max_catchup_hours}")
    last = last_closed_hour(now_ns, close_delay_s=close_delay_s)
    first = last - (max_catchup_hours - 1) * HOUR_NS
    if archived_through_ns is not None:
        first = max(first, hour_start(archived_through_ns) + HOUR_NS)
    return list(range(first, last + 1, HOUR_NS))
