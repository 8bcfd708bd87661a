"""Archive keys and which hours are closed: the layout readers rely on and the catch-up window."""

from __future__ import annotations

import pytest

from mpcs.lambdas.archive.layout import (
    HOUR_NS,
    high_water_key,
    hour_start,
    hours_to_archive,
    last_closed_hour,
    manifest_key,
    product_key,
    telemetry_key,
)
from mpcs.orbit.timeutil import NS_PER_S, parse_time_ns

H13 = parse_time_ns("2025-03-01T13:00:00Z")


def test_keys_are_hive_partitions_by_utc_date_and_hour() -> None:
    assert (
        telemetry_key("ops", "wildfire", H13, "sat-a")
        == "telemetry/ops/wildfire/date=2025-03-01/hour=13/sat-a.parquet"
    )
    late = parse_time_ns("2025-12-31T23:00:00Z")
    assert manifest_key("ops", "wildfire", late) == (
        "telemetry/ops/wildfire/date=2025-12-31/hour=23/_manifest.json"
    )
    assert high_water_key("ops", "wildfire") == "telemetry/ops/wildfire/_archived_through.json"
    assert product_key("ops", "wildfire", "sat-a", "X-000001", "json") == (
        "products/ops/wildfire/sat-a/X-000001.json"
    )


def test_a_key_is_only_made_for_the_start_of_an_hour() -> None:
    with pytest.raises(ValueError, match="not the start of an hour"):
        telemetry_key("ops", "wildfire", H13 + 1, "sat-a")


def test_hour_start_floors_to_the_utc_hour() -> None:
    assert hour_start(H13 + HOUR_NS - 1) == H13
    assert hour_start(H13) == H13


@pytest.mark.parametrize(
    ("now", "delay_s", "closed"),
    [
        ("2025-03-01T14:00:00Z", 0, "2025-03-01T13:00:00Z"),  # the hour just ended
        ("2025-03-01T13:59:59.999999999Z", 0, "2025-03-01T12:00:00Z"),  # 13:xx still open
        ("2025-03-01T14:04:59Z", 300, "2025-03-01T12:00:00Z"),  # within the grace period
        ("2025-03-01T14:05:00Z", 300, "2025-03-01T13:00:00Z"),
        ("2025-03-02T00:10:00Z", 300, "2025-03-01T23:00:00Z"),  # across midnight
    ],
)
def test_last_closed_hour(now: str, delay_s: int, closed: str) -> None:
    assert last_closed_hour(parse_time_ns(now), close_delay_s=delay_s) == parse_time_ns(closed)


def _hours(now: str, through: str | None, window: int) -> list[int]:
    return [
        (h - H13) // HOUR_NS
        for h in hours_to_archive(
            parse_time_ns(now),
            archived_through_ns=None if through is None else parse_time_ns(through),
            close_delay_s=0,
            max_catchup_hours=window,
        )
    ]


def test_after_the_mark_every_closed_hour_up_to_now_oldest_first() -> None:
    assert _hours("2025-03-01T17:30:00Z", "2025-03-01T13:00:00Z", 72) == [1, 2, 3]


def test_nothing_when_the_mark_is_the_last_closed_hour() -> None:
    assert _hours("2025-03-01T17:30:00Z", "2025-03-01T16:00:00Z", 72) == []
    assert _hours("2025-03-01T17:30:00Z", "2025-03-01T17:00:00Z", 72) == []


def test_the_catch_up_is_bounded_by_the_window() -> None:
    # Down for 4 hours with a 2-hour window: only the newest 2 closed hours are looked at.
    assert _hours("2025-03-01T17:30:00Z", "2025-03-01T12:00:00Z", 2) == [2, 3]


def test_without_a_mark_the_window_ends_at_the_last_closed_hour() -> None:
    assert _hours("2025-03-01T17:30:00Z", None, 3) == [1, 2, 3]


def test_the_window_must_hold_an_hour() -> None:
    with pytest.raises(ValueError, match="max_catchup_hours"):
        hours_to_archive(H13, archived_through_ns=None, close_delay_s=0, max_catchup_hours=0)


def test_the_grace_period_is_in_seconds() -> None:
    now = H13 + HOUR_NS + 59 * NS_PER_S
    assert last_closed_hour(now, close_delay_s=60) == H13 - HOUR_NS
    assert last_closed_hour(now, close_delay_s=59) == H13
