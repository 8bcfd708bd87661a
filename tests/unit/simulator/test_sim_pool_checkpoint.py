"""A pool restores its Satellites through the same checkpoint module as a single simulator.

A shard flown a while, one Satellite commanded, is snapshotted member by member; a freshly built
shard (the pod restarted, or the Satellites moved to another pod) restored from those snapshots
flies on exactly as the original: every row of every member and the clock are the same, and the
members restored from different checkpoint times are each flown forward to the pod's clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from simdata import CBERS2, ISS, spec_dict
from utils.doctests import run_doctests

from mpcs.core.commands import Command
from mpcs.core.resources.simulation import PoolConfig
from mpcs.simulator import checkpoint
from mpcs.simulator.commanding import execute
from mpcs.simulator.engine import Engine
from mpcs.simulator.pool import PoolRuntime, PoolSettings, Saved, build_groups, resume_group

START_NS = 1_700_000_000 * 10**9
WALL_NS = 1_800_000_000 * 10**9


def _config() -> PoolConfig:
    return PoolConfig.model_validate(
        {
            "shard": 0,
            "pods": 1,
            "satellites": [
                {"name": "a", "spec": spec_dict(ISS, seed=1)},
                {"name": "b", "spec": spec_dict(CBERS2, seed=2, initialBatteryPct=40)},
                {"name": "c", "spec": spec_dict(ISS, seed=3)},
            ],
        }
    )


def _rows(engine: Engine, index: int) -> dict[str, Any]:
    rows: dict[str, Any] = checkpoint.snapshot(engine, index)["rows"]
    return rows


def test_a_restored_shard_flies_on_as_the_original() -> None:
    (flown,) = build_groups(_config(), now_ns=START_NS)
    engine = flown.engine
    for _ in range(30):
        engine.advance(flown.step_s)
    b = flown.keys.index(b"b")
    command = Command(satellite="b", name="SET_MODE", args={"mode": "SAFE"}, issued_by="test")
    execute(engine, b, command, now_ns=time.time_ns())
    saved = {i: (checkpoint.snapshot(engine, i, sample=100 + i), WALL_NS) for i in range(3)}

    (fresh,) = build_groups(_config(), now_ns=START_NS)
    failed = resume_group(fresh, saved, now_wall_ns=WALL_NS)

    assert failed == []
    assert fresh.engine.time_ns == engine.time_ns
    for i in range(3):
        for name, value in _rows(engine, i).items():
            assert _rows(fresh.engine, i)[name] == value, f"{fresh.keys[i]!r}.{name}"
    assert fresh.engine.mode[b] == engine.mode[b] != fresh.engine.mode[0]
    assert int(fresh.engine.commands_executed[b]) == 1
    for _ in range(5):  # and they fly on alike
        engine.advance(flown.step_s)
        fresh.engine.advance(fresh.step_s)
    np.testing.assert_allclose(fresh.engine.energy_wh, engine.energy_wh, rtol=1e-12)


def test_members_checkpointed_at_different_times_are_flown_to_the_pods_clock() -> None:
    (flown,) = build_groups(_config(), now_ns=START_NS)
    engine = flown.engine
    states = {}
    for i in range(3):  # a staggered checkpoint: one member per sample
        states[i] = (checkpoint.snapshot(engine, i), WALL_NS)
        engine.advance(flown.step_s)
    # Down 60 s of wall time (× 1): each member is flown to the last checkpoint's time + 60 s.
    (fresh,) = build_groups(_config(), now_ns=START_NS)
    resume_group(fresh, states, now_wall_ns=WALL_NS + 60 * 10**9)
    newest = int(states[2][0]["time_ns"])
    assert fresh.engine.time_ns == newest + 60 * 10**9
    # Uptime is the boot's age at the pod's clock: the same boot (boot_ns) for every member.
    assert fresh.engine.boot_ns.tolist() == [START_NS] * 3
    # Energy moved on from each member's own checkpoint: not reset to the initial charge.
    initial = build_groups(_config(), now_ns=START_NS)[0].engine.energy_wh
    assert not np.allclose(fresh.engine.energy_wh, initial)


def test_an_unreadable_checkpoint_leaves_the_member_fresh() -> None:
    (flown,) = build_groups(_config(), now_ns=START_NS)
    good = checkpoint.snapshot(flown.engine, 0)
    bad = dict(checkpoint.snapshot(flown.engine, 1), rows={})
    (fresh,) = build_groups(_config(), now_ns=START_NS)
    before = _rows(fresh.engine, 1)
    assert resume_group(fresh, {0: (good, WALL_NS), 1: (bad, WALL_NS)}, now_wall_ns=WALL_NS) == [1]
    assert _rows(fresh.engine, 1) == before


def test_doctests() -> None:
    run_doctests(checkpoint)


def test_a_rebalance_keeps_who_stays_and_restores_who_arrives() -> None:
    """Pod 0 flies a and b; the shard becomes b and c, c coming from another pod (its checkpoint:
    SAFE, seq 41 published). b goes on from memory, c from its checkpoint, each seq its own."""
    settings = PoolSettings(namespace="ops", mission="m", kafka_bootstrap="127.0.0.1:1")

    async def never(_known: str | None) -> tuple[str, PoolConfig | None]:
        raise AssertionError("not read in this test")

    (elsewhere,) = build_groups(_config(), now_ns=time.time_ns())
    c = elsewhere.keys.index(b"c")
    command = Command(satellite="c", name="SET_MODE", args={"mode": "SAFE"}, issued_by="test")
    execute(elsewhere.engine, c, command, now_ns=time.time_ns())
    payload = checkpoint.encode(elsewhere.engine, c, wall_ns=time.time_ns(), sample=40)
    arriving = {b"c": Saved(checkpoint.decode(payload, satellite="c"), last_seq=41)}

    def shard(*names: str) -> PoolConfig:
        every = {s.name: s for s in _config().satellites}
        return PoolConfig(shard=0, pods=2, satellites=[every[n] for n in names])

    async def rebalance() -> None:
        runtime = PoolRuntime(settings, never)
        runtime.load(shard("a", "b"), version="1")
        (group,) = runtime.groups
        for task in runtime._samplers:  # sampled by hand below
            task.cancel()
        for _ in range(7):
            group.engine.telemetry()
            group.published_sample = group.engine.sample
            group.engine.advance(group.step_s)
        b_energy = float(group.engine.energy_wh[group.keys.index(b"b")])
        runtime.load(shard("b", "c"), version="2", saved=arriving)
        (moved,) = runtime.groups
        messages = dict(zip(moved.keys, moved.engine.telemetry(), strict=True))
        for i, key in enumerate(moved.keys):
            messages[key]["seq"] = moved.seq(i, moved.engine.sample)
        assert messages[b"b"]["seq"] == 7  # b published 0…6 here
        assert messages[b"c"]["seq"] == 42  # c published up to 41 on its old pod
        assert messages[b"c"]["mode"] == "SAFE"
        assert messages[b"b"]["mode"] != "SAFE"
        b = moved.keys.index(b"b")
        assert float(moved.engine.energy_wh[b]) != float(_config_energy(b"b"))
        assert abs(float(moved.engine.energy_wh[b]) - b_energy) < 0.5  # Wh: flown on, not reset
        # a left the pod: a last checkpoint of it is queued, at the seq it published last.
        item = runtime.checkpoint_lane.queue.get_nowait()
        left = checkpoint.decode(item.value, satellite="a")
        assert left["state"]["sample"] == 6
        for task in runtime._samplers:
            task.cancel()
        await asyncio.gather(*runtime._samplers, return_exceptions=True)

    asyncio.run(rebalance())


def _config_energy(key: bytes) -> float:
    (group,) = build_groups(_config(), now_ns=START_NS)
    return float(group.engine.energy_wh[group.keys.index(key)])
