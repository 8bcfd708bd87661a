"""The hourly archive Lambda: every closed hour of each mission's telemetry, once, into S3.

`handler(event, context)` takes the EventBridge scheduled event (`{"source": "aws.events",
"detail-type": "Scheduled Event", "time": "…"}`) that AWS sends on the archive's schedule and that
`mpcs lambdas run-archive` sends in the cluster. The event's `time` is the clock: for each mission
of `MPCS_ARCHIVE_MISSIONS` the hours closed by then and after the mission's high-water mark
(at most `MPCS_ARCHIVE_MAX_CATCHUP_HOURS`) are archived oldest first — so an archiver that was
down catches up on every hour it missed, and running it more often than hourly costs one small
GET per mission.

Exactly once per hour (docs/archive.md#exactly-once): each Parquet object, and then the hour's
manifest, is written with a conditional PUT that only succeeds where no object is (`store`); an
hour whose manifest exists is skipped without querying InfluxDB. A run that dies midway leaves
some objects and no manifest; the next run queries the hour again, stores the satellites still
missing and writes the manifest, never replacing an object. The high-water mark only says where
to start looking.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mpcs.core import names
from mpcs.kit.influx import InfluxError
from mpcs.orbit.timeutil import format_time_ns, parse_time_ns

from .layout import (
    HOUR_NS,
    high_water_key,
    hours_to_archive,
    manifest_key,
    telemetry_key,
)
from .schema import SCHEMA_NAME, split_by_satellite
from .settings import ArchiveSettings, load
from .source import InfluxSource
from .store import ArchiveStore

log = logging.getLogger("mpcs.lambdas.archive")

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
PARQUET_COMPRESSION = "zstd"


class EventError(ValueError):
    """The event is not an EventBridge scheduled event; the message names the field."""


class ArchiveFailed(RuntimeError):
    """Some missions could not be archived (InfluxDB or S3 unavailable); the rest were."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{m}: {reason}" for m, reason in failures.items()))


def scheduled_time_ns(event: Any) -> int:
    """The `time` of an EventBridge scheduled event, in ns; EventError if it is not one."""
    if not isinstance(event, dict):
        raise EventError("event: not a JSON object")
    if event.get("source") != "aws.events":
        raise EventError(f"source: {event.get('source')!r} is not 'aws.events'")
    if event.get("detail-type") != "Scheduled Event":
        raise EventError(f"detail-type: {event.get('detail-type')!r} is not 'Scheduled Event'")
    try:
        return parse_time_ns(str(event.get("time")))
    except ValueError as exc:
        raise EventError(f"time: {exc}") from None


def scheduled_event(time_ns: int) -> dict[str, Any]:
    """The event EventBridge sends on a schedule (what the in-cluster runner builds)."""
    return {
        "version": "0",
        "id": f"mpcs-archive-{time_ns}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": format_time_ns(time_ns - time_ns % 1_000_000_000).replace(".000000000Z", "Z"),
        "region": "local",
        "resources": [],
        "detail": {},
    }


