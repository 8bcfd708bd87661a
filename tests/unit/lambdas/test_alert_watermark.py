"""The satellite watermark item is written every `rules.watermark_interval_s` of samples, not
with every batch; between writes the handler holds the newest one in memory. What that must keep:
redelivered samples change nothing in the process that saw them, a restarted one falls back to
the stored (older) watermark only, and a stale rule never fires early because the stored
last-seen lags."""

from __future__ import annotations

from test_alert_expiry import MISSION, NOW, RULES, T0, _batch, _processor

from mpcs.core.resources.mission import AlertRule
from mpcs.lambdas.alerts import rules as R
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.alerts.model import Status

S = 1_000_000_000


def _rule(**fields: object) -> AlertRule:
    return AlertRule.model_validate({"name": "r", **fields})


def test_the_interval_is_a_tenth_of_the_shortest_stale_rule_and_at_most_ten_seconds() -> None:
    low = _rule(channel="power.battery_soc_pct", operator="<", threshold=25)
    assert R.watermark_interval_s([low]) == R.WATERMARK_LAG_MAX_S == 10.0
    assert R.watermark_interval_s([low, _rule(kind="stale", staleSeconds=30)]) == 3.0
    assert R.watermark_interval_s([_rule(kind="stale", staleSeconds=600)]) == 10.0
    assert R.watermark_interval_s([_rule(kind="stale", staleSeconds=1)]) == 0.1


def test_the_watermark_is_written_once_per_interval_and_held_in_memory_between() -> None:
    processor, store = _processor()  # a 30 s stale rule: interval 3 s
    processor.process(_batch([(1, 50.0)]), now=NOW)
    assert store.sats["sat-a"].last_sample_time == (T0 + 1) * S  # first: written
    processor.process(_batch([(2, 50.0), (3, 50.0)], first_offset=1), now=NOW)
    assert store.sats["sat-a"].last_sample_time == (T0 + 1) * S  # 2 s of samples: not yet
    assert processor.newest_mark(MISSION, store.sats["sat-a"]).last_sample_time == (T0 + 3) * S
    processor.process(_batch([(4, 50.0)], first_offset=3), now=NOW)
    assert store.sats["sat-a"].last_sample_time == (T0 + 4) * S  # 3 s after the written one


def test_a_redelivered_sample_behind_the_held_watermark_changes_nothing() -> None:
    processor, store = _processor()
    processor.process(_batch([(1, 50.0)]), now=NOW)
    processor.process(_batch([(3, 50.0)], first_offset=1), now=NOW)  # held, not written
    # A sample at 2 s, low enough to fire "low", arrives late: the held watermark (3 s) drops it.
    result = processor.process(_batch([(2, 10.0)], first_offset=2), now=NOW)
    assert result.transitions == []
    assert "sat-a#low" not in store.rules


def test_a_restarted_processor_falls_back_to_the_stored_watermark() -> None:
    processor, store = _processor()
    processor.process(_batch([(1, 50.0)]), now=NOW)
    processor.process(_batch([(3, 50.0)], first_offset=1), now=NOW)
    restarted = AlertsProcessor(processor.settings, dynamodb=None, sns=None)
    restarted.store, restarted.notifier = store, processor.notifier
    assert restarted.newest_mark(MISSION, store.sats["sat-a"]).last_sample_time == (T0 + 1) * S


def test_the_sweep_allows_for_a_stored_last_seen_that_lags() -> None:
    """The stored last-seen may be up to the interval (3 s) behind the latest sample: from the
    store alone, the 30 s stale rule waits 33 s; the process that saw the sample waits 30 s."""
    processor, store = _processor()
    assert [r["name"] for r in RULES if r.get("kind") == "stale"] == ["silent"]
    processor.process(_batch([(1, 50.0)]), now=NOW)  # last seen: T0 + 1 (the record stamp)
    processor.process(_batch([(3, 50.0)], first_offset=1), now=NOW)  # held: T0 + 3
    restarted = AlertsProcessor(processor.settings, dynamodb=None, sns=None)
    restarted.store, restarted.notifier = store, processor.notifier
    assert restarted.sweep(now=T0 + 1 + 33).transitions == []  # 33 s after the stored one
    assert processor.sweep(now=T0 + 3 + 30).transitions == []  # 30 s after the held one
    assert [t.rule for t in processor.sweep(now=T0 + 3 + 30.5).transitions] == ["silent"]
    fresh = AlertsProcessor(processor.settings, dynamodb=None, sns=None)
    fresh.store, fresh.notifier = store, processor.notifier
    store.rules.clear()
    assert [t.rule for t in fresh.sweep(now=T0 + 1 + 33.5).transitions] == ["silent"]
    assert store.rules["sat-a#silent"].state.status is Status.FIRING
