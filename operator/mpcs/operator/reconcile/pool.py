"""Pooled simulation: a Mission's simulator pods and which Satellites each one flies.

With `spec.simulation.pods: N` a Mission's Satellites are flown by N simulator pods
(`<mission>-simulator-<i>`, ConfigMap + Deployment each, owned by the Mission) instead of one
Deployment per Satellite. One daemon per Mission (`run`) converges them: every `POLL_S` it
compares the mission's simulated Satellites (name and generation, from the index) and stations
with what it applied last and, when they differ or a resync period has passed, assigns the
Satellites to pods (`sharding.assign`, keeping every Satellite where it is unless its pod is over
its share) and applies the ConfigMaps that changed. The pods re-read their ConfigMap while they
run, so a rebalance never restarts a pod. Shards beyond N (the Mission shrank its pool, or left
pooling) are deleted.

The assignment it starts from is read back from the pods' ConfigMaps once, when the daemon
starts, so an operator restart moves nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from mpcs.core.resources import MissionSpec
from mpcs.core.resources.simulation import NamedGroundStation
from mpcs.operator import builders, sharding
from mpcs.operator.indexes import Indexes
from mpcs.operator.metrics import observe
from mpcs.operator.objects import Satellite
from mpcs.operator.services import Services

log = logging.getLogger("mpcs.operator")

#: How often the daemon looks for Satellites that came, went or changed (seconds).
POLL_S = 2.0


@dataclass
class PoolState:
    """What one Mission's pool daemon applied last."""

    #: Satellite → shard, as applied; None until read back from the ConfigMaps.
    assignment: dict[str, int] | None = None
    #: Shards whose objects may exist (the highest index + 1).
    shards: int = 0
    #: Per shard, the key of what its ConfigMap holds.
    applied: dict[int, Any] = field(default_factory=dict)
    #: (name, generation) → the Satellite on the wire (`builders.pooled_satellite`).
    wire: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    key: Any = None
    last_full: float = 0.0


def simulated(satellites: list[Satellite]) -> list[Satellite]:
    """The Satellites a pool flies: valid, not being deleted, simulator enabled."""
    result = []
    for satellite in satellites:
        if satellite.deleting or satellite.problem is not None:
            continue
        if satellite.raw_spec.get("simulator", {}).get("enabled", True) is False:
            continue
        result.append(satellite)
    return sorted(result, key=lambda s: s.meta.name)


async def run(
    *,
    namespace: str,
    mission: str,
    stopped: kopf.DaemonStopped,
    services: Services,
    indexes: Indexes,
    owner: dict[str, Any],
) -> None:
    """Converge the mission's simulator pods (children of `owner`, the Mission) until `stopped`."""
    loop = asyncio.get_running_loop()
    state = PoolState()
    while not stopped:
        try:
            await converge(
                state,
                namespace=namespace,
                mission=mission,
                services=services,
                indexes=indexes,
                owner=owner,
                now=loop.time(),
            )
        except Exception as exc:  # logged and retried at the next poll
            log.warning(
                "simulator pool reconcile failed",
                extra={"mission": mission, "namespace": namespace, "error": str(exc)},
            )
        await stopped.wait(POLL_S)


async def converge(
    state: PoolState,
    *,
    namespace: str,
    mission: str,
    services: Services,
    indexes: Indexes,
    owner: dict[str, Any],
    now: float,
) -> None:
    """One pass: apply what changed (everything once per resync period), delete extra shards."""
    spec = indexes.mission(namespace, mission)
    if not isinstance(spec, MissionSpec):
        return
    pods = spec.simulation.pods or 0
    if state.assignment is None:
        state.assignment, state.shards = await _read_back(namespace, mission, services)
    full = now - state.last_full >= services.settings.resync_seconds
    satellites = simulated(indexes.satellites_of(namespace, mission)) if pods else []
    stations = indexes.stations_of(namespace, spec)[0] if pods else []
    stations_key = json.dumps([s.to_wire() for s in stations], sort_keys=True)
    key = (pods, stations_key, tuple((s.meta.name, s.meta.generation) for s in satellites))
    if key == state.key and not full:
        return
    with observe("SimulatorPool"):
        if full:
            state.applied.clear()
            state.last_full = now
        if pods:
            await _apply(
                state,
                namespace=namespace,
                mission=mission,
                owner=owner,
                pods=pods,
                satellites=satellites,
                stations=stations,
                stations_key=stations_key,
                services=services,
            )
        for shard in range(pods, state.shards):
            for ref in builders.pool_refs(namespace, mission, shard):
                await services.kube.delete(ref)
            state.applied.pop(shard, None)
        state.shards = pods
        state.key = key


async def _apply(
    state: PoolState,
    *,
    namespace: str,
    mission: str,
    owner: dict[str, Any],
    pods: int,
    satellites: list[Satellite],
    stations: list[NamedGroundStation],
    stations_key: str,
    services: Services,
) -> None:
    by_name = {s.meta.name: s for s in satellites}
    assignment = sharding.assign(by_name, pods=pods, previous=state.assignment)
    moved = sharding.moves(state.assignment or {}, assignment)
    objs: list[dict[str, Any]] = []
    written: dict[int, Any] = {}
    for shard, members in enumerate(sharding.shards(assignment, pods=pods)):
        shard_key = (pods, stations_key, tuple((n, by_name[n].meta.generation) for n in members))
        if state.applied.get(shard) == shard_key:
            continue
        wire = []
        for name in members:
            satellite = by_name[name]
            cache_key = (name, satellite.meta.generation)
            if cache_key not in state.wire:
                model = satellite.model()
                assert model is not None  # `simulated` keeps valid Satellites only
                state.wire[cache_key] = builders.pooled_satellite(name, model)
            wire.append(state.wire[cache_key])
        config = builders.pool_config(shard=shard, pods=pods, satellites=wire, stations=stations)
        objs += builders.pool_children(
            namespace=namespace,
            mission=mission,
            owner=owner,
            config=config,
            settings=services.settings,
        )
        written[shard] = shard_key
    if objs:
        await services.kube.apply_all(objs)
        state.applied.update(written)  # only once the API server took them
        log.info(
            "simulator pool converged",
            extra={
                "mission": mission,
                "namespace": namespace,
                "satellites": len(assignment),
                "pods": pods,
                "shards_written": len(objs) // 2,
                "moved": moved,
            },
        )
    current = {(name, by_name[name].meta.generation) for name in assignment}
    state.wire = {k: v for k, v in state.wire.items() if k in current}
    state.assignment = assignment


async def _read_back(
    namespace: str, mission: str, services: Services
) -> tuple[dict[str, int], int]:
    """The assignment the pods' ConfigMaps hold, and how many consecutive shards exist."""
    assignment: dict[str, int] = {}
    shard = 0
    while True:
        configmap, _deployment = builders.pool_refs(namespace, mission, shard)
        found = await services.kube.get(configmap)
        if found is None:
            return assignment, shard
        try:
            data = json.loads((found.get("data") or {}).get(builders.POOL_CONFIG_KEY, "{}"))
            for satellite in data.get("satellites", []):
                assignment[str(satellite["name"])] = shard
        except (ValueError, KeyError, TypeError):
            pass  # rewritten by this pass
        shard += 1
