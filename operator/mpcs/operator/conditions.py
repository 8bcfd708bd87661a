"""Kubernetes-style status conditions, merged so that lastTransitionTime only moves on a change.

>>> c = set_condition([], type="Ready", status=True, reason="Provisioned", message="ok",
...                   generation=1, now="2026-01-01T00:00:00.000Z")
>>> c[0]["status"], c[0]["lastTransitionTime"]
('True', '2026-01-01T00:00:00.000Z')
>>> c = set_condition(c, type="Ready", status=True, reason="Provisioned", message="still ok",
...                   generation=2, now="2026-01-02T00:00:00.000Z")
>>> c[0]["lastTransitionTime"], c[0]["message"], c[0]["observedGeneration"]
('2026-01-01T00:00:00.000Z', 'still ok', 2)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from mpcs.orbit.timeutil import format_rfc3339


def _status_word(status: bool | None) -> str:
    return "Unknown" if status is None else ("True" if status else "False")


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    type: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """A new list with `type` set; other conditions are kept in order."""
    word = _status_word(status)
    stamp = now or format_rfc3339(dt.datetime.now(dt.UTC))
    result = [dict(c) for c in (conditions or [])]
    for cond in result:
        if cond.get("type") == type:
            if cond.get("status") != word:
                cond["lastTransitionTime"] = stamp
            cond.update(status=word, reason=reason, message=message, observedGeneration=generation)
            return result
    result.append(
        {
            "type": type,
            "status": word,
            "reason": reason,
            "message": message,
            "lastTransitionTime": stamp,
            "observedGeneration": generation,
        }
    )
    return result


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
        )
        return before is None or (
            before.get("status"),
            before.get("reason"),
            before.get("message"),
        ) != (_status_word(status), reason, message)