def parquet_bytes(table: Any) -> bytes:
    """A table as one Parquet file (zstd, statistics on: readers prune by time and satellite)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=PARQUET_COMPRESSION)
    return buffer.getvalue()


@dataclass
class HourResult:
    """What archiving one mission-hour did."""

    mission: str
    hour: str
    already_done: bool = False
    written: dict[str, int] = field(default_factory=dict)  # satellite → rows
    present: list[str] = field(default_factory=list)  # satellites stored by an earlier run

    def summary(self) -> dict[str, Any]:
        return {
            "mission": self.mission,
            "hour": self.hour,
            "alreadyDone": self.already_done,
            "written": self.written,
            "present": self.present,
        }


class Archiver:
    """Archives closed hours of missions from InfluxDB into one S3 bucket."""

    def __init__(
        self,
        *,
        store: ArchiveStore,
        source: InfluxSource,
        close_delay_s: int,
        max_catchup_hours: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.source = source
        self.close_delay_s = close_delay_s
        self.max_catchup_hours = max_catchup_hours
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: ArchiveSettings) -> Archiver:
        s3 = boto3.client(
            "s3",
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 4}),
        )
        store = ArchiveStore(s3, settings.archive_bucket)
        source = InfluxSource(
            url=settings.influx_url,
            org=settings.influx_org,
            token=settings.influx_token.get_secret_value(),
            timeout_s=settings.influx_timeout_s,
        )
        return cls(
            store=store,
            source=source,
            close_delay_s=settings.archive_close_delay_s,
            max_catchup_hours=settings.archive_max_catchup_hours,
        )

    def run(self, missions: Sequence[tuple[str, str]], now_ns: int) -> list[HourResult]:
        """Archive every mission; ArchiveFailed after trying them all if any failed."""
        results: list[HourResult] = []
        failures: dict[str, str] = {}
        for namespace, mission in missions:
            try:
                results += self.archive_mission(namespace, mission, now_ns)
            except (InfluxError, ClientError, BotoCoreError, pa.ArrowException) as exc:
                # ArrowException: InfluxDB answered something the catalogue's types cannot
                # read; the hour stays unarchived (and the mission's mark where it is).
                ref = f"{namespace}/{mission}"
                log.error("archiving %s failed: %s", ref, exc)
                failures[ref] = str(exc)
        if failures:
            raise ArchiveFailed(failures)
        return results

    def archive_mission(self, namespace: str, mission: str, now_ns: int) -> list[HourResult]:
        """The closed hours after the mission's high-water mark, oldest first."""
        mark_key = high_water_key(namespace, mission)
        mark = self.store.read_json(mark_key)
        through = None if mark is None else parse_time_ns(mark["archivedThrough"])
        hours = hours_to_archive(
            now_ns,
            archived_through_ns=through,
            close_delay_s=self.close_delay_s,
            max_catchup_hours=self.max_catchup_hours,
        )
        if through is not None and hours and hours[0] > through + HOUR_NS:
            log.warning(
                "%s/%s: hours after %s are older than the catch-up window of %d h; not archived",
                namespace,
                mission,
                format_time_ns(through),
                self.max_catchup_hours,
            )
        results = []
        for hour in hours:
            results.append(self.archive_hour(namespace, mission, hour))
            # After each hour: a run cut short (a Lambda timeout) keeps what it finished.
            self.store.write_json(
                mark_key,
                {"archivedThrough": format_time_ns(hour), "updated": format_time_ns(self.clock())},
            )
        return results

    def archive_hour(self, namespace: str, mission: str, hour_ns: int) -> HourResult:
        """One mission-hour: an object per satellite that has samples, then the manifest."""
        result = HourResult(mission=f"{namespace}/{mission}", hour=format_time_ns(hour_ns))
        manifest = manifest_key(namespace, mission, hour_ns)
        if self.store.exists(manifest):
            result.already_done = True
            return result
        started = time.perf_counter()
        table = self.source.hour_table(names.bucket(namespace, mission), hour_ns, hour_ns + HOUR_NS)
        objects = {}
        for satellite, rows in split_by_satellite(table).items():
            key = telemetry_key(namespace, mission, hour_ns, satellite)
            objects[satellite] = key
            if self.store.put_once(key, parquet_bytes(rows), content_type=PARQUET_CONTENT_TYPE):
                result.written[satellite] = rows.num_rows
            else:
                result.present.append(satellite)
        document = {
            "version": 1,
            "schema": SCHEMA_NAME,
            "mission": result.mission,
            "hour": result.hour,
            "objects": objects,
            "rowsWritten": result.written,
            "archivedAt": format_time_ns(self.clock()),
        }
        body = orjson.dumps(document)
        if not self.store.put_once(manifest, body, content_type="application/json"):
            result.already_done = True  # another archiver finished the hour meanwhile
        log.info(
            "archived %s %s: %d objects written, %d present, %.2f s",
            result.mission,
            result.hour,
            len(result.written),
            len(result.present),
            time.perf_counter() - started,
        )
        return result


_ARCHIVER: tuple[ArchiveSettings, Archiver] | None = None


def _archiver() -> tuple[ArchiveSettings, Archiver]:
    """Settings and clients built once per Lambda execution environment (warm starts reuse)."""
    global _ARCHIVER
    if _ARCHIVER is None:
        settings = load()
        archiver = Archiver.from_settings(settings)
        if settings.archive_create_bucket:
            archiver.store.ensure_bucket()
        _ARCHIVER = (settings, archiver)
    return _ARCHIVER


def reset() -> None:
    """Forget the cached settings and clients (a new execution environment, as after a restart)."""
    global _ARCHIVER
    if _ARCHIVER is not None:
        _ARCHIVER[1].source.close()
    _ARCHIVER = None


def process(
    event: Any, *, archiver: Archiver, missions: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """What the handler does with its settings' archiver; the in-cluster runner calls it too."""
    results = archiver.run(missions, scheduled_time_ns(event))
    return {"hours": [r.summary() for r in results if not r.already_done]}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point for the archive's EventBridge schedule.

    Returns the hours this run archived; raises EventError for another event, and ArchiveFailed
    (so Lambda counts an error and retries the event) when a mission could not be archived,
    after archiving the others.
    """
    scheduled_time_ns(event)  # a wrong event fails before any client is built
    settings, archiver = _archiver()
    return process(event, archiver=archiver, missions=settings.missions())
