"""A pooled simulator pod's shard: its engines (one per clock) fly each Satellite exactly as a
simulator of its own would, and reloading the shard swaps the engines without Kafka."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from simdata import CBERS2, ISS, spec_dict

from mpcs.core.resources.simulation import PoolConfig
from mpcs.simulator import Spacecraft
from mpcs.simulator.pool import PoolRuntime, PoolSettings, build_groups

START_NS = 1_700_000_000 * 10**9


def _pool(*satellites: tuple[str, dict[str, Any]], shard: int = 0) -> PoolConfig:
    return PoolConfig.model_validate(
        {
            "shard": shard,
            "pods": 2,
            "satellites": [{"name": name, "spec": spec} for name, spec in satellites],
        }
    )


def test_one_engine_per_clock_and_disabled_satellites_left_out() -> None:
    fast = dict(spec_dict(ISS), telemetryIntervalSeconds=1)
    config = _pool(
        ("a", spec_dict(ISS)),
        ("b", spec_dict(CBERS2)),
        ("c", fast),
        ("off", spec_dict(ISS, enabled=False)),
    )
    groups = build_groups(config, now_ns=START_NS)
    assert sorted((g.interval_s, [k.decode() for k in g.keys]) for g in groups) == [
        (1.0, ["c"]),
        (10.0, ["a", "b"]),
    ]


def test_a_pooled_satellite_flies_as_its_own_simulator_would() -> None:
    config = _pool(("a", spec_dict(ISS)), ("b", spec_dict(CBERS2, seed=3)))
    (group,) = build_groups(config, now_ns=START_NS)
    alone = Spacecraft("b", config.satellites[1].spec, start=START_NS)
    for _ in range(3):
        group.engine.advance(group.step_s)
        alone.advance(10.0)
    pooled, single = group.engine.telemetry()[1], alone.telemetry()
    assert pooled.keys() == single.keys()
    for key, value in single.items():
        if not isinstance(value, dict):
            assert pooled[key] == value, key
            continue
        for channel, reading in value.items():  # equal to rounding (numpy's array width)
            if isinstance(reading, float):
                assert pooled[key][channel] == pytest.approx(reading, rel=1e-9, abs=1e-9)
            else:
                assert pooled[key][channel] == reading, f"{key}.{channel}"


def test_reloading_the_shard_swaps_the_satellites() -> None:
    settings = PoolSettings(namespace="ops", mission="m", kafka_bootstrap="127.0.0.1:1")

    async def never(_known: str | None) -> tuple[str, PoolConfig | None]:
        raise AssertionError("not read in this test")

    runtime = PoolRuntime(settings, never)
    runtime._samplers = []
    runtime.groups = build_groups(_pool(("a", spec_dict(ISS))), now_ns=START_NS)
    runtime.index = {k: (g, i) for g in runtime.groups for i, k in enumerate(g.keys)}
    runtime.version = "1"

    # `load` starts samplers: give it a loop to start them on, then stop them.
    async def swap() -> None:
        runtime.load(_pool(("b", spec_dict(CBERS2)), ("c", spec_dict(ISS)), shard=1), version="2")
        assert sorted(k.decode() for k in runtime.index) == ["b", "c"]
        assert runtime.shard == 1
        assert runtime.reloads == 1
        for task in runtime._samplers:
            task.cancel()
        await asyncio.gather(*runtime._samplers, return_exceptions=True)

    asyncio.run(swap())
