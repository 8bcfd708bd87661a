"""A Mission's create handler and its resync timer run concurrently in Kopf; lastTransitionTime
must still move only when a condition's status changes.

Both start from the same body (a new Mission: no conditions yet). Before, each reconcile set
TopicsReady=True "now" from nothing, and the later write moved its lastTransitionTime 0.9 s after
Ready although the status never changed (seen once in the whole-stack tests).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import kopf

from mpcs.operator.conditions import ConditionSet
from mpcs.operator.reconcile import WRITTEN, Observed, Outcome, reconcile_body

BODY = {
    "kind": "Mission",
    "metadata": {"namespace": "ops", "name": "m", "uid": "uid-transitions", "generation": 1},
    "spec": {},
}


def _reconciler(delay_s: float, *, topics: bool = True) -> Any:
    """A Mission reconcile whose topics take `delay_s` to converge."""

    async def reconcile(observed: Observed, **_: Any) -> Outcome:
        conditions = ConditionSet(observed.status.get("conditions"), generation=1)
        await asyncio.sleep(delay_s)
        conditions.set("TopicsReady", topics, "Converged", "topics")
        conditions.set("Ready", topics, "Provisioned", "ok")
        return Outcome({"conditions": conditions.items})

    return reconcile


def _times(patch: kopf.Patch) -> dict[str, str]:
    return {c["type"]: c["lastTransitionTime"] for c in patch.status["conditions"]}


async def _run(reconcile: Any, body: dict[str, Any]) -> kopf.Patch:
    patch = kopf.Patch()
    await reconcile_body(
        "Mission",
        reconcile,
        kopf.Body(body),
        patch=patch,
        services=cast(Any, None),
        indexes=cast(Any, None),
    )
    return patch


async def test_the_create_handler_and_the_timer_agree_on_transition_times() -> None:
    WRITTEN.forget("uid-transitions")
    # Both from the body as Kopf handed it over: no status yet.
    created, resynced = await asyncio.gather(
        _run(_reconciler(0.05), BODY), _run(_reconciler(0.3), BODY)
    )
    assert _times(resynced) == _times(created)

    # A status that does change still moves it; one that does not keeps it.
    later = await _run(_reconciler(0.05, topics=False), BODY)
    assert _times(later)["TopicsReady"] > _times(created)["TopicsReady"]
    settled = {**BODY, "status": {"conditions": later.status["conditions"]}}
    again = await _run(_reconciler(0.05, topics=False), settled)
    assert _times(again) == _times(later)
    WRITTEN.forget("uid-transitions")
