"""A command executes at the simulated time it arrives, not at the last telemetry sample's.

Seen before the fix: an ack's spacecraft time 9 s before the command was issued (a 10 s sample
interval: the model had not moved since the last sample). The runtime now brings the model up to
the simulated time of the command's arrival, but never past the next sample's time (the sampler
owns the grid; its sequence numbers have no gap).
"""

from __future__ import annotations

import asyncio

from mpcs.core.commands import AckState, Command
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.orbit.timeutil import NS_PER_S, ns_from_datetime
from mpcs.simulator.runtime import RuntimeSettings, SimulatorRuntime

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def _runtime(time_scale: float) -> SimulatorRuntime:
    config = SimulatorConfig.model_validate(
        {
            "satellite": "sat-a",
            "spec": {
                "missionRef": {"name": "m"},
                "tle": {"line1": ISS_L1, "line2": ISS_L2},
                "telemetryIntervalSeconds": 10,
                "simulator": {"timeScale": time_scale},
            },
        }
    )
    settings = RuntimeSettings(
        kafka_bootstrap="127.0.0.1:1", namespace="ns", mission="m", satellite="sat-a"
    )
    return SimulatorRuntime(settings, config, start_ns=1_222_000_000 * NS_PER_S)


async def _arrive(runtime: SimulatorRuntime, *, wall_s_after_sample: float) -> int:
    """The sampler took its sample `wall_s_after_sample` ago; a PING arrives now."""
    runtime._wall0 = asyncio.get_running_loop().time() - wall_s_after_sample
    runtime._sim0_ns = runtime.craft.time_ns
    runtime._next_sample_ns = runtime._sim0_ns + round(runtime.sim_step_s * NS_PER_S)
    seq = runtime.craft.telemetry()["seq"]
    runtime._now_for_command()
    acks = runtime.craft.execute(Command(satellite="sat-a", name="PING", args={}, issued_by="test"))
    assert [a.state for a in acks] == [AckState.ACCEPTED, AckState.EXECUTED]
    assert runtime.craft.telemetry()["seq"] == seq  # not a sample
    return ns_from_datetime(acks[-1].time) - runtime._sim0_ns


async def test_a_command_runs_at_the_simulated_time_it_arrives() -> None:
    runtime = _runtime(time_scale=1)
    elapsed_ns = await _arrive(runtime, wall_s_after_sample=4.0)
    # At least the 4 s since the sample (the test's own statements take a little more).
    assert 4 * NS_PER_S <= elapsed_ns <= 10 * NS_PER_S


async def test_a_scaled_clock_moves_time_scale_times_faster() -> None:
    runtime = _runtime(time_scale=2)
    elapsed_ns = await _arrive(runtime, wall_s_after_sample=3.0)
    assert 6 * NS_PER_S <= elapsed_ns <= 20 * NS_PER_S


async def test_never_past_the_next_sample() -> None:
    """A sampler held back (broker outage) keeps its grid: the command waits at the next sample."""
    runtime = _runtime(time_scale=1)
    elapsed_ns = await _arrive(runtime, wall_s_after_sample=95.0)
    assert elapsed_ns == 10 * NS_PER_S
