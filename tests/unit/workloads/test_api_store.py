"""Command store, idempotency keys and the audit trail's round trip (pure, no server)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mpcs.workloads.api.audit import command_line, records_from_rows
from mpcs.workloads.api.store import (
    CommandEvent,
    CommandRecord,
    CommandStore,
    IdempotencyStore,
    KeyConflict,
    fingerprint,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _record(**overrides: object) -> CommandRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "satellite": "sat-a",
        "name": "SET_MODE",
        "args": {"mode": "SAFE"},
        "issued_by": "operator",
        "issued_at": T0,
    }
    values.update(overrides)
    return CommandRecord(**values)  # type: ignore[arg-type]


def test_history_keeps_one_event_per_state_in_life_order() -> None:
    store = CommandStore()
    record = store.add(_record())
    cid = record.id
    store.apply(cid, "executed", time=T0 + timedelta(seconds=2))
    store.apply(cid, "accepted", time=T0 + timedelta(seconds=1))
    store.apply(cid, "accepted", time=T0 + timedelta(seconds=3))  # re-delivered ack
    # The local "sent" arrives after the acks (the spacecraft answered first): still first.
    record.add_event(CommandEvent(state="sent", time=T0 + timedelta(seconds=4)))
    assert [e.state for e in record.history] == ["sent", "accepted", "executed"]
    assert record.state == "executed"
    assert record.done


def test_an_ack_for_an_unknown_command_creates_a_record_that_the_command_completes() -> None:
    store = CommandStore()
    cid = uuid.uuid4()
    store.apply(cid, "accepted", time=T0, satellite="sat-a", name="PING")
    assert store.get(cid) is not None
    assert store.get(cid).issued_by == "unknown"  # type: ignore[union-attr]
    store.add(_record(id=cid, name="PING", args={}))
    merged = store.get(cid)
    assert merged is not None
    assert merged.issued_by == "operator"
    assert [e.state for e in merged.history] == ["accepted"]


def test_capacity_drops_the_oldest_commands() -> None:
    store = CommandStore(capacity=10)
    records = [store.add(_record(issued_at=T0 + timedelta(seconds=i))) for i in range(15)]
    assert len(store) == 10
    assert store.get(records[0].id) is None
    assert store.get(records[-1].id) is not None


def test_list_filters_and_sorts_newest_first() -> None:
    store = CommandStore()
    a = store.add(_record(issued_at=T0))
    b = store.add(_record(issued_at=T0 + timedelta(seconds=1), satellite="sat-b"))
    c = store.add(_record(issued_at=T0 + timedelta(seconds=2)))
    store.apply(c.id, "rejected", time=T0)
    assert [r.id for r in store.list()] == [c.id, b.id, a.id]
    assert [r.id for r in store.list(satellite="sat-a")] == [c.id, a.id]
    assert [r.id for r in store.list(state="rejected")] == [c.id]


async def test_wait_returns_when_the_command_is_done() -> None:
    store = CommandStore()
    record = store.add(_record())

    async def later() -> None:
        await asyncio.sleep(0.05)
        store.apply(record.id, "executed", time=T0)

    task = asyncio.create_task(later())
    done = await store.wait(record.id, timeout_s=5)
    await task
    assert done is not None
    assert done.state == "executed"
    # Not done: the record as it is after the timeout.
    other = store.add(_record())
    assert (await store.wait(other.id, timeout_s=0.01)) is other


async def test_idempotency_key_returns_the_first_command() -> None:
    keys = IdempotencyStore(ttl_s=60)
    fp = fingerprint("sat-a", "PING", {}, None)
    assert await keys.begin("k1", fp) is None
    cid = uuid.uuid4()
    keys.finish("k1", cid)
    assert await keys.begin("k1", fp) == cid
    with pytest.raises(KeyConflict):
        await keys.begin("k1", fingerprint("sat-a", "PING", {"x": 1}, None))


async def test_a_concurrent_retry_waits_for_the_first_request() -> None:
    keys = IdempotencyStore(ttl_s=60)
    fp = fingerprint("sat-a", "PING", {}, None)
    assert await keys.begin("k", fp) is None
    retry = asyncio.create_task(keys.begin("k", fp))
    await asyncio.sleep(0.01)
    assert not retry.done()
    cid = uuid.uuid4()
    keys.finish("k", cid)
    assert await retry == cid


async def test_an_abandoned_key_lets_the_retry_own_it() -> None:
    keys = IdempotencyStore(ttl_s=60)
    fp = fingerprint("sat-a", "PING", {}, None)
    assert await keys.begin("k", fp) is None
    retry = asyncio.create_task(keys.begin("k", fp))
    await asyncio.sleep(0.01)
    keys.abandon("k")  # the first request failed to send: the retry must send
    assert await retry is None


def test_fingerprint_ignores_argument_order() -> None:
    assert fingerprint("s", "SET_HEATER", {"heater": "battery", "state": "ON"}, None) == (
        fingerprint("s", "SET_HEATER", {"state": "ON", "heater": "battery"}, None)
    )


def test_audit_points_rebuild_history_and_idempotency_keys() -> None:
    record = _record(valid_until=T0 + timedelta(hours=1))
    lines = [
        command_line(
            record=record,
            state="sent",
            time_ns=1,
            who="operator",
            idempotency_key="key-1",
            fingerprint="fp",
        ),
        command_line(
            record=record,
            state="executed",
            time_ns=2,
            who="operator",
            reason='done "ok"',
            spacecraft_time=T0,
        ),
    ]
    assert lines[0].startswith(
        f"commands,satellite=sat-a,command=SET_MODE,state=sent,id={record.id} "
    )
    # What InfluxDB answers for the pivoted `commands` rows (fields as columns).
    rows = [
        {
            "_time": "2025-06-01T12:00:00.5Z",
            "satellite": "sat-a",
            "command": "SET_MODE",
            "state": "sent",
            "id": str(record.id),
            "who": "operator",
            "args": '{"mode":"SAFE"}',
            "issued_at": "2025-06-01T12:00:00Z",
            "valid_until": "2025-06-01T13:00:00Z",
            "idempotency_key": "key-1",
            "fingerprint": "fp",
        },
        {
            "_time": "2025-06-01T12:00:01Z",
            "satellite": "sat-a",
            "command": "SET_MODE",
            "state": "executed",
            "id": str(record.id),
            "who": "operator",
            "reason": "done",
        },
        {"_time": "2025-06-01T12:00:02Z", "state": "refused", "id": str(uuid.uuid4())},
    ]
    records, keys = records_from_rows(rows)
    assert len(records) == 1
    rebuilt = records[0]
    assert rebuilt.id == record.id
    assert rebuilt.args == {"mode": "SAFE"}
    assert rebuilt.valid_until == T0 + timedelta(hours=1)
    assert [e.state for e in rebuilt.history] == ["sent", "executed"]
    assert keys == [("key-1", "fp", record.id)]
