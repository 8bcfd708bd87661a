"""The alerts Lambda: Kafka telemetry in, alert state in DynamoDB, transitions on SNS.

`handler(event, context)` is the function's entry point (`mpcs.lambdas.alerts.handler.handler`):
a Kafka event (MSK or self-managed) is evaluated against the missions' rules and answered with
`batchItemFailures`; an EventBridge scheduled event runs the staleness sweep. The in-cluster
runner calls `process(records, now=…)` with the records of one poll and forwards
`Result.transitions` (docs/alerts.md).

Per invocation: records are decoded (invalid telemetry is counted, logged and skipped — it is not
an alert matter and never fails the batch), grouped by mission and satellite, sorted by spacecraft
time; the touched items are read once with BatchGetItem; every rule runs over the samples in
memory; only items whose state changed are written, each conditionally on the version read and
carrying the transitions still to notify; those are published (PublishBatch), then the markers are
cleared and each satellite's watermark moves forward (conditional UpdateItems, sent at once).
Items that may expire get `expires_at` with those writes (`store.expiry`, docs/alerts.md#expiry).
A satellite whose write or publication fails has all its records of the batch reported as
failures (and its watermark stays), so Lambda redelivers them and they are evaluated again; every
other record succeeds.
"""

from __future__ import annotations

import functools
import gc
import logging
import operator
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import boto3
import orjson

from mpcs.core.resources.mission import AlertKind, AlertRule
from mpcs.core.telemetry import CHANNEL_INDEX, TelemetryError, decode
from mpcs.orbit.timeutil import format_time_ns

from ..settings import AlertsSettings, MissionAlerts, load
from . import rules as R
from .events import KafkaRecord, is_kafka_event, mission_of_topic, parse_kafka_event
from .model import Edge, RuleState, Transition, alert_id
from .notify import Notifier, satellite_link
from .store import (
    AlertStore,
    Cleared,
    Conflict,
    RuleItem,
    SatelliteItem,
    expiry,
    watermark_expiry,
)

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What one batch did: transitions notified, records to redeliver, records skipped."""

    transitions: list[Transition] = field(default_factory=list)
    failed: list[KafkaRecord] = field(default_factory=list)
    invalid: int = 0
    unrouted: int = 0
    writes: int = 0

    def response(self) -> dict[str, Any]:
        """Lambda's partial batch response for a Kafka event."""
        return {"batchItemFailures": [{"itemIdentifier": r.item_identifier} for r in self.failed]}


