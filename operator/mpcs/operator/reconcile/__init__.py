"""One module per kind: the level-based reconcile Kopf's handlers (and the refresher) call.

A reconcile reads the object and the indexes, calls the pure builders and the planner, applies
children through the converging adapters, and returns an `Outcome`: the status to write, and
whether it must run again soon. Running it again converges instead of duplicating, so create,
update, resume and every resync run the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import kopf

from mpcs.operator.conditions import ConditionSet, Written
from mpcs.operator.metrics import observe
from mpcs.operator.objects import ObjectMeta

if TYPE_CHECKING:
    from mpcs.operator.indexes import Indexes
    from mpcs.operator.services import Services

#: The operator process's record of what each object's last reconcile wrote (see `Written`).
WRITTEN = Written()


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


@dataclass(frozen=True)
class Observed:
    """One object as its reconcile reads it: who it is, the spec as written and the status."""

    meta: ObjectMeta
    raw_spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Observed:
        """From an object as the API server returns it (a Kopf body included)."""
        return cls(
            meta=ObjectMeta.of(body),
            raw_spec=body.get("spec") or {},
            status=body.get("status") or {},
        )


class ObservedReconcile(Protocol):
    """A kind's `reconcile` that needs only the object's metadata, spec and status."""

    async def __call__(
        self, observed: Observed, *, services: Services, indexes: Indexes
    ) -> Outcome: ...


async def reconcile_body(
    kind: str,
    reconcile: ObservedReconcile,
    body: kopf.Body,
    *,
    patch: kopf.Patch,
    services: Services,
    indexes: Indexes,
) -> None:
    """Run `reconcile` on a Kopf body, counted and timed under `kind`, and write it into `patch`.

    One object's reconciles run one at a time (its timer and its change handlers are concurrent
    in Kopf), each starting from the conditions the previous one wrote when the body does not
    show them yet (`WRITTEN`): lastTransitionTime moves only when a status changes.
    """
    observed = Observed.of(body)
    uid = observed.meta.uid
    async with WRITTEN.hold(uid):
        conditions = WRITTEN.seed(uid, observed.status.get("conditions"))
        if conditions:
            observed = replace(observed, status={**observed.status, "conditions": conditions})
        with observe(kind):
            outcome = await reconcile(observed, services=services, indexes=indexes)
            WRITTEN.remember(uid, outcome.status.get("conditions"))
            outcome.apply(patch)


def invalid_spec(
    meta: ObjectMeta, conditions: ConditionSet, *, problem: str, status: Mapping[str, Any]
) -> Outcome:
    """Ready=False (InvalidSpec) with `status`; a warning Event only when the problem is new.

    No retry: a spec the model refuses stays refused until it changes, and a change runs the
    reconcile again.
    """
    if conditions.set("Ready", False, "InvalidSpec", problem):
        kopf.warn(meta.reference(), reason="InvalidSpec", message=problem)
    return Outcome(
        {**status, "conditions": conditions.items, "observedGeneration": meta.generation}
    )
