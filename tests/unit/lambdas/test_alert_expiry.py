"""Which alert items expire and when (docs/alerts.md#expiry), without AWS.

A pair back at ok with nothing left to notify gets `expires_at` = the write's wall clock + the
retention (epoch seconds, DynamoDB's TTL format); a pending or firing pair never carries it, and a
resolution gets it only once its notification is published (the marker's clear sets it). A
satellite's watermark carries it on every move. Retention 0: nothing expires.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from mpcs.lambdas.alerts.events import KafkaRecord
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.alerts.model import RuleState, Status
from mpcs.lambdas.alerts.store import (
    AlertStore,
    Cleared,
    RuleItem,
    SatelliteItem,
    expiry,
    rule_key,
)
from mpcs.lambdas.settings import AlertsSettings
from mpcs.orbit.timeutil import format_time_ns

S = 1_000_000_000
T0 = 1_700_000_000
DAY = 86_400
NOW = 1_800_000_000.7  # the handler's wall clock (Unix s)
MISSION = "ops/ttl"
TOPIC = "mpcs.ops.ttl.telemetry"
RULES: list[dict[str, Any]] = [
    {"name": "low", "channel": "power.battery_soc_pct", "operator": "<", "threshold": 25,
     "clearThreshold": 30},
    {"name": "held", "channel": "power.battery_soc_pct", "operator": "<", "threshold": 25,
     "forSeconds": 10},
    {"name": "silent", "kind": "stale", "staleSeconds": 30},
]  # fmt: skip


class RecordingStore(AlertStore):
    """The table as dicts, recording what each write would carry as `expires_at`."""

    def __init__(self) -> None:
        super().__init__(client=None, table="memory")
        self.rules: dict[str, RuleItem] = {}
        self.sats: dict[str, SatelliteItem] = {}
        self.expires: dict[str, int | None] = {}
        self.saves: list[tuple[str, Status, bool, int | None]] = []
        self.clears: list[Cleared] = []

    def load(self, mission: str, satellites: Any, rules: Any) -> Any:
        names = list(rules)
        sats = {s: self.sats.get(s, SatelliteItem(satellite=s)) for s in satellites}
        items = {
            rule_key(s, r): self.rules.get(rule_key(s, r), RuleItem(satellite=s, rule=r))
            for s in sats
            for r in names
        }
        return sats, items

    def query(self, mission: str, prefix: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"key": s.satellite, "last_sample_time": s.last_sample_time, "last_seen": s.last_seen}
            for s in self.sats.values()
        ]
        return out

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
            satellite=item.satellite,
            rule=item.rule,
            state=state,
            version=item.version + 1,
            pending=list(pending),
        )
        self.expires[item.key] = expires_at
        self.saves.append((item.key, state.status, bool(pending), expires_at))
        return item.version + 1

    def settle(self, mission: str, *, cleared: Any, watermarks: Any) -> None:
        for c in cleared:
            self.clears.append(c)
            item = self.rules.get(c.key)
            if item is not None and item.version == c.version:
                item.pending = []
                if c.expires_at is not None:
                    self.expires[c.key] = c.expires_at
        for sat in watermarks:
            self.sats[sat.satellite] = sat


class NullSns:
    def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [], "Failed": []}


def _processor(**settings: Any) -> tuple[AlertsProcessor, RecordingStore]:
    validated = AlertsSettings.model_validate(
        {
            "alerts_topic_arn": "arn:aws:sns:us-east-1:000000000000:ttl",
            "alerts_missions": {MISSION: {"rules": RULES}},
            **settings,
        }
    )
    processor = AlertsProcessor(validated, dynamodb=None, sns=None)
    store = RecordingStore()
    processor.store = store
    processor.notifier.client = NullSns()
    return processor, store


def _batch(soc_by_second: list[tuple[int, float]], first_offset: int = 0) -> list[KafkaRecord]:
    out = []
    for i, (t, soc) in enumerate(soc_by_second):
        message = {
            "version": 1,
            "satellite": "sat-a",
            "time": format_time_ns((T0 + t) * S),
            "power": {"battery_soc_pct": soc},
        }
        out.append(
            KafkaRecord(
                TOPIC, 0, first_offset + i, orjson.dumps(message), b"sat-a", (T0 + t) * 1000
            )
        )
    return out


def test_a_firing_pair_never_expires_and_a_resolved_one_does_once_published() -> None:
    processor, store = _processor()
    processor.process(_batch([(1, 50.0), (2, 20.0)]), now=NOW)
    # "low" fires (with its notification pending in the write): no expiry.
    assert ("sat-a#low", Status.FIRING, True, None) in store.saves
    assert store.expires["sat-a#low"] is None
    # Published: the marker's clear gives no expiry either (still firing).
    assert [c.expires_at for c in store.clears if c.key == "sat-a#low"] == [None]

    later = NOW + 3_600
    processor.process(_batch([(3, 31.0)], first_offset=2), now=later)
    # The resolution is written with its notification still to publish: no expiry yet…
    assert store.saves[-2:] == [
        ("sat-a#low", Status.OK, True, None),
        ("sat-a#held", Status.OK, False, int(later) + 90 * DAY),  # pending → ok, silent
    ]
    # …then the clear of its marker sets it: 90 days (the default) after the write.
    assert Cleared("sat-a#low", 2, int(later) + 90 * DAY) in store.clears
    assert store.expires["sat-a#low"] == int(later) + 90 * DAY


def test_re_entering_pending_or_firing_removes_the_expiry() -> None:
    processor, store = _processor()
    processor.process(_batch([(1, 20.0), (2, 40.0)]), now=NOW)
    assert store.expires["sat-a#low"] == int(NOW) + 90 * DAY
    assert store.expires["sat-a#held"] == int(NOW) + 90 * DAY  # was pending, back to ok
    processor.process(_batch([(3, 10.0)], first_offset=2), now=NOW + 60)
    assert store.rules["sat-a#low"].state.status is Status.FIRING
    assert store.rules["sat-a#held"].state.status is Status.PENDING
    # A PutItem replaces the whole item: written without `expires_at`, it has none.
    assert store.expires["sat-a#low"] is None
    assert store.expires["sat-a#held"] is None


def test_the_satellite_watermark_expires_after_the_retention_from_its_last_write() -> None:
    processor, store = _processor(alerts_retention_days=7)
    processor.process(_batch([(1, 50.0)]), now=NOW)
    assert store.sats["sat-a"].expires_at == int(NOW) + 7 * DAY
    # The watermark is written every WATERMARK_LAG_MAX_S of samples (no stale rule here).
    processor.process(_batch([(2, 50.0)], first_offset=1), now=NOW + 50)
    assert store.sats["sat-a"].expires_at == int(NOW) + 7 * DAY
    processor.process(_batch([(11, 50.0)], first_offset=2), now=NOW + 100)
    assert store.sats["sat-a"].expires_at == int(NOW + 100) + 7 * DAY


def test_a_stale_firing_from_the_sweep_never_expires() -> None:
    processor, store = _processor()
    processor.process(_batch([(1, 50.0)]), now=T0 + 1)
    swept = processor.sweep(now=T0 + 100)
    assert [t.rule for t in swept.transitions] == ["silent"]
    assert store.saves[-1] == ("sat-a#silent", Status.FIRING, True, None)
    assert store.clears[-1].expires_at is None


def test_retention_zero_expires_nothing() -> None:
    processor, store = _processor(alerts_retention_days=0)
    processor.process(_batch([(1, 20.0), (2, 40.0)]), now=NOW)
    assert set(store.expires.values()) == {None}
    assert all(c.expires_at is None for c in store.clears)
    assert store.sats["sat-a"].expires_at is None


@pytest.mark.parametrize("days", [-1, 3651])
def test_the_retention_setting_is_bounded(days: int) -> None:
    with pytest.raises(ValueError, match="alerts_retention_days"):
        _processor(alerts_retention_days=days)


def test_expiry_is_whole_epoch_seconds() -> None:
    assert expiry(RuleState(), pending=False, now_s=NOW, retention_days=1) == 1_800_086_400


# -- the DynamoDB requests that carry it -------------------------------------------------------


class CapturingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("PutItem", kwargs))
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("UpdateItem", kwargs))
        return {}


def test_the_writes_carry_expires_at_as_a_number_and_remove_it_when_none() -> None:
    client = CapturingClient()
    store = AlertStore(client, "t")
    item = RuleItem(satellite="sat-a", rule="low")
    store.save_rule(MISSION, item, RuleState(), pending=[], attributes={}, expires_at=123)
    store.save_rule(MISSION, item, RuleState(), pending=[], attributes={})
    store.settle(
        MISSION,
        cleared=[Cleared("sat-a#low", 2, 456), Cleared("sat-a#held", 4)],
        watermarks=[
            SatelliteItem("sat-a", 10, 1.0, expires_at=789),
            SatelliteItem("sat-b", 10, 1.0),
        ],
    )
    (_, first), (_, second), *settled = client.calls
    assert first["Item"]["expires_at"] == {"N": "123"}
    assert "expires_at" not in second["Item"]
    assert [op for op, _ in settled] == ["UpdateItem"] * 4
    updates = [u for _, u in settled]
    assert [u["UpdateExpression"] for u in updates] == [
        "REMOVE pending SET #ttl = :e",
        "REMOVE pending",
        "SET last_sample_time = :t, last_seen = :s, satellite = :sat, #ttl = :e",
        "SET last_sample_time = :t, last_seen = :s, satellite = :sat REMOVE #ttl",
    ]
    assert updates[0]["ExpressionAttributeNames"] == {"#ttl": "expires_at"}
    assert updates[0]["ExpressionAttributeValues"][":e"] == {"N": "456"}
    assert updates[2]["ExpressionAttributeValues"][":e"] == {"N": "789"}
    # The conditions that keep redeliveries out are unchanged.
    assert updates[0]["ConditionExpression"] == "version = :v"
    assert updates[2]["ConditionExpression"] == (
        "attribute_not_exists(last_sample_time) OR last_sample_time < :t"
    )


class FailingClient:
    """Fails the updates of the keys it is given: `conditional` ones as DynamoDB does a failed
    condition, `broken` ones as an outage."""

    def __init__(self, conditional: set[str], broken: set[str]) -> None:
        self.conditional, self.broken = conditional, broken
        self.updated: list[str] = []

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]["key"]["S"]
        if key in self.conditional:
            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}},
                "UpdateItem",
            )
        if key in self.broken:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "UpdateItem",
            )
        self.updated.append(key)
        return {}


@pytest.mark.parametrize("pooled", [False, True])
def test_settle_ignores_failed_conditions_and_raises_other_failures_after_trying_all(
    pooled: bool,
) -> None:
    client = FailingClient(conditional={"sat-b"}, broken={"sat-c"})
    store = AlertStore(client, "t")
    if pooled:
        store.pool = ThreadPoolExecutor(4)
    marks = [SatelliteItem(s, 10, 1.0) for s in ("sat-a", "sat-b", "sat-c", "sat-d")]
    store.settle(MISSION, cleared=[], watermarks=marks[:2])  # sat-b's condition fails: fine
    with pytest.raises(ClientError, match="slow"):
        store.settle(MISSION, cleared=[Cleared("sat-e#low", 1)], watermarks=marks[2:])
    assert sorted(client.updated) == ["sat-a", "sat-d", "sat-e#low"]
