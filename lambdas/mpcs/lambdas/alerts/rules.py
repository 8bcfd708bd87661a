"""Pure rule evaluation: one sample moves one (satellite, rule) state; no I/O, no AWS type.

The handler calls `evaluate` for every rule on every sample in spacecraft-time order and
`sweep_stale` from its scheduled invocation; both return the new state and the transition a
person must hear about, if any (docs/alerts.md draws the state machine):

    ok ──crosses──► pending ──held forSeconds──► firing ──no longer crosses clear level──► ok
     ▲                 │                         (transition "firing")     (transition "resolved")
     └───stops crossing┘ (silent)

With forSeconds = 0 a crossing sample goes straight from ok to firing. A sample whose spacecraft
time is not after the state's watermark (`last_sample_time`) changes nothing: a redelivered or
out-of-order sample can neither fire nor resolve an alert twice.

>>> from mpcs.core.resources.mission import AlertRule
>>> rule = AlertRule(name="low", channel="power.battery_soc_pct", operator="<", threshold=25)
>>> state, edge = evaluate(rule, RuleState(), Sample("sat-a", 10, {"power.battery_soc_pct": 20}, 0))
>>> state.status.value, edge
('firing', <Edge.FIRING: 'firing'>)
>>> evaluate(rule, state, Sample("sat-a", 10, {"power.battery_soc_pct": 90}, 0)) == (state, None)
True
"""

from __future__ import annotations

import functools
import math
import operator as op
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import compress, count, islice
from typing import Any, NamedTuple, NoReturn

from mpcs.core.resources.mission import AlertKind, AlertRule, ComparisonOperator
from mpcs.core.telemetry import CHANNEL_INDEX, SCHEMA_VERSION, TelemetryError
from mpcs.orbit.timeutil import parse_time_ns

from .model import Edge, RuleState, Sample, Status

_NS = 1_000_000_000

_COMPARE: dict[ComparisonOperator, Callable[[float, float], bool]] = {
    ComparisonOperator.LT: op.lt,
    ComparisonOperator.LE: op.le,
    ComparisonOperator.GT: op.gt,
    ComparisonOperator.GE: op.ge,
    ComparisonOperator.EQ: op.eq,
}


def crosses(rule: AlertRule, measured: float, *, level: float | None = None) -> bool:
    """`measured <operator> level` (level: the rule's threshold unless given)."""
    assert rule.operator is not None  # the model requires operator and threshold unless stale
    assert rule.threshold is not None
    return _COMPARE[rule.operator](measured, rule.threshold if level is None else level)


def evaluate(rule: AlertRule, state: RuleState, sample: Sample) -> tuple[RuleState, Edge | None]:
    """The state after `sample` and the transition it caused (None: nobody is told)."""
    if sample.time_ns <= state.last_sample_time:
        return state, None
    state, edge = _advance(rule, state, sample.time_ns, sample.values)
    return replace(state, last_sample_time=sample.time_ns), edge


class SampleRun:
    """The samples of one satellite that move a rule whose watermark is `after`: those newer than
    the running watermark, in the order given (what `evaluate_run` would not skip), with each
    channel's values as a column shared by every rule of the satellite.

    The handler builds one per satellite and batch (per distinct watermark) and hands it to
    `evaluate_run` for each rule, so a rule finds its next crossing by a scan in C over a column
    instead of a Python step per sample.
    """

    __slots__ = ("_all", "_columns", "after", "times", "values")

    def __init__(
        self, times: Sequence[int], values: Sequence[Mapping[str, float]], *, after: int
    ) -> None:
        """From the samples' times and values (parallel sequences, the handler's form)."""
        self._all = (times, values)
        self.after = after
        if not times or (times[0] > after and all(map(op.lt, times, islice(times, 1, None)))):
            kept_times, kept_values = list(times), list(values)  # the common case: all of them
        else:
            kept_times, kept_values = [], []
            last = after
            for t, v in zip(times, values, strict=True):
                if t > last:
                    last = t
                    kept_times.append(t)
                    kept_values.append(v)
        self.times: list[int] = kept_times
        self.values: list[Mapping[str, float]] = kept_values
        self._columns: dict[str, list[float] | None] = {}

    @classmethod
    def of(cls, samples: Iterable[Sample], *, after: int) -> SampleRun:
        """From Sample objects."""
        listed = list(samples)
        return cls([s.time_ns for s in listed], [s.values for s in listed], after=after)

    def since(self, after: int) -> SampleRun:
        """The same samples for a rule whose watermark is `after`."""
        return self if after == self.after else SampleRun(*self._all, after=after)

    def column(self, channel: str) -> list[float] | None:
        """`channel`'s value in every sample; None unless every one is a float or an int (then
        the rules step through the samples one by one)."""
        try:
            return self._columns[channel]
        except KeyError:
            pass
        try:
            column: list[Any] = list(map(op.itemgetter(channel), self.values))
        except KeyError:
            column = [v.get(channel) for v in self.values]
        numbers = set(map(type, column)) <= _NUMBER_TYPES
        found = self._columns[channel] = column if numbers else None
        return found


