"""In-memory command records and idempotency keys of the command service (pure, no I/O).

The service feeds it from three sources: its own POSTs, the mission's `commands` and `acks` topics
(so commands sent by the CommandPlan executor or another replica are known too), and at start-up
the InfluxDB `commands` measurement (so a restart keeps the history). Every source may repeat an
event; a record keeps one event per state.

States are `mpcs.core.commands.CommandState`: `sent` → `accepted` → `executed` | `failed`, or
`sent` → `rejected`. An ack can overtake the local `sent` (the broker answered the spacecraft
first): `sent` still sorts first (`STATE_RANK`).

>>> import uuid
>>> store = CommandStore(capacity=10)
>>> cid = uuid.uuid4()
>>> rec = store.add(CommandRecord(id=cid, satellite="s", name="PING", args={}, issued_by="operator",
...                 issued_at=datetime(2025, 1, 1, tzinfo=UTC)))
>>> store.apply(cid, "accepted", time=datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)).state
'accepted'
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from mpcs.core.commands import STATE_RANK, TERMINAL_STATES


@dataclass
class CommandEvent:
    """One state change as the service saw it."""

    state: str
    time: datetime
    reason: str | None = None
    spacecraft_time: datetime | None = None


@dataclass
class CommandRecord:
    """A command and what happened to it."""

    id: uuid.UUID
    satellite: str
    name: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    valid_until: datetime | None = None
    plan: str | None = None
    step: str | None = None
    history: list[CommandEvent] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The latest state (by life order, so a late `sent` never hides an `executed`)."""
        if not self.history:
            return "unknown"
        return max(self.history, key=lambda e: STATE_RANK.get(e.state, -1)).state

    @property
    def done(self) -> bool:
        return any(e.state in TERMINAL_STATES for e in self.history)

    def add_event(self, event: CommandEvent) -> bool:
        """Record `event` unless its state is already there; True when it was new."""
        if any(e.state == event.state for e in self.history):
            return False
        self.history.append(event)
        self.history.sort(key=lambda e: (STATE_RANK.get(e.state, 3), e.time))
        return True


class CommandStore:
    """The newest `capacity` commands by id, with waiters for state changes."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._records: collections.OrderedDict[uuid.UUID, CommandRecord] = collections.OrderedDict()
        self._changed: dict[uuid.UUID, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, command_id: uuid.UUID) -> CommandRecord | None:
        return self._records.get(command_id)

    def add(self, record: CommandRecord) -> CommandRecord:
        """Insert `record` (or merge its events into the one already known) and return it."""
        known = self._records.get(record.id)
        if known is not None:
            for event in record.history:
                known.add_event(event)
            # A record first learnt from an ack lacks the command's details.
            if known.issued_by == "unknown" and record.issued_by != "unknown":
                known.args, known.issued_by = record.args, record.issued_by
                known.issued_at, known.valid_until = record.issued_at, record.valid_until
                known.plan, known.step = record.plan, record.step
            self._notify(record.id)
            return known
        self._records[record.id] = record
        while len(self._records) > self.capacity:
            old, _ = self._records.popitem(last=False)
            self._changed.pop(old, None)
        self._notify(record.id)
        return record

    def apply(
        self,
        command_id: uuid.UUID,
        state: str,
        *,
        time: datetime,
        reason: str | None = None,
        spacecraft_time: datetime | None = None,
        satellite: str = "",
        name: str = "",
    ) -> CommandRecord:
        """Record a state change; an unknown id gets a record from what the ack tells."""
        record = self._records.get(command_id)
        if record is None:
            record = self.add(
                CommandRecord(
                    id=command_id,
                    satellite=satellite,
                    name=name,
                    args={},
                    issued_by="unknown",
                    issued_at=time,
                )
            )
        if record.add_event(
            CommandEvent(state=state, time=time, reason=reason, spacecraft_time=spacecraft_time)
        ):
            self._notify(command_id)
        return record

    def list(
        self, *, satellite: str | None = None, state: str | None = None
    ) -> list[CommandRecord]:
        """Matching records, newest first."""
        found = [
            r
            for r in reversed(self._records.values())
            if (satellite is None or r.satellite == satellite)
            and (state is None or r.state == state)
        ]
        found.sort(key=lambda r: r.issued_at, reverse=True)
        return found

    async def wait(self, command_id: uuid.UUID, *, timeout_s: float) -> CommandRecord | None:
        """The record once it is done, or as it is after `timeout_s`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            record = self._records.get(command_id)
            if record is not None and record.done:
                return record
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return record
            event = self._changed.setdefault(command_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout=remaining)
            except TimeoutError:
                return self._records.get(command_id)

    def _notify(self, command_id: uuid.UUID) -> None:
        event = self._changed.pop(command_id, None)
        if event is not None:
            event.set()


# --- idempotency --------------------------------------------------------------------------------


def fingerprint(satellite: str, name: str, args: dict[str, Any], valid_until: Any) -> str:
    """What makes two POSTs "the same request" for an Idempotency-Key.

    >>> fingerprint("s", "PING", {}, None) == fingerprint("s", "PING", {}, None)
    True
    """
    payload = orjson.dumps(
        [satellite, name, args, str(valid_until) if valid_until else None],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(payload).hexdigest()


class KeyConflict(Exception):
    """The Idempotency-Key was used for a different request."""


@dataclass
class _Entry:
    fingerprint: str
    expires: float
    command_id: uuid.UUID | None = None
    pending: asyncio.Future[uuid.UUID | None] | None = None


class IdempotencyStore:
    """Idempotency-Key → the command its first request created (for `ttl_s` seconds).

    `begin` returns the id of an earlier command with this key (the caller answers with it), or
    None when the caller owns the key and must `finish` (or `abandon`) it. A concurrent retry
    waits for the first request to finish instead of sending a second command.
    """

    def __init__(self, *, ttl_s: float = 86_400.0, capacity: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def begin(self, key: str, fingerprint: str) -> uuid.UUID | None:
        now = time.monotonic()
        self._expire(now)
        while True:
            entry = self._entries.get(key)
            if entry is None:
                loop = asyncio.get_running_loop()
                self._entries[key] = _Entry(
                    fingerprint=fingerprint, expires=now + self.ttl_s, pending=loop.create_future()
                )
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
                return None
            if entry.fingerprint != fingerprint:
                raise KeyConflict(key)
            if entry.command_id is not None:
                return entry.command_id
            assert entry.pending is not None
            # The first request is still in flight: its outcome is ours.
            result = await asyncio.shield(entry.pending)
            if result is not None:
                return result
            # It failed and gave the key up: try to own it.

    def finish(self, key: str, command_id: uuid.UUID) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.command_id = command_id
        if entry.pending is not None and not entry.pending.done():
            entry.pending.set_result(command_id)

    def abandon(self, key: str) -> None:
        """The request that owned `key` failed before creating a command: free the key."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry.pending is not None and not entry.pending.done():
            entry.pending.set_result(None)

    def restore(self, pairs: Iterable[tuple[str, str, uuid.UUID]]) -> None:
        """Known (key, fingerprint, command id) triples, e.g. from the audit history."""
        now = time.monotonic()
        for key, fp, command_id in pairs:
            self._entries[key] = _Entry(
                fingerprint=fp, expires=now + self.ttl_s, command_id=command_id
            )

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires > now or entry.command_id is None:
                break
            del self._entries[key]


def utc_from_ms(ms: int) -> datetime:
    """A Kafka record timestamp (ms) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