class _Satellite:
    """One satellite's samples of a batch as parallel lists of spacecraft times, values, seen
    times and records (no object per sample: fewer for the garbage collector to follow), in
    arrival order until `in_time_order`."""

    __slots__ = ("records", "seen", "times", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[dict[str, float]] = []
        self.seen: list[float] = []
        self.records: list[KafkaRecord] = []

    def in_time_order(self) -> None:
        """Sort by (spacecraft time, offset); nothing to do when times already increase, which
        is how one satellite's records arrive."""
        times, records = self.times, self.records
        if all(map(operator.lt, times, islice(times, 1, None))):
            return
        order = sorted(range(len(times)), key=lambda i: (times[i], records[i].offset))
        self.times = [times[i] for i in order]
        self.values = [self.values[i] for i in order]
        self.seen = [self.seen[i] for i in order]
        self.records = [records[i] for i in order]


_Saved = tuple[RuleItem, int, list[Transition], RuleState]
"""A rule item as read, the version it is at now, the transitions it holds to notify, and the
state it holds now."""

#: Concurrent AWS calls of one batch: satellites whose items are written, BatchGetItem chunks
#: read (below botocore's 10 pooled connections).
_WRITERS = 8


@dataclass(frozen=True)
class _Write:
    """A rule item to store as `state` with `pending` to notify; `state` None: unchanged, only
    its pending notifications (from an earlier run) to publish."""

    item: RuleItem
    state: RuleState | None
    pending: list[Transition]
    attributes: dict[str, Any]


def _loads(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise TelemetryError("$", f"not JSON: {exc}") from None


def _is_scheduled(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event"


class AlertsProcessor:
    """The handler's work, with its settings and AWS clients made explicit (tests, the runner)."""

    def __init__(self, settings: AlertsSettings, *, dynamodb: Any, sns: Any) -> None:
        self.settings = settings
        self.store = AlertStore(dynamodb, settings.alerts_table)
        self.notifier = Notifier(sns, settings.alerts_topic_arn)
        self._pool: ThreadPoolExecutor | None = None
        self.store.pool = self._writers()
        self._full = settings.alerts_validate == "full"
        #: The newest watermark settled per (mission, satellite), written or not
        #: (`_process_mission`; `newest_mark` reads it).
        self._marks: dict[tuple[str, str], SatelliteItem] = {}
        self._intervals = {
            m: R.watermark_interval_s(cfg.rules) for m, cfg in settings.alerts_missions.items()
        }
        self._channels = {
            m: R.group_reads(R.needed_channels(cfg.rules))
            for m, cfg in settings.alerts_missions.items()
        }

    @classmethod
    def from_settings(cls, settings: AlertsSettings) -> AlertsProcessor:
        """A processor with boto3 clients for the settings' region and endpoint."""
        kwargs: dict[str, Any] = {}
        # Lambda sets AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION).
        region = settings.aws_region or os.environ.get("AWS_REGION")
        if region:
            kwargs["region_name"] = region
        if settings.aws_endpoint_url:
            kwargs["endpoint_url"] = settings.aws_endpoint_url
        return cls(
            settings,
            dynamodb=boto3.client("dynamodb", **kwargs),
            sns=boto3.client("sns", **kwargs),
        )

    # -- Kafka batches ---------------------------------------------------------------------------

    def _route(self, topic: str) -> tuple[str, R.Reads] | None:
        mission = mission_of_topic(topic)
        if mission is None or mission not in self.settings.alerts_missions:
            return None
        return mission, self._channels[mission]

    def process(self, records: Sequence[KafkaRecord], *, now: float) -> Result:
        """Evaluate a batch of telemetry records; `now` (Unix s) stands in for a missing record
        timestamp."""
        result = Result()
        by_mission: dict[str, dict[str, _Satellite]] = {}
        routes: dict[str, tuple[str, R.Reads] | None] = {}
        parse = decode if self._full else _loads
        read_values = R.read_values
        for record in records:
            topic = record.topic
            try:
                route = routes[topic]
            except KeyError:
                route = routes[topic] = self._route(topic)
            if route is None:
                result.unrouted += 1
                continue
            mission, reads = route
            try:
                name, time_ns, values = read_values(parse(record.value), reads=reads)
            except TelemetryError as exc:
                result.invalid += 1
                log.warning(
                    "skipping invalid telemetry",
                    extra={"topic": topic, "offset": record.offset, "reason": str(exc)},
                )
                continue
            try:
                satellite = by_mission[mission][name]
            except KeyError:
                satellite = by_mission.setdefault(mission, {}).setdefault(name, _Satellite())
            stamp = record.timestamp_ms
            satellite.times.append(time_ns)
            satellite.values.append(values)
            satellite.seen.append(stamp / 1000 if stamp else now)
            satellite.records.append(record)
        for mission, satellites in by_mission.items():
            self._process_mission(mission, satellites, result, now=now)
        return result

    def _expiry(self, state: RuleState, *, pending: bool, now: float) -> int | None:
        return expiry(
            state,
            pending=pending,
            now_s=now,
            retention_days=self.settings.alerts_retention_days,
        )

    def newest_mark(self, mission: str, stored: SatelliteItem) -> SatelliteItem:
        """The watermark this process settled last (written or not), unless the stored one is
        newer (another process moved it); the stored one when this process holds none."""
        held = self._marks.get((mission, stored.satellite))
        if held is not None and held.last_sample_time >= stored.last_sample_time:
            return held
        return stored

    def _cleared(self, saved: Sequence[_Saved], *, now: float) -> list[Cleared]:
        """The markers to clear of `saved` (published), each with the expiry its item gets."""
        return [Cleared(i.key, v, self._expiry(s, pending=False, now=now)) for i, v, _, s in saved]

    def _process_mission(
        self, mission: str, satellites: Mapping[str, _Satellite], result: Result, *, now: float
    ) -> None:
        config = self.settings.alerts_missions[mission]
        try:
            sat_items, rule_items = self.store.load(
                mission, satellites, (r.name for r in config.rules)
            )
        except Exception:
            log.exception("cannot read alert state", extra={"mission": mission})
            result.failed += [rec for s in satellites.values() for rec in s.records]
            return
        stored_marks = dict(sat_items)
        for name in sat_items:
            sat_items[name] = self.newest_mark(mission, sat_items[name])
        planned: list[tuple[_Satellite, SatelliteItem, list[_Write]]] = []
        for name, sat in satellites.items():
            sat.in_time_order()
            try:
                writes = self._evaluate_satellite(mission, config, sat_items[name], sat, rule_items)
            except Exception:
                log.exception("satellite batch not evaluated", extra={"satellite": name})
                result.failed += sat.records
                continue
            planned.append((sat, sat_items[name], writes))
        stored: list[tuple[_Satellite, SatelliteItem, list[_Saved]]] = []
        for (sat, sat_item, writes), outcome in zip(
            planned, self._store_all(mission, [w for _, _, w in planned], now=now), strict=True
        ):
            if isinstance(outcome, BaseException):
                log.error(
                    "satellite batch not stored",
                    exc_info=outcome,
                    extra={"satellite": sat_item.satellite},
                )
                result.failed += sat.records
                continue
            result.writes += sum(1 for w in writes if w.state is not None)
            stored.append((sat, sat_item, outcome))
        # Every satellite's transitions in few PublishBatch calls, then every marker and
        # watermark as concurrent conditional updates: the batch waits for its slowest round
        # trips, not for their sum.
        unpublished = self._publish([s for _, _, saved in stored for s in saved], result)
        settled: list[_Satellite] = []
        cleared: list[Cleared] = []
        marks: list[SatelliteItem] = []
        watermarks: list[SatelliteItem] = []
        expires_at = watermark_expiry(now_s=now, retention_days=self.settings.alerts_retention_days)
        interval = self._intervals[mission]
        for sat, sat_item, saved in stored:
            if any(item.key in unpublished for item, _, _, _ in saved):
                result.failed += sat.records  # its watermark stays: the retry evaluates again
                cleared += self._cleared([s for s in saved if s[0].key not in unpublished], now=now)
                continue
            cleared += self._cleared(saved, now=now)
            last = max(sat.times)
            if last > sat_item.last_sample_time:
                mark = SatelliteItem(
                    sat_item.satellite, last, last_seen=max(sat.seen), expires_at=expires_at
                )
                marks.append(mark)
                if _mark_due(stored_marks[sat_item.satellite], mark, interval):
                    watermarks.append(mark)
            settled.append(sat)
        try:
            self.store.settle(mission, cleared=cleared, watermarks=watermarks)
        except Exception:
            log.exception("cannot clear markers or move watermarks", extra={"mission": mission})
            result.failed += [rec for sat in settled for rec in sat.records]
            return
        for mark in marks:
            self._marks[(mission, mark.satellite)] = mark
        result.writes += len(watermarks)

    def _evaluate_satellite(
        self,
        mission: str,
        config: MissionAlerts,
        sat_item: SatelliteItem,
        sat: _Satellite,
        rule_items: Mapping[str, RuleItem],
    ) -> list[_Write]:
        """Run the rules over one satellite's samples (no I/O): the items to store (changed
        ones, with the transitions they have to notify) and those holding notifications still
        pending from an earlier run, in rule order."""
        writes: list[_Write] = []
        # One run per watermark (nearly always one): the rules share its channel columns.
        first = R.SampleRun(sat.times, sat.values, after=sat_item.last_sample_time)
        runs = {first.after: first}
        for rule in config.rules:
            item = rule_items[f"{sat_item.satellite}#{rule.name}"]
            start = item.state
            if sat_item.last_sample_time > start.last_sample_time:
                start = start.with_watermark(sat_item.last_sample_time)
            after = start.last_sample_time
            run = runs.get(after) or runs.setdefault(after, first.since(after))
            state, edges = R.evaluate_run(rule, start, run)
            new = [
                self._transition(mission, config, rule, sat_item, after, edge)[1]
                for edge, after in edges
            ]
            if state.fired_at is not None:
                state = replace(
                    state, alert_id=alert_id(mission, sat_item.satellite, rule.name, state.fired_at)
                )
            if new or state.semantic() != item.state.semantic():
                writes.append(_Write(item, state, [*item.pending, *new], _alert_attributes(rule)))
            elif item.pending:
                writes.append(_Write(item, None, item.pending, {}))
        return writes

    def _store(self, mission: str, writes: Sequence[_Write], *, now: float) -> list[_Saved]:
        """Store one satellite's changed items in order (each conditional on its version)."""
        saved: list[_Saved] = []
        for w in writes:
            if w.state is None:
                saved.append((w.item, w.item.version, w.pending, w.item.state))
                continue
            version = self.store.save_rule(
                mission,
                w.item,
                w.state,
                pending=w.pending,
                attributes=w.attributes,
                expires_at=self._expiry(w.state, pending=bool(w.pending), now=now),
            )
            saved.append((w.item, version, w.pending, w.state))
        return saved

    def _store_all(
        self, mission: str, per_satellite: Sequence[Sequence[_Write]], *, now: float
    ) -> list[list[_Saved] | BaseException]:
        """`_store` for every satellite; satellites with items to write go concurrently (at most
        `_WRITERS` at a time), so a batch costs the round trips of its busiest satellite rather
        than the sum of all of them. Each satellite's outcome, or the exception it raised."""
        out: list[list[_Saved] | BaseException] = []
        busy = [i for i, ws in enumerate(per_satellite) if any(w.state is not None for w in ws)]
        futures = {}
        if len(busy) > 1:
            pool = self._writers()
            futures = {
                i: pool.submit(self._store, mission, per_satellite[i], now=now) for i in busy
            }
        for i, writes in enumerate(per_satellite):
            try:
                out.append(
                    futures[i].result() if i in futures else self._store(mission, writes, now=now)
                )
            except Exception as exc:
                out.append(exc)
        return out

    def _writers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_WRITERS, thread_name_prefix="alerts-write")
        return self._pool

    def _publish(self, saved: Sequence[_Saved], result: Result) -> set[str]:
        """Publish the transitions of `saved` in order; returns the keys of the items some of
        whose transitions were not published (their markers stay)."""
        key_of = {t.id: item.key for item, _, pending, _ in saved for t in pending}
        failed = self.notifier.publish_all([t for _, _, pending, _ in saved for t in pending])
        refused = {t.id for t in failed}
        result.transitions += [t for _, _, p, _ in saved for t in p if t.id not in refused]
        return {key_of[t.id] for t in failed}

    def _transition(
        self,
        mission: str,
        config: MissionAlerts,
        rule: AlertRule,
        sat_item: SatelliteItem,
        state: RuleState,
        edge: Edge,
    ) -> tuple[RuleState, Transition]:
        satellite = sat_item.satellite
        assert state.fired_at is not None  # every transition follows a firing
        state = replace(state, alert_id=alert_id(mission, satellite, rule.name, state.fired_at))
        assert state.alert_id is not None
        assert state.since is not None
        unit = _unit(rule)
        value = state.value
        if rule.kind == AlertKind.STALE:
            what = (
                f"no telemetry for {value:g} s"
                if edge == Edge.FIRING and value
                else "telemetry back"
            )
        else:
            shown = "—" if value is None else f"{value:g}"
            what = f"{rule.channel} = {shown} {unit} ({rule.operator} {rule.threshold:g})".replace(
                "  ", " "
            )
        transition = Transition(
            id=f"{state.alert_id}:{edge.value}",
            alert_id=state.alert_id,
            mission=mission,
            satellite=satellite,
            rule=rule.name,
            kind=rule.kind.value,
            channel=rule.channel,
            transition=edge.value,
            value=value,
            threshold=_threshold(rule),
            unit=unit,
            severity=rule.severity.value,
            spacecraft_time=format_time_ns(state.since),
            message=f"{rule.name} {edge.value} on {satellite}: {what}",
            link=satellite_link(config.api_url, satellite),
            extra={} if rule.clear_threshold is None else {"clear_threshold": rule.clear_threshold},
        )
        return state, transition

    # -- the scheduled sweep ---------------------------------------------------------------------

    def sweep(self, *, now: float) -> Result:
        """Fire stale rules of silent satellites and publish notifications a crash left pending."""
        result = Result()
        for mission, config in self.settings.alerts_missions.items():
            items = self.store.query(mission)
            sats = {
                d["key"]: SatelliteItem(
                    satellite=d["key"],
                    last_sample_time=int(d.get("last_sample_time", 0)),
                    last_seen=d.get("last_seen"),
                )
                for d in items
                if "#" not in d["key"]
            }
            rule_items = {
                d["key"]: item for d in items if "#" in d["key"] for item in [_item_of(d)]
            }
            stale_rules = [r for r in config.rules if r.kind == AlertKind.STALE]
            saved: list[_Saved] = []
            for item in rule_items.values():
                if item.pending:
                    saved.append((item, item.version, item.pending, item.state))
            for stored in sats.values():
                sat = self.newest_mark(mission, stored)
                # A stored last-seen may lag the latest sample by the write interval; the one
                # this process holds does not.
                slack = self._intervals[mission] if sat is stored else 0.0
                for rule in stale_rules:
                    key = f"{sat.satellite}#{rule.name}"
                    item = rule_items.get(key) or RuleItem(satellite=sat.satellite, rule=rule.name)
                    state = item.state
                    if sat.last_sample_time > state.last_sample_time:
                        state = replace(state, last_sample_time=sat.last_sample_time)
                    state, edge = R.sweep_stale(
                        rule, state, last_seen_s=sat.last_seen, now_s=now, slack_s=slack
                    )
                    if edge is None:
                        continue
                    state, transition = self._transition(mission, config, rule, sat, state, edge)
                    pending = [*item.pending, transition]
                    try:
                        version = self.store.save_rule(
                            mission,
                            item,
                            state,
                            pending=pending,
                            attributes=_alert_attributes(rule),
                            expires_at=self._expiry(state, pending=True, now=now),
                        )
                    except Conflict:
                        continue  # a batch moved this item meanwhile; the next sweep looks again
                    result.writes += 1
                    saved = [s for s in saved if s[0].key != key]
                    saved.append((item, version, pending, state))
            unpublished = self._publish(saved, result)
            cleared = self._cleared([s for s in saved if s[0].key not in unpublished], now=now)
            self.store.settle(mission, cleared=cleared, watermarks=[])
        return result


def _mark_due(stored: SatelliteItem, mark: SatelliteItem, interval_s: float) -> bool:
    """Whether `mark` must be written: the stored one is missing or `interval_s` (sample stamps)
    behind it (`rules.watermark_interval_s`)."""
    if stored.last_seen is None or mark.last_seen is None:
        return True
    return mark.last_seen - float(stored.last_seen) >= interval_s


def _item_of(data: Mapping[str, Any]) -> RuleItem:
    from .store import _rule_item

    return _rule_item(data)


def _unit(rule: AlertRule) -> str:
    if rule.kind == AlertKind.STALE:
        return "s"
    assert rule.channel is not None
    unit = CHANNEL_INDEX[rule.channel].unit
    return f"{unit}/s" if rule.kind == AlertKind.RATE_OF_CHANGE else unit


def _threshold(rule: AlertRule) -> float | None:
    if rule.kind == AlertKind.STALE and rule.stale_seconds is not None:
        return float(rule.stale_seconds)
    return rule.threshold


def _alert_attributes(rule: AlertRule) -> dict[str, Any]:
    return {
        "kind": rule.kind.value,
        "channel": rule.channel,
        "threshold": _threshold(rule),
        "clear_threshold": rule.clear_threshold,
        "unit": _unit(rule),
        "severity": rule.severity.value,
    }


@functools.cache
def _processor() -> AlertsProcessor:
    processor = AlertsProcessor.from_settings(load())
    # What the cold start built (modules, settings, clients) lives as long as the process:
    # frozen, the garbage collector no longer walks it on every full collection of a batch's
    # objects (about 7 % of the handler's CPU in bench/alerts_handler.py).
    gc.freeze()
    return processor


def reset() -> None:
    """Forget the cached settings and clients (a test that changes the environment)."""
    _processor.cache_clear()


def process(records: Sequence[KafkaRecord], *, now: float) -> Result:
    """`AlertsProcessor.process` with the settings of the environment (the runner's entry)."""
    return _processor().process(records, now=now)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: a Kafka event → `batchItemFailures`; a scheduled event → sweep."""
    now = time.time()
    if _is_scheduled(event):
        swept = _processor().sweep(now=now)
        return {"transitions": len(swept.transitions)}
    if not is_kafka_event(event):
        raise ValueError(
            f"unsupported event (eventSource {event.get('eventSource')!r}, "
            f"source {event.get('source')!r}): expected Kafka or an EventBridge schedule"
        )
    result = process(parse_kafka_event(event), now=now)
    log.info(
        "alerts batch",
        extra={
            "transitions": len(result.transitions),
            "failed": len(result.failed),
            "invalid": result.invalid,
            "unrouted": result.unrouted,
            "writes": result.writes,
        },
    )
    return result.response()