_NUMBER_TYPES = frozenset({float, int})

#: `measured <operator> level` as a bound method of `level` (`level.__gt__(measured)` is
#: `measured < level` for a float level and a float or int measured: no Python frame per call).
_BOUND: dict[ComparisonOperator, str] = {
    ComparisonOperator.LT: "__gt__",
    ComparisonOperator.LE: "__ge__",
    ComparisonOperator.GT: "__lt__",
    ComparisonOperator.GE: "__le__",
    ComparisonOperator.EQ: "__eq__",
}


def _never(value: float) -> bool:
    return False


def _first(column: list[float], start: int, test: Callable[[float], bool], *, holds: bool) -> int:
    """The first index from `start` whose value passes `test` (`holds`) or fails it (not
    `holds`); len(column) if none."""
    found = map(test, islice(column, start, None))
    hits = compress(count(start), found if holds else map(op.not_, found))
    return next(hits, len(column))


def evaluate_run(
    rule: AlertRule, state: RuleState, samples: Iterable[Sample] | SampleRun
) -> tuple[RuleState, list[tuple[Edge, RuleState]]]:
    """`evaluate` folded over samples sorted by time, with each transition and the state right
    after it; the watermark is written once, which is what makes a batch cheap when nothing
    happens (the handler's hot loop).

    Only the samples that can change the state take a step through `_advance`, the one
    definition: a threshold rule at ok skips to its next crossing and, firing, to the first value
    that no longer crosses its clear level (a scan over the channel's column); a rateOfChange rule
    with a reference skips to the end of its window; a stale rule at ok ignores samples. The
    property tests hold this to the sample-by-sample fold.
    """
    after = state.last_sample_time
    if isinstance(samples, SampleRun):
        run = samples.since(after)
    else:
        run = SampleRun.of(samples, after=after)
    times, values = run.times, run.values
    n = len(times)
    edges: list[tuple[Edge, RuleState]] = []
    kind = rule.kind
    column: list[float] | None = None
    crossing = holding = _never
    if kind == AlertKind.THRESHOLD and rule.operator is not None and rule.channel is not None:
        column = run.column(rule.channel)
        name = _BOUND[rule.operator]
        threshold = float(rule.threshold or 0.0)  # the model requires it for this kind
        clear = threshold if rule.clear_threshold is None else float(rule.clear_threshold)
        crossing = getattr(threshold, name)
        holding = getattr(clear, name)
    window_s = rule.effective_window_seconds if kind == AlertKind.RATE_OF_CHANGE else 0
    i = 0
    while i < n:
        status = state.status
        if kind == AlertKind.STALE:
            if status == Status.OK:
                break  # at ok, samples only move the watermark
        elif column is not None:
            if status == Status.OK:
                i = _first(column, i, crossing, holds=True)
            elif status == Status.FIRING:
                i = _first(column, i, holding, holds=False)
            if i == n:
                break
        elif window_s and state.ref_time is not None and state.ref_value is not None:
            ref_time = state.ref_time
            i = bisect_left(times, True, lo=i, key=lambda t: (t - ref_time) / _NS >= window_s)
            if i == n:
                break
        state, edge = _advance(rule, state, times[i], values[i])
        if edge is not None:
            edges.append((edge, state))
        i += 1
    if n:
        state = state.with_watermark(times[-1])
    return state, edges


def _advance(
    rule: AlertRule, state: RuleState, t: int, values: Mapping[str, float]
) -> tuple[RuleState, Edge | None]:
    """One newer sample; the very `state` object back when nothing but the watermark moves."""
    if rule.kind == AlertKind.STALE:
        if state.status == Status.FIRING:
            return _resolve(state, t, value=None), Edge.RESOLVED
        return state, None
    assert rule.channel is not None  # the model requires a channel unless kind is stale
    value = values.get(rule.channel)
    if value is None:  # a text channel: nothing to compare
        return state, None
    measured = value
    if rule.kind == AlertKind.RATE_OF_CHANGE:
        if state.ref_time is None or state.ref_value is None:
            return replace(state, ref_value=value, ref_time=t), None
        dt_s = (t - state.ref_time) / _NS
        if dt_s < rule.effective_window_seconds:
            return state, None
        measured = abs(value - state.ref_value) / dt_s
        state = replace(state, ref_value=value, ref_time=t)
    return _step(rule, state, t, measured)


