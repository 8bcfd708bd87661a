"""The conditions one reconcile builds up, merged by `mpcs.core.resources.common.set_condition`.

`ConditionSet.set` also says whether a condition changed, so a reconcile raises an Event only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
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
