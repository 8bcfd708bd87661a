"""The alerts handler's fast paths agree with the plain definitions on generated inputs.

`evaluate_run` (channel columns scanned in C, shared by a satellite's rules) against `evaluate`
folded sample by sample; `read_sample` (reads grouped by subsystem) against the straightforward
per-channel reader it replaced; `AlertsProcessor.process` (parallel lists, sorting only out of
order batches, one run per watermark) against a sort-and-fold reference over whole batches; and
the hand-written `RuleState.with_watermark` / `Transition.to_dict` against dataclasses'.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, NoReturn

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcs.core.resources.mission import AlertKind, AlertRule
from mpcs.core.telemetry import TelemetryError
from mpcs.lambdas.alerts import rules as R
from mpcs.lambdas.alerts.events import KafkaRecord
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.alerts.model import Edge, RuleState, Sample, Status, Transition
from mpcs.lambdas.alerts.store import AlertStore, RuleItem, SatelliteItem, rule_key
from mpcs.lambdas.settings import AlertsSettings
from mpcs.orbit.timeutil import format_time_ns

S = 1_000_000_000
T0 = 1_700_000_000
SOC = "power.battery_soc_pct"
TEMP = "thermal.battery_temp_c"
FDIR = "obc.fdir_latched"
MISSION = "ops/prop"
TOPIC = "mpcs.ops.prop.telemetry"

RULES: list[dict[str, Any]] = [
    {"name": "low", "channel": SOC, "operator": "<", "threshold": 25, "clearThreshold": 30,
     "forSeconds": 3},
    {"name": "low-now", "channel": SOC, "operator": "<=", "threshold": 20},
    {"name": "hot", "channel": TEMP, "operator": ">", "threshold": 45, "clearThreshold": 40},
    {"name": "warm", "channel": TEMP, "operator": ">=", "threshold": 40, "forSeconds": 2},
    {"name": "fdir", "channel": FDIR, "operator": "==", "threshold": 1},
    {"name": "dropping", "kind": "rateOfChange", "channel": SOC, "operator": ">", "threshold": 2,
     "windowSeconds": 3},
    {"name": "text", "channel": "adcs.attitude", "operator": "==", "threshold": 1},
    {"name": "silent", "kind": "stale", "staleSeconds": 30},
]  # fmt: skip
ALERT_RULES = [AlertRule.model_validate(r) for r in RULES]


# -- evaluate_run against evaluate ----------------------------------------------------------------


def _fold(
    rule: AlertRule, state: RuleState, samples: Iterable[Sample]
) -> tuple[RuleState, list[tuple[Edge, tuple[Any, ...]]]]:
    edges = []
    for sample in samples:
        state, edge = R.evaluate(rule, state, sample)
        if edge is not None:
            edges.append((edge, state.semantic()))
    return state, edges


values_st = st.one_of(
    st.floats(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.sampled_from([0.0, 1.0, 20.0, 25.0, 30.0, 40.0, 45.0]),
)
states_st = st.builds(
    RuleState,
    status=st.sampled_from(list(Status)),
    since=st.just(0),
    last_sample_time=st.integers(min_value=0, max_value=5).map(lambda t: t * S),
    pending_since=st.sampled_from([None, 0, 2 * S]),
    ref_value=st.sampled_from([None, 50.0, 10.0]),
    ref_time=st.sampled_from([None, 0, 3 * S]),
    fired_at=st.sampled_from([None, S]),
)


@settings(max_examples=300, deadline=None)
@given(
    points=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=40),
            st.fixed_dictionaries({}, optional={SOC: values_st, TEMP: values_st, FDIR: values_st}),
        ),
        max_size=40,
    ),
    start=states_st,
    in_order=st.booleans(),
)
def test_evaluate_run_with_a_shared_run_is_the_sample_by_sample_fold(
    points: list[tuple[int, dict[str, float]]], start: RuleState, in_order: bool
) -> None:
    if start.status == Status.PENDING and start.pending_since is None:
        start = dataclasses.replace(start, pending_since=0)
    if in_order:
        points = sorted(points, key=lambda p: p[0])
    samples = [Sample("sat-a", T0 * S + t * S, v, 0.0) for t, v in points]
    run = R.SampleRun.of(samples, after=start.last_sample_time)
    for rule in ALERT_RULES:
        expected, expected_edges = _fold(rule, start, samples)
        for given_samples in (run, samples, R.SampleRun.of(samples, after=-1)):
            state, edges = R.evaluate_run(rule, start, given_samples)
            assert state == expected, rule.name
            assert [(e, after.semantic()) for e, after in edges] == expected_edges, rule.name


# -- read_sample against the per-channel reader ----------------------------------------------------


def _reject(read: R.ChannelRead, message: dict[str, Any]) -> NoReturn:
    R._reject(read, message)


def _reference_sample(message: Any, *, seen_s: float, channels: Iterable[R.ChannelRead]) -> Sample:
    """The reader `read_sample` replaced (one channel at a time, bounds as catalogued)."""
    if not isinstance(message, dict):
        raise TelemetryError("$", "message must be a JSON object")
    if message.get("version") != 1:
        raise TelemetryError("version", f"{message.get('version')!r} is not 1")
    satellite = message.get("satellite")
    if not isinstance(satellite, str) or not satellite or "#" in satellite:
        raise TelemetryError("satellite", f"{satellite!r} is not a satellite name")
    try:
        time_ns = R._time_ns(message["time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TelemetryError("time", str(exc)) from None
    values: dict[str, float] = {}
    for read in channels:
        try:
            value = message[read.subsystem][read.name]
        except (KeyError, TypeError):
            _reject(read, message)
        if read.boolean:
            if type(value) is not bool:
                _reject(read, message)
            values[read.key] = 1.0 if value else 0.0
        elif type(value) in (float, int) and read.minimum <= value <= read.maximum:
            values[read.key] = float(value)
        else:
            _reject(read, message)
    return Sample(satellite=satellite, time_ns=time_ns, values=values, seen_s=seen_s)


def _outcome(read: Any, message: Any, channels: Any) -> object:
    try:
        return read(message, seen_s=1.0, channels=channels)
    except TelemetryError as exc:
        return ("error", exc.path, exc.message)


odd_values = st.one_of(
    values_st,
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(math.nan),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
channel_groups = st.fixed_dictionaries(
    {},
    optional={
        "power": st.one_of(
            st.fixed_dictionaries({}, optional={"battery_soc_pct": odd_values}), st.just([])
        ),
        "thermal": st.fixed_dictionaries({}, optional={"battery_temp_c": odd_values}),
        "obc": st.fixed_dictionaries(
            {}, optional={"fdir_latched": odd_values, "uptime_s": odd_values}
        ),
    },
)
header = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 1, 1, 2]),
        "satellite": st.sampled_from(["sat-a", "sat-b", "", "a#b"]),
        "time": st.sampled_from(
            ["2025-03-01T12:00:00.500000000Z", "2025-03-01T12:00:00Z", "never", 5]
        ),
    }
)
READS = R.needed_channels(
    [
        *ALERT_RULES,
        AlertRule.model_validate(
            {"name": "up", "channel": "obc.uptime_s", "operator": ">", "threshold": 9}
        ),
    ]
)


def _grouped_reader(grouped: R.Reads) -> Any:
    def read(message: Any, *, seen_s: float, channels: Any) -> Sample:
        return R.read_sample(message, seen_s=seen_s, reads=grouped)

    return read


@settings(max_examples=500, deadline=None)
@given(head=header, groups=channel_groups, order=st.permutations(range(len(READS))))
def test_read_sample_is_the_per_channel_reader(
    head: dict[str, Any], groups: dict[str, Any], order: list[int]
) -> None:
    message = {**head, **groups}
    for channels in (READS, tuple(READS[i] for i in order)):
        expected = _outcome(_reference_sample, message, channels)
        assert _outcome(R.sample_from_message, message, channels) == expected
        grouped = R.group_reads(channels)
        assert _outcome(_grouped_reader(grouped), message, channels) == expected


# -- the handler against sort-and-fold ----------------------------------------------------------


class MemoryStore(AlertStore):
    """The alert table as dicts (reads and writes, no conditions: one writer)."""

    def __init__(self) -> None:
        super().__init__(client=None, table="memory")
        self.rules: dict[str, RuleItem] = {}
        self.sats: dict[str, SatelliteItem] = {}

    def load(self, mission: str, satellites: Any, rules: Any) -> Any:
        names = list(rules)
        sats = {s: self.sats.get(s, SatelliteItem(satellite=s)) for s in satellites}
        items = {
            rule_key(s, r): self.rules.get(rule_key(s, r), RuleItem(satellite=s, rule=r))
            for s in sats
            for r in names
        }
        return sats, items

    def save_rule(
        self,
        mission: str,
        item: RuleItem,
        state: RuleState,
        *,
        pending: Any,
        attributes: Any,
        expires_at: int | None = None,
    ) -> int:
        self.rules[item.key] = RuleItem(
            satellite=item.satellite, rule=item.rule, state=state, version=item.version + 1
        )
        return item.version + 1

    def settle(self, mission: str, *, cleared: Any, watermarks: Any) -> None:
        for sat in watermarks:
            self.sats[sat.satellite] = sat


class NullSns:
    def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [], "Failed": []}


def _processor() -> tuple[AlertsProcessor, MemoryStore]:
    settings_ = AlertsSettings.model_validate(
        {
            "alerts_topic_arn": "arn:aws:sns:us-east-1:000000000000:prop",
            "alerts_missions": {MISSION: {"rules": RULES}},
        }
    )
    processor = AlertsProcessor(settings_, dynamodb=None, sns=None)
    store = MemoryStore()
    processor.store = store
    processor.notifier.client = NullSns()
    return processor, store


record_st = st.tuples(
    st.sampled_from(["sat-a", "sat-b", "sat-c"]),
    st.integers(min_value=0, max_value=30),  # spacecraft time, s after T0
    st.floats(min_value=0, max_value=100),  # state of charge
    st.floats(min_value=-10, max_value=60),  # battery temperature
    st.booleans(),  # fault protection latched
    st.sampled_from(["ok", "ok", "ok", "ok", "invalid", "not-json", "unrouted"]),
)


def _records(batch: list[tuple[str, int, float, float, bool, str]], first: int) -> list[Any]:
    out = []
    for i, (sat, t, soc, temp, fdir, how) in enumerate(batch):
        message = {
            "version": 1,
            "satellite": sat,
            "time": format_time_ns((T0 + t) * S),
            "power": {"battery_soc_pct": soc if how != "invalid" else 101.0},
            "thermal": {"battery_temp_c": temp},
            "obc": {"fdir_latched": fdir},
        }
        value = b"{" if how == "not-json" else orjson.dumps(message)
        topic = "mpcs.ops.other.telemetry" if how == "unrouted" else TOPIC
        out.append(KafkaRecord(topic, i % 2, first + i, value, sat.encode(), (T0 + t) * 1000))
    return out


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(record_st, max_size=30), min_size=1, max_size=3))
def test_process_is_sort_and_fold_per_satellite_and_rule(
    batches: list[list[tuple[str, int, float, float, bool, str]]],
) -> None:
    processor, store = _processor()
    reads = R.needed_channels(ALERT_RULES)
    expected_states: dict[str, RuleState] = {}
    offset = 0
    for batch in batches:
        records = _records(batch, offset)
        offset += len(records)
        result = processor.process(records, now=0.0)
        # The reference: valid samples per satellite (in order of first appearance), sorted by
        # (time, offset), each rule folded sample by sample from its stored state.
        per_sat: dict[str, list[tuple[Sample, int]]] = {}
        invalid = unrouted = 0
        for record, (_, _, _, _, _, how) in zip(records, batch, strict=True):
            if how == "unrouted":
                unrouted += 1
                continue
            try:
                sample = R.sample_from_message(
                    orjson.loads(record.value), seen_s=record.timestamp_ms / 1000, channels=reads
                )
            except (TelemetryError, orjson.JSONDecodeError):
                invalid += 1
                continue
            per_sat.setdefault(sample.satellite, []).append((sample, record.offset))
        expected = []
        for sat, pairs in per_sat.items():
            samples = [s for s, _ in sorted(pairs, key=lambda p: (p[0].time_ns, p[1]))]
            for rule in ALERT_RULES:
                key = rule_key(sat, rule.name)
                state = expected_states.get(key, RuleState())
                for sample in samples:
                    state, edge = R.evaluate(rule, state, sample)
                    if edge is not None:
                        expected.append((sat, rule.name, edge.value, format_time_ns(state.since)))
                expected_states[key] = state
        assert (result.invalid, result.unrouted, result.failed) == (invalid, unrouted, [])
        assert [
            (t.satellite, t.rule, t.transition, t.spacecraft_time) for t in result.transitions
        ] == expected
        for key, state in expected_states.items():
            stored = store.rules.get(key)
            found = RuleState() if stored is None else stored.state
            # The handler names the alert (the fold leaves alert_id None); the rest is the fold's.
            assert dataclasses.replace(found, alert_id=None).semantic() == state.semantic()
        for sat in per_sat:
            # The watermark in force is the newest; the stored one may lag it (written every
            # rules.watermark_interval_s of samples), never lead it.
            newest = processor.newest_mark(MISSION, store.sats[sat]).last_sample_time
            assert newest == max(
                s.last_sample_time for k, s in expected_states.items() if k.startswith(sat + "#")
            )
            assert store.sats[sat].last_sample_time <= newest


# -- hand-written copies of dataclasses' helpers --------------------------------------------------


@given(state=states_st, watermark=st.integers(min_value=0, max_value=10**19))
def test_with_watermark_is_replace(state: RuleState, watermark: int) -> None:
    assert state.with_watermark(watermark) == dataclasses.replace(state, last_sample_time=watermark)


@pytest.mark.parametrize("extra", [{}, {"clear_threshold": 30.0}, {"nested": {"a": [1, 2]}}])
def test_transition_to_dict_is_asdict(extra: dict[str, Any]) -> None:
    names = [f.name for f in dataclasses.fields(Transition)]
    t = Transition(**{n: f"{n}-value" for n in names if n != "extra"}, extra=extra)  # type: ignore[arg-type]
    assert t.to_dict() == dataclasses.asdict(t)
    assert list(t.to_dict()) == names
    assert t.to_dict()["extra"] is not t.extra


def test_a_stale_rule_only_moves_its_watermark_at_ok() -> None:
    rule = next(r for r in ALERT_RULES if r.kind == AlertKind.STALE)
    samples = [Sample("sat-a", t * S, {}, 0.0) for t in (3, 1, 5, 5)]
    state, edges = R.evaluate_run(rule, RuleState(last_sample_time=2 * S), samples)
    assert (state, edges) == (RuleState(last_sample_time=5 * S), [])