def _step(
    rule: AlertRule, state: RuleState, t: int, measured: float
) -> tuple[RuleState, Edge | None]:
    if state.status == Status.FIRING:
        clear = rule.clear_threshold if rule.clear_threshold is not None else rule.threshold
        if crosses(rule, measured, level=clear):
            return state, None
        return _resolve(state, t, value=measured), Edge.RESOLVED
    if not crosses(rule, measured):
        if state.status == Status.PENDING:
            return replace(state, status=Status.OK, since=t, pending_since=None), None
        return state, None
    pending_since = t if state.status == Status.OK else state.pending_since
    assert pending_since is not None
    if t - pending_since >= rule.for_seconds * _NS:
        return _fire(state, t, value=measured), Edge.FIRING
    if state.status == Status.PENDING:
        return state, None
    return replace(state, status=Status.PENDING, since=t, pending_since=t), None


def _fire(state: RuleState, t: int, *, value: float) -> RuleState:
    return replace(
        state,
        status=Status.FIRING,
        since=t,
        pending_since=None,
        alert_id=None,  # the handler names the alert (it knows the mission)
        alert_status=Edge.FIRING,
        fired_at=t,
        resolved_at=None,
        value=value,
    )


def _resolve(state: RuleState, t: int, *, value: float | None) -> RuleState:
    return replace(
        state,
        status=Status.OK,
        since=t,
        pending_since=None,
        alert_status=Edge.RESOLVED,
        resolved_at=t,
        value=value,
    )


#: The longest a satellite's stored watermark and last-seen may lag its newest processed sample.
WATERMARK_LAG_MAX_S = 10.0


def watermark_interval_s(rules: Iterable[AlertRule]) -> float:
    """How often (seconds of the satellite's sample stamps) its watermark item is written.

    Writing it with every batch was one write per satellite per second at 1 Hz, the most of the
    table's writes. Between writes the handler keeps the newest watermark in memory, so only a
    restart (which redelivers the uncommitted batch anyway) falls back to the stored one. A
    tenth of the shortest staleSeconds, at most `WATERMARK_LAG_MAX_S`: the sweep allows for that
    lag (`sweep_stale`'s `slack_s`), so a stale rule fires at most a tenth late, never early.
    """
    stale = [r.stale_seconds for r in rules if r.kind == AlertKind.STALE and r.stale_seconds]
    return min([WATERMARK_LAG_MAX_S, *(s / 10 for s in stale)])


def is_stale(rule: AlertRule, *, last_seen_s: float, now_s: float, slack_s: float = 0.0) -> bool:
    """No sample of the satellite for more than the rule's staleSeconds (wall clock), with
    `last_seen_s` possibly `slack_s` behind the satellite's latest sample."""
    assert rule.stale_seconds is not None  # the model requires it for kind stale
    return now_s - last_seen_s > rule.stale_seconds + slack_s


def sweep_stale(
    rule: AlertRule,
    state: RuleState,
    *,
    last_seen_s: float | None,
    now_s: float,
    slack_s: float = 0.0,
) -> tuple[RuleState, Edge | None]:
    """Fire a stale rule whose satellite has been silent too long (the scheduled sweep).

    `last_seen_s` is the wall-clock time of the satellite's latest sample as stored, at most
    `slack_s` behind the real one (`watermark_interval_s`); None: never seen, so it cannot be
    stale (the handler only knows satellites that once sent something). The alert's time is the
    spacecraft time of that latest sample, its value the silence in seconds; the next sample
    resolves it (`evaluate`).
    """
    if rule.kind != AlertKind.STALE or last_seen_s is None or state.status == Status.FIRING:
        return state, None
    if not is_stale(rule, last_seen_s=last_seen_s, now_s=now_s, slack_s=slack_s):
        return state, None
    fired = _fire(state, state.last_sample_time, value=round(now_s - last_seen_s, 3))
    return replace(fired, fired_at=int(now_s * _NS)), Edge.FIRING


@functools.lru_cache(maxsize=256)
def _minute_ns(prefix: str) -> int:
    return parse_time_ns(prefix + ":00Z")


def _time_ns(text: str) -> int:
    """`parse_time_ns` for the simulator's fixed-width form (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`),
    the minute parsed once per batch; any other form goes to `parse_time_ns`.

    >>> t = "2025-03-01T12:00:59.123456789Z"
    >>> _time_ns(t) == parse_time_ns(t)
    True
    """
    if (
        len(text) == 30
        and text[16] == ":"
        and text[19] == "."
        and text[29] == "Z"
        and text[17:19].isdigit()
        and text[20:29].isdigit()
        and text[17] < "6"
    ):
        return _minute_ns(text[:16]) + int(text[17:19]) * 1_000_000_000 + int(text[20:29])
    return parse_time_ns(text)


class ChannelRead(NamedTuple):
    """A channel some rule reads, with what `sample_from_message` checks of its value."""

    subsystem: str
    name: str
    key: str
    boolean: bool
    minimum: float
    maximum: float


