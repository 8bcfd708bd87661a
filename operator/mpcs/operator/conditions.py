"""The conditions one reconcile builds up, merged by `mpcs.core.resources.common.set_condition`.

`ConditionSet.set` also says whether a condition changed, so a reconcile raises an Event only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
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
