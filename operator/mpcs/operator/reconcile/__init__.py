"""One module per kind: the level-based reconcile Kopf's handlers (and the refresher) call.

A reconcile reads the object and the indexes, calls the pure builders and the planner, applies
children through the converging adapters, and returns an `Outcome`: the status to write, and
whether it must run again soon. Running it again converges instead of duplicating, so create,
update, resume and every resync run the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kopf


@dataclass(frozen=True)
class Outcome:
    """The status fields a reconcile sets and, when it waits for something, what and how long."""

    status: dict[str, Any] = field(default_factory=dict)
    #: Why the reconcile must run again (it is waiting for another object or a server).
    retry: str | None = None
    retry_delay_s: float = 10.0

    def apply(self, patch: kopf.Patch) -> None:
        """Into Kopf's patch; a retry raises TemporaryError, and Kopf still writes the status."""
        patch.status.update(self.status)
        if self.retry is not None:
            raise kopf.TemporaryError(self.retry, delay=self.retry_delay_s)
