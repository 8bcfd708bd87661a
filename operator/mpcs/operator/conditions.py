"""The conditions one reconcile builds up, merged by `mpcs.core.resources.common.set_condition`.

`ConditionSet.set` also says whether a condition changed, so a reconcile raises an Event only then.
`Written` serializes the reconciles of one object and remembers the conditions each wrote
(`mpcs.operator.reconcile.reconcile_body` uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from typing import Any

from mpcs.core.resources import ConditionStatus
from mpcs.core.resources.common import set_condition


class ConditionSet:
    """The conditions one reconcile builds up, starting from those in the object's status.

    >>> conditions = ConditionSet([], generation=3)
    >>> conditions.set("Ready", False, "InvalidSpec", "spec.tle: bad")
    True
    >>> conditions.set("Ready", False, "InvalidSpec", "spec.tle: bad")
    False
    >>> [(c["type"], c["status"], c["observedGeneration"]) for c in conditions.items]
    [('Ready', 'False', 3)]
    """

    def __init__(self, existing: Iterable[Mapping[str, Any]] | None, *, generation: int) -> None:
        self.items: list[dict[str, Any]] = [dict(c) for c in existing or []]
        self.generation = generation

    def set(self, type: str, status: bool | None, reason: str, message: str) -> bool:
        """Set one condition; True when its status, reason or message is new (worth an Event)."""
        before = next((c for c in self.items if c.get("type") == type), None)
        self.items = set_condition(
            self.items,
            type=type,
            status=status,
            reason=reason,
            message=message,
            generation=self.generation,
            now=dt.datetime.now(dt.UTC),
        )
        return before is None or (
            before.get("status"),
            before.get("reason"),
            before.get("message"),
        ) != (ConditionStatus.of(status).value, reason, message)


def merge_owned(
    current: Iterable[Mapping[str, Any]] | None,
    ours: Iterable[Mapping[str, Any]],
    *,
    owned: Collection[str],
) -> list[dict[str, Any]]:
    """`current` with the condition types in `owned` that `ours` holds as `ours` has them
    (replaced in place, or added at the end) and every other condition untouched: another
    writer's (the alerts runner's `Alerting` on a Satellite) survives the operator's write. A
    type missing from `ours` is kept too (the operator never removes a condition; one that
    appeared after its read is simply newer).

    >>> now = [{"type": "Ready", "status": "False"}, {"type": "Alerting", "status": "True"}]
    >>> merged = merge_owned(now, [{"type": "Ready", "status": "True"}], owned={"Ready"})
    >>> [(c["type"], c["status"]) for c in merged]
    [('Ready', 'True'), ('Alerting', 'True')]
    """
    mine = {str(c.get("type")): dict(c) for c in ours if c.get("type") in owned}
    merged: list[dict[str, Any]] = []
    for cond in current or []:
        kind = cond.get("type")
        merged.append(mine.pop(str(kind)) if kind in mine else dict(cond))
    return merged + list(mine.values())


def owned_of(conditions: Sequence[Mapping[str, Any]], owned: Collection[str]) -> list[Any]:
    """The conditions of the `owned` types, in order (what a writer compares before writing)."""
    return [dict(c) for c in conditions if c.get("type") in owned]


class Written:
    """Per object (by uid): a lock that serializes its reconciles, and the conditions the last
    one wrote.

    Kopf runs an object's timers in tasks of their own, concurrently with its create, update and
    resume handlers, and a handler's body is a snapshot: the resync timer and the create handler
    of a new Mission could both start from a status without conditions, and the later write
    moved TopicsReady's lastTransitionTime although its status never changed. Under the lock, a
    reconcile starts from what the previous one wrote whenever the body it was given does not
    show it yet (`seed`), so lastTransitionTime moves only when a status does.

    >>> written = Written()
    >>> written.remember("u1", [{"type": "Ready", "status": "True", "lastTransitionTime": "t1"}])
    >>> written.seed("u1", [])
    [{'type': 'Ready', 'status': 'True', 'lastTransitionTime': 't1'}]
    >>> written.seed("u1", [{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}])
    [{'type': 'Ready', 'status': 'True', 'lastTransitionTime': 't0'}]
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._written: dict[str, list[dict[str, Any]]] = {}
        #: How many reconciles hold or wait for each lock (an entry only while there are some).
        self._users: dict[str, int] = {}
        #: Objects forgotten while a reconcile still held or awaited their lock.
        self._gone: set[str] = set()

    @contextlib.asynccontextmanager
    async def hold(self, uid: str) -> AsyncIterator[None]:
        """Hold the lock of one object's reconciles (waiting for the reconcile before)."""
        lock = self._locks.setdefault(uid, asyncio.Lock())
        self._users[uid] = self._users.get(uid, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[uid] -= 1
            if not self._users[uid]:
                del self._users[uid]
                if uid in self._gone:
                    self._drop(uid)

    def remember(self, uid: str, conditions: Iterable[Mapping[str, Any]] | None) -> None:
        """The conditions a reconcile of `uid` is about to write."""
        if conditions is not None:
            self._written[uid] = [dict(c) for c in conditions]

    def forget(self, uid: str) -> None:
        """Drop a deleted object's lock and conditions (its deletion handler calls this; a
        long-running operator would otherwise keep one entry per object ever seen).

        Safe while a reconcile holds or awaits the lock: the entry goes when the last of them
        leaves, so one still queued never races a reconcile that made a new lock.

        >>> written = Written()
        >>> written.remember("u1", [{"type": "Ready", "status": "True"}])
        >>> written.forget("u1")
        >>> written.tracked()
        0
        """
        if self._users.get(uid):
            self._gone.add(uid)
        else:
            self._drop(uid)

    def tracked(self) -> int:
        """How many objects have a lock or conditions here (what `forget` keeps bounded)."""
        return len(self._locks.keys() | self._written.keys())

    def _drop(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self._written.pop(uid, None)
        self._gone.discard(uid)

    def seed(self, uid: str, observed: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        """The conditions a reconcile starts from: `observed`, where a condition this process
        wrote last is missing or at another status, replaced by what it wrote (the body is
        older than that write). A condition the body shows at the status written is kept as
        the body has it."""
        seeded = [dict(c) for c in observed or []]
        for mine in self._written.get(uid, []):
            kind = mine.get("type")
            found = next((c for c in seeded if c.get("type") == kind), None)
            if found is None:
                seeded.append(dict(mine))
            elif found.get("status") != mine.get("status"):
                found.clear()
                found.update(mine)
        return seeded
