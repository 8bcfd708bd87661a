"""One refresher per Mission: drift repair and status refresh of the mission's Satellites.

One daemon per Mission, not two timers per Satellite: per-object timers make Kopf add a finalizer
to every Satellite and keep two tasks per object, which at 1,000 Satellites cost a patch each,
hundreds of MB and a burst of next-pass work in the middle of the creation burst.

Every resync period each valid Satellite is reconciled again (children re-applied, conditions
refreshed); in between, Satellites that are Ready but have no next pass yet get one soon after
creation. The Satellites come from the index, already parsed; status is patched only when it
changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import kopf

from mpcs.core.resources import SATELLITE
from mpcs.operator.indexes import Indexes
from mpcs.operator.metrics import observe
from mpcs.operator.objects import Satellite
from mpcs.operator.reconcile import satellite as satellites
from mpcs.operator.services import Services

log = logging.getLogger("mpcs.operator")

#: How soon after creation a Ready Satellite gets its first next pass, at most (seconds).
FIRST_PASS_DELAY_S = 15.0


async def run(
    *,
    namespace: str,
    mission: str,
    stopped: kopf.DaemonStopped,
    services: Services,
    indexes: Indexes,
) -> None:
    """Refresh the mission's Satellites until `stopped`."""
    resync_s = services.settings.resync_seconds
    loop = asyncio.get_running_loop()
    last_full = loop.time()
    while not stopped:
        await stopped.wait(min(resync_s, FIRST_PASS_DELAY_S))
        if stopped:
            return
        now = loop.time()
        full = now - last_full >= resync_s
        last_full = now if full else last_full
        for satellite in indexes.satellites_of(namespace, mission):
            if stopped:
                return
            if satellite.deleting or satellite.problem is not None:
                continue  # an invalid spec has nothing to repair until it changes
            if not (full or needs_first_pass(satellite)):
                continue
            try:
                await refresh(satellite, services=services, indexes=indexes, full=full)
            except Exception as exc:  # one bad Satellite must not stop the others' refresh
                log.warning(
                    "satellite refresh failed",
                    extra={
                        "satellite": satellite.meta.name,
                        "namespace": namespace,
                        "error": str(exc),
                    },
                )


def needs_first_pass(satellite: Satellite) -> bool:
    return satellite.status.get("phase") == "Ready" and "nextPass" not in satellite.status


async def refresh(
    satellite: Satellite, *, services: Services, indexes: Indexes, full: bool
) -> None:
    """The handlers' reconcile (when `full`) plus the next pass; one status patch if changed."""
    status = satellite.status
    new_status = dict(status)
    if full:
        with observe("Satellite"):
            outcome = await satellites.reconcile(satellite, services=services, indexes=indexes)
        outcome = await satellites.write_conditions(satellite, outcome, services=services)
        new_status.update(outcome.status)
    if new_status.get("phase") == "Ready":
        found = await satellites.next_pass(
            satellite, services=services, indexes=indexes, now=dt.datetime.now(dt.UTC)
        )
        if found is not None or "nextPass" in new_status:
            new_status["nextPass"] = found
    changed = {k: v for k, v in new_status.items() if status.get(k) != v}
    if changed:
        await services.kube.patch_status(
            plural=SATELLITE.plural,
            namespace=satellite.meta.namespace,
            name=satellite.meta.name,
            status=changed,
        )
