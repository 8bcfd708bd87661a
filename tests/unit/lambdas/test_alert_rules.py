"""Every rule kind and transition of the pure evaluator, in spacecraft time, with redelivery and
out-of-order samples (mpcs.lambdas.alerts.rules)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcs.core.resources.mission import AlertRule
from mpcs.core.telemetry import TelemetryError
from mpcs.lambdas.alerts import rules as R
from mpcs.lambdas.alerts.model import Edge, RuleState, Sample, Status
from mpcs.orbit.timeutil import format_time_ns, parse_time_ns

S = 1_000_000_000
#: Sample times in the tests are seconds after T0 (a 2023 spacecraft time).
T0 = 1_700_000_000
SOC = "power.battery_soc_pct"


def ns(t_s: float) -> int:
    return int((T0 + t_s) * S)


def rule(**fields: Any) -> AlertRule:
    base: dict[str, Any] = {"name": "low", "channel": SOC, "operator": "<", "threshold": 25}
    return AlertRule.model_validate({**base, **fields})


def sample(t_s: float, value: float | None = None, channel: str = SOC) -> Sample:
    values = {} if value is None else {channel: value}
    return Sample(satellite="sat-a", time_ns=ns(t_s), values=values, seen_s=T0 + t_s)


def run(r: AlertRule, points: Iterable[tuple[float, float]], state: RuleState | None = None):
    """Feed (time s, value) points; return the final state and [(time s, edge)]."""
    state = state or RuleState()
    edges = []
    for t, v in points:
        state, edge = R.evaluate(r, state, sample(t, v))
        if edge is not None:
            edges.append((t, edge))
    return state, edges


def test_threshold_fires_on_first_crossing_and_resolves() -> None:
    state, edges = run(rule(), [(0, 50), (1, 24), (2, 20), (3, 30)])
    assert edges == [(1, Edge.FIRING), (3, Edge.RESOLVED)]
    assert state.status == Status.OK
    assert state.alert_status == Edge.RESOLVED
    assert state.fired_at == ns(1)
    assert state.resolved_at == ns(3)
    assert state.value == 30


@pytest.mark.parametrize(
    ("operator", "threshold", "fires", "quiet"),
    [("<", 25, 24.9, 25), ("<=", 25, 25, 25.1), (">", 45, 45.1, 45), (">=", 45, 45, 44.9)],
)
def test_each_operator_crosses_at_its_edge(
    operator: str, threshold: float, fires: float, quiet: float
) -> None:
    r = rule(operator=operator, threshold=threshold)
    assert run(r, [(1, quiet)])[1] == []
    assert run(r, [(1, fires)])[1] == [(1, Edge.FIRING)]


def test_boolean_channel_compares_as_one_and_zero() -> None:
    r = rule(channel="obc.fdir_latched", operator="==", threshold=1)
    state = RuleState()
    found = []
    for t, v in [(0, 0.0), (1, 1.0), (2, 0.0)]:
        state, edge = R.evaluate(r, state, sample(t, v, channel="obc.fdir_latched"))
        found.append(edge)
    assert found == [None, Edge.FIRING, Edge.RESOLVED]


def test_hold_fires_only_after_for_seconds_of_spacecraft_time() -> None:
    r = rule(forSeconds=10)
    state, edges = run(r, [(0, 20), (5, 20), (9.9, 20)])
    assert edges == []
    assert state.status == Status.PENDING
    assert state.pending_since == ns(0)
    state, edges = run(r, [(10, 20)], state)
    assert edges == [(10, Edge.FIRING)]


def test_hold_restarts_when_the_condition_breaks_silently() -> None:
    r = rule(forSeconds=10)
    state, edges = run(r, [(0, 20), (5, 30), (6, 20), (15, 20)])
    assert edges == []  # pending → ok says nothing, and the hold restarted at t=6
    assert state.status == Status.PENDING
    assert state.pending_since == ns(6)
    assert run(r, [(16, 20)], state)[1] == [(16, Edge.FIRING)]


def test_hysteresis_resolves_only_beyond_the_clear_threshold() -> None:
    r = rule(clearThreshold=30)
    state, edges = run(r, [(0, 20), (1, 26), (2, 29.9)])
    assert edges == [(0, Edge.FIRING)]
    assert state.status == Status.FIRING
    assert run(r, [(3, 30)], state)[1] == [(3, Edge.RESOLVED)]


def test_hysteresis_for_an_upper_limit() -> None:
    r = rule(channel="thermal.battery_temp_c", operator=">", threshold=45, clearThreshold=40)
    state = RuleState()
    edges = []
    for t, v in [(0, 46), (1, 42), (2, 40)]:
        state, edge = R.evaluate(r, state, sample(t, v, channel="thermal.battery_temp_c"))
        edges.append(edge)
    assert edges == [Edge.FIRING, None, Edge.RESOLVED]


def test_rate_of_change_uses_the_window_and_absolute_rate() -> None:
    r = rule(kind="rateOfChange", operator=">", threshold=0.5, windowSeconds=10)
    # 80 → 70 over 10 s: |−1 %/s| > 0.5 fires; the reference only moves once a window has passed.
    state, edges = run(r, [(0, 80), (5, 75), (10, 70)])
    assert edges == [(10, Edge.FIRING)]
    assert state.value == pytest.approx(1.0)
    assert state.ref_time == ns(10)
    state, edges = run(r, [(15, 69), (20, 68)], state)
    assert edges == [(20, Edge.RESOLVED)]
    assert state.value == pytest.approx(0.2)


def test_rate_of_change_default_window_is_60_s() -> None:
    r = rule(kind="rateOfChange", operator=">", threshold=0.1)
    _, edges = run(r, [(0, 80), (59, 10)])
    assert edges == []
    assert run(r, [(0, 80), (60, 10)])[1] == [(60, Edge.FIRING)]


def test_text_channels_are_never_compared() -> None:
    r = rule(channel="obc.fdir_reason", operator="==", threshold=1)
    state, edge = R.evaluate(r, RuleState(), sample(1, None))
    assert edge is None
    assert state.status == Status.OK
    assert state.last_sample_time == ns(1)


def test_stale_fires_from_the_sweep_and_resolves_on_the_next_sample() -> None:
    r = rule(kind="stale", staleSeconds=60, channel=None, operator=None, threshold=None)
    state = RuleState(last_sample_time=ns(100))
    assert R.sweep_stale(r, state, last_seen_s=1000, now_s=1060) == (state, None)
    fired, edge = R.sweep_stale(r, state, last_seen_s=1000, now_s=1060.5)
    assert edge == Edge.FIRING
    assert fired.status == Status.FIRING
    assert fired.since == ns(100)  # the spacecraft time of the last sample heard
    assert fired.value == 60.5
    assert R.sweep_stale(r, fired, last_seen_s=1000, now_s=2000) == (fired, None)
    assert R.evaluate(r, fired, sample(100, 0))[1] is None  # not newer: still silent
    resolved, edge = R.evaluate(r, fired, sample(101, 0))
    assert edge == Edge.RESOLVED
    assert resolved.status == Status.OK


def test_stale_never_fires_for_a_satellite_never_heard() -> None:
    r = rule(kind="stale", staleSeconds=60, channel=None, operator=None, threshold=None)
    assert R.sweep_stale(r, RuleState(), last_seen_s=None, now_s=1e9) == (RuleState(), None)


def test_a_redelivered_sample_changes_nothing() -> None:
    r = rule()
    state, edges = run(r, [(0, 50), (1, 20)])
    assert edges == [(1, Edge.FIRING)]
    again, edges = run(r, [(0, 50), (1, 20)], state)
    assert again == state
    assert edges == []


def test_an_out_of_order_sample_changes_nothing() -> None:
    r = rule()
    state, _ = run(r, [(0, 20), (5, 21)])
    assert state.status == Status.FIRING
    # An older sample whose value would resolve the alert arrives late: ignored.
    late, edges = run(r, [(3, 90)], state)
    assert late == state
    assert edges == []


def _message(**groups: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "satellite": "sat-a",
        "time": "2025-03-01T12:00:00.500000000Z",
        "power": {"battery_soc_pct": 42},
        "obc": {"fdir_latched": True, "fdir_reason": "x"},
        **groups,
    }


_READS = R.needed_channels(
    [rule(), rule(name="f", channel="obc.fdir_latched", operator="==", threshold=1)]
)


def test_sample_from_message_reads_numbers_and_booleans() -> None:
    s = R.sample_from_message(_message(), seen_s=7.0, channels=_READS)
    assert s.values == {SOC: 42.0, "obc.fdir_latched": 1.0}
    assert s.time_ns == 1740830400 * S + S // 2
    assert s.seen_s == 7.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 2}, "version"),
        ({"satellite": ""}, "satellite"),
        ({"satellite": "sat#a"}, "satellite"),
        ({"time": "yesterday"}, "time"),
        ({"power": {"battery_soc_pct": 101}}, SOC),
        ({"power": {"battery_soc_pct": True}}, SOC),
        ({"power": {"battery_soc_pct": float("nan")}}, SOC),
        ({"power": {}}, SOC),
        ({"obc": {"fdir_latched": 1}}, "obc.fdir_latched"),
    ],
)
def test_sample_from_message_rejects_what_it_reads_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(TelemetryError) as exc:
        R.sample_from_message({**_message(), **change}, seen_s=0, channels=_READS)
    assert exc.value.path == field


def test_sample_from_message_ignores_channels_no_rule_reads() -> None:
    message = _message(thermal={"battery_temp_c": "hot"})
    assert R.sample_from_message(message, seen_s=0, channels=_READS).values[SOC] == 42.0


def _reference(r: AlertRule, points: list[tuple[int, float]]) -> list[tuple[int, Edge]]:
    """The same machine written the plain way (a `<` rule with forSeconds and hysteresis): walk
    the samples as they come, skipping any not newer than the newest seen."""
    clear = r.clear_threshold if r.clear_threshold is not None else r.threshold
    assert r.threshold is not None
    assert clear is not None
    status, since, edges, last = "ok", 0, [], None
    for t, v in points:
        if last is not None and t <= last:
            continue
        last = t
        below = v < r.threshold
        if status == "firing":
            if not v < clear:
                status = "ok"
                edges.append((t, Edge.RESOLVED))
        elif below:
            if status == "ok":
                status, since = "pending", t
            if t - since >= r.for_seconds:
                status = "firing"
                edges.append((t, Edge.FIRING))
        else:
            status = "ok"
    return edges


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=40),
    steps=st.lists(st.integers(min_value=-3, max_value=5), min_size=40, max_size=40),
    hold=st.integers(min_value=0, max_value=6),
    clear=st.floats(min_value=25, max_value=40),
)
def test_property_matches_a_plain_reference_and_redelivery_is_a_no_op(
    values: list[float], steps: list[int], hold: int, clear: float
) -> None:
    r = rule(forSeconds=hold, clearThreshold=clear)
    t, points = 0, []
    for v, step in zip(values, steps, strict=False):
        t += step  # negative steps make out-of-order samples
        points.append((t, v))
    state, edges = run(r, points)
    assert edges == _reference(r, points)
    # Redelivering every sample, in any order, after the fact changes nothing and notifies nobody.
    again, more = run(r, list(reversed(points)) + points, state)
    assert more == []
    assert again == state
    # The handler's batch fold gives the same state and transitions as sample-by-sample.
    run_state, run_edges = R.evaluate_run(r, RuleState(), [sample(t, v) for t, v in points])
    assert run_state == state
    assert [(round((after.since or 0) / S - T0), e) for e, after in run_edges] == edges
    # Firings and resolutions alternate, starting with a firing.
    kinds = [e for _, e in edges]
    assert kinds == [Edge.FIRING, Edge.RESOLVED] * (len(kinds) // 2) + [Edge.FIRING] * (
        len(kinds) % 2
    )


@settings(max_examples=300, deadline=None)
@given(time_ns=st.integers(min_value=0, max_value=4_102_444_800 * S))
def test_the_fast_time_parser_agrees_with_the_reference(time_ns: int) -> None:
    text = format_time_ns(time_ns)
    assert R._time_ns(text) == parse_time_ns(text) == time_ns


@pytest.mark.parametrize(
    "text", ["2025-03-01T12:00:59Z", "2025-03-01T12:00:59.5Z", "2025-03-01T12:00:60.000000000Z"]
)
def test_other_time_forms_take_the_reference_path(text: str) -> None:
    def outcome(parse: Any) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            return str(exc)

    assert outcome(R._time_ns) == outcome(parse_time_ns)
