"""Kubernetes-style status conditions, merged so that lastTransitionTime only moves on a change.

>>> c = set_condition([], type="Ready", status=True, reason="Provisioned", message="ok",
...                   generation=1, now="2026-01-01T00:00:00Z")
>>> c[0]["status"], c[0]["lastTransitionTime"]
('True', '2026-01-01T00:00:00Z')
>>> c = set_condition(c, type="Ready", status=True, reason="Provisioned", message="still ok",
...                   generation=2, now="2026-01-02T00:00:00Z")
>>> c[0]["lastTransitionTime"], c[0]["message"], c[0]["observedGeneration"]
('2026-01-01T00:00:00Z', 'still ok', 2)
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _status_word(status: bool | None) -> str:
    return "Unknown" if status is None else ("True" if status else "False")


def set_condition(
    conditions: list[dict[str, Any]] | None,
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
    result = [dict(c) for c in (conditions or [])]
    for cond in result:
        if cond.get("type") == type:
            if cond.get("status") != word:
                cond["lastTransitionTime"] = now or utc_now_iso()
            cond.update(status=word, reason=reason, message=message, observedGeneration=generation)
            return result
    result.append(
        {
            "type": type,
            "status": word,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now or utc_now_iso(),
            "observedGeneration": generation,
        }
    )
    return result


def is_true(conditions: list[dict[str, Any]] | None, type: str) -> bool:
    return any(c.get("type") == type and c.get("status") == "True" for c in conditions or [])