def needed_channels(rules: Iterable[AlertRule]) -> tuple[ChannelRead, ...]:
    """The numeric and boolean channels the rules read (text channels are never compared)."""
    keys = sorted({r.channel for r in rules if r.channel is not None and r.kind != AlertKind.STALE})
    return tuple(
        ChannelRead(
            c.subsystem,
            c.name,
            c.key,
            c.type == "bool",
            -math.inf if c.minimum is None else c.minimum,
            math.inf if c.maximum is None else c.maximum,
        )
        for c in (CHANNEL_INDEX[k] for k in keys)
        if c.type != "str"
    )


def _reject(read: ChannelRead, message: dict[str, Any]) -> NoReturn:
    """Raise the TelemetryError that says what is wrong with the channel `read`."""
    group = message.get(read.subsystem)
    if not isinstance(group, dict) or read.name not in group:
        raise TelemetryError(read.key, "missing")
    value = group[read.name]
    if read.boolean:
        raise TelemetryError(read.key, f"{value!r} is not of type bool")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TelemetryError(read.key, f"{value!r} is not a number")
    raise TelemetryError(read.key, f"{value!r} outside {read.minimum}..{read.maximum}")


def sample_from_message(message: Any, *, seen_s: float, channels: Iterable[ChannelRead]) -> Sample:
    """A telemetry message as a Sample of `channels`; TelemetryError (naming the field) if the
    header or a channel read is not what schema version 1 says.

    Only the header and the channels read are checked (mpcs.core.telemetry.decode checks all
    ~50 channels for the ingest, 5× the cost of everything else the alerts do per record); the
    handler's MPCS_ALERTS_VALIDATE=full adds that check.
    """
    return read_sample(message, seen_s=seen_s, reads=group_reads(channels))


#: One channel read as `read_sample` walks it: the read (for `_reject`), its name and key,
#: whether it is boolean, and its bounds as floats.
_Read = tuple[ChannelRead, str, str, bool, float | int, float | int]
#: Channel reads in runs of one subsystem (`group_reads`).
Reads = tuple[tuple[str, tuple[_Read, ...]], ...]


def _as_float(bound: float) -> float:
    """A bound as a float when that is exact (a float compares with a float fastest)."""
    as_float = float(bound)
    return as_float if as_float == bound else bound


def group_reads(channels: Iterable[ChannelRead]) -> Reads:
    """`channels` in the given order, consecutive reads of one subsystem together (the message's
    subsystem object is looked up once per run): the handler computes it once per mission."""
    runs: list[tuple[str, list[_Read]]] = []
    for read in channels:
        if not runs or runs[-1][0] != read.subsystem:
            runs.append((read.subsystem, []))
        lo, hi = _as_float(read.minimum), _as_float(read.maximum)
        runs[-1][1].append((read, read.name, read.key, read.boolean, lo, hi))
    return tuple((subsystem, tuple(reads)) for subsystem, reads in runs)


def read_sample(message: Any, *, seen_s: float, reads: Reads) -> Sample:
    """`sample_from_message` with the reads grouped beforehand (`group_reads`)."""
    return Sample(*read_values(message, reads=reads), seen_s)


def read_values(message: Any, *, reads: Reads) -> tuple[str, int, dict[str, float]]:
    """The satellite, spacecraft time and values `read_sample` reads (the handler's per-record
    path: it keeps them in per-satellite lists rather than one Sample per record)."""
    if not isinstance(message, dict):
        raise TelemetryError("$", "message must be a JSON object")
    if message.get("version") != SCHEMA_VERSION:
        raise TelemetryError("version", f"{message.get('version')!r} is not {SCHEMA_VERSION}")
    satellite = message.get("satellite")
    if not isinstance(satellite, str) or not satellite or "#" in satellite:
        # "#" separates satellite and rule in the alert table's keys (Kubernetes names have none).
        raise TelemetryError("satellite", f"{satellite!r} is not a satellite name")
    try:
        time_ns = _time_ns(message["time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TelemetryError("time", str(exc)) from None
    values: dict[str, float] = {}
    for subsystem, run in reads:
        group = message.get(subsystem)
        if not isinstance(group, dict):
            _reject(run[0][0], message)
        for read, name, key, boolean, lo, hi in run:
            # The hot path: a present value of the right type inside the catalogued range;
            # anything else (absent: None) goes to `_reject`, which says what is wrong.
            value: Any = group.get(name)
            kind = type(value)
            if kind is float:
                if not boolean and lo <= value <= hi:  # NaN fails the comparison
                    values[key] = value
                    continue
            elif kind is bool:
                if boolean:
                    values[key] = 1.0 if value else 0.0
                    continue
            elif kind is int and not boolean and lo <= value <= hi:
                values[key] = float(value)
                continue
            _reject(read, message)
    return satellite, time_ns, values
