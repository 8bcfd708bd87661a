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

from mpcs.operator.conditions import ConditionSet, Written
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


# -- the per-object lock is forgotten when the object is deleted ----------------------------------


async def test_forget_drops_an_idle_objects_lock_and_conditions() -> None:
    written = Written()
    async with written.hold("gone"):
        written.remember("gone", [{"type": "Ready", "status": "True"}])
    assert written.tracked() == 1
    written.forget("gone")
    assert written.tracked() == 0
    assert written.seed("gone", []) == []


async def test_forget_waits_for_the_reconciles_that_hold_or_await_the_lock() -> None:
    """The deletion handler may run while a resync reconcile holds the lock and another waits
    for it: the entry stays until both are done (the waiting one still serializes behind the
    first, on the same lock), then goes."""
    written = Written()
    order: list[str] = []
    release = asyncio.Event()

    async def reconcile(name: str, *, wait: bool) -> None:
        async with written.hold("uid-m"):
            order.append(f"{name} in")
            if wait:
                await release.wait()
            written.remember("uid-m", [{"type": "Ready", "status": "True"}])
            order.append(f"{name} out")

    first = asyncio.create_task(reconcile("first", wait=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(reconcile("second", wait=False))
    await asyncio.sleep(0)
    written.forget("uid-m")
    assert written.tracked() == 1  # held: kept
    # A reconcile arriving now still queues behind the first (the same lock, not a new one).
    third = asyncio.create_task(reconcile("third", wait=False))
    await asyncio.sleep(0)
    assert order == ["first in"]
    release.set()
    await asyncio.gather(first, second, third)
    assert order == ["first in", "first out", "second in", "second out", "third in", "third out"]
    assert written.tracked() == 0


async def test_the_module_record_does_not_grow_with_mission_churn() -> None:
    before = WRITTEN.tracked()
    for i in range(50):
        body = {**BODY, "metadata": {**BODY["metadata"], "uid": f"uid-churn-{i}"}}
        await _run(_reconciler(0), body)
        WRITTEN.forget(f"uid-churn-{i}")
    assert WRITTEN.tracked() == before
