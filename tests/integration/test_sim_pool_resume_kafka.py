"""A pooled simulator pod killed with -9 resumes its Satellites where they were (real Kafka).

`mpcs sim pool` flies three Satellites; one is commanded to SAFE; the process dies with SIGKILL
(no flush, no goodbye). A new process with the same shard must continue every Satellite from its
checkpoint (through `mpcs.simulator.checkpoint`, as `mpcs sim run` does): the commanded mode and
command count, the battery, the uptime of the same boot (boot count unchanged), and each
Satellite's sequence numbers right after the last one it published — no gap, no repeat.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from test_sim_resume_kafka import ISS_L1, ISS_L2, NAMESPACE, Reader, Topics, producer, topics
from utils.logs import register_log

from mpcs.core.commands import Command
from mpcs.core.names import Topic
from mpcs.core.telemetry import decode
from mpcs.dev.process import spawn, stop_group
from mpcs.orbit.timeutil import parse_time

pytestmark = pytest.mark.integration

__all__ = ["producer", "topics"]  # fixtures shared with the single simulator's test

NAMES = ("pool-a", "pool-b", "pool-c")
COMMANDED = "pool-b"


def _spec(seed: int) -> dict[str, Any]:
    """0.2 s of wall time per sample, 10 s of spacecraft time (x50)."""
    return {
        "missionRef": {"name": "m"},
        "tle": {"line1": ISS_L1, "line2": ISS_L2},
        "telemetryIntervalSeconds": 0.2,
        "simulator": {"seed": seed, "timeScale": 50, "initialBatteryPct": 55},
    }


@pytest.fixture
def pools(topics: Topics, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `mpcs sim pool` on a shard of NAMES (a new process per call)."""
    log = tmp_path / "pool.log"
    register_log("pool", log)
    shard = tmp_path / "pool.json"
    shard.write_bytes(
        orjson.dumps(
            {
                "shard": 0,
                "pods": 1,
                "satellites": [
                    {"name": name, "spec": _spec(seed)} for seed, name in enumerate(NAMES)
                ],
            }
        )
    )
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "sim", "pool", "--config", str(shard)],
            log=log,
            env={
                "MPCS_KAFKA_BOOTSTRAP": topics.bootstrap,
                "MPCS_NAMESPACE": NAMESPACE,
                "MPCS_MISSION": topics.mission,
                "MPCS_METRICS_PORT": "0",
                # Every Satellite is checkpointed every 2 s (10 samples): the restart restores
                # periodic checkpoints as well as the commanded one.
                "MPCS_SIM_POOL_CHECKPOINT_S": "2",
            },
            die_with_parent=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_group(proc.pid, proc=proc)


def _by_satellite(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in NAMES}
    for message in messages:
        found[message["satellite"]].append(message)
    return found


def _each_has(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda ms: all(len(v) >= count for v in _by_satellite(ms).values())


async def test_a_killed_pool_resumes_its_satellites(
    topics: Topics,
    pools: Callable[[], subprocess.Popen[bytes]],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    telemetry = Reader(kafka_bootstrap, topics.name(Topic.TELEMETRY))
    acks = Reader(kafka_bootstrap, topics.name(Topic.ACKS))
    await telemetry.consumer.start()
    await acks.consumer.start()
    try:
        first = pools()
        await telemetry.until(_each_has(5), what="first telemetry of every satellite")
        sent = Command(satellite=COMMANDED, name="SET_MODE", args={"mode": "SAFE"}, issued_by="t")
        # The pool's command group starts at the topic's end: until its consumer is assigned a
        # command is not seen. The same command (same id) again until acked: executed once.
        for _ in range(30):
            await producer.send_and_wait(
                topics.name(Topic.COMMANDS),
                key=COMMANDED.encode(),
                value=sent.model_dump_json().encode(),
            )
            try:
                await acks.until(
                    lambda ms: any(
                        m["command_id"] == str(sent.id) and m["state"] == "executed" for m in ms
                    ),
                    what="SET_MODE executed",
                    timeout_s=2,
                )
                break
            except AssertionError:
                continue
        else:
            pytest.fail("SET_MODE never executed")
        await acks.drain()
        states = [m["state"] for m in acks.messages if m["command_id"] == str(sent.id)]
        assert states.count("executed") == 1, states  # sent again, executed once
        await telemetry.until(
            lambda ms: _by_satellite(ms)[COMMANDED][-1]["mode"] == "SAFE", what="SAFE"
        )
        count = len(telemetry.messages)
        await telemetry.until(lambda ms: len(ms) >= count + 3 * 15, what="more samples")

        os.killpg(first.pid, signal.SIGKILL)  # no flush, no commit, no clean shutdown
        first.wait(timeout=10)
        await asyncio.sleep(1.0)
        await telemetry.drain()  # everything the first process got published
        before = {name: len(ms) for name, ms in _by_satellite(telemetry.messages).items()}
        last = {name: ms[-1] for name, ms in _by_satellite(telemetry.messages).items()}

        pools()
        await telemetry.until(
            lambda ms: all(len(v) >= before[k] + 5 for k, v in _by_satellite(ms).items()),
            what="telemetry of the restarted pool",
        )
        for message in telemetry.messages:
            decode(orjson.dumps(message))  # every message is valid telemetry
        for name, messages in _by_satellite(telemetry.messages).items():
            resumed, previous = messages[before[name]], last[name]
            assert resumed["seq"] == previous["seq"] + 1, name
            seqs = [m["seq"] for m in messages]
            assert seqs == list(range(len(seqs))), f"{name}: a gap or a repeat in seq"
            assert resumed["time"] > previous["time"], name
            assert resumed["mode"] == previous["mode"], name
            assert resumed["obc"]["boot_count"] == previous["obc"]["boot_count"] == 1, name
            assert resumed["obc"]["commands_executed"] == previous["obc"]["commands_executed"]
            # Flown on while the pod was down: the same boot, so the uptime grew by the
            # spacecraft time between the two samples (whole seconds).
            flown_s = (parse_time(resumed["time"]) - parse_time(previous["time"])) / 10**9
            grown_s = resumed["obc"]["uptime_s"] - previous["obc"]["uptime_s"]
            assert abs(grown_s - flown_s) <= 1, (name, grown_s, flown_s)
            # The battery went on from where it was (60 W of array and under 60 W of load at
            # most, 80 Wh battery), not back to the initial 55 %.
            soc_before = previous["power"]["battery_soc_pct"]
            soc_after = resumed["power"]["battery_soc_pct"]
            bound_pct = 60.0 * flown_s / 3600.0 / 80.0 * 100.0 + 0.5
            assert abs(soc_after - soc_before) <= bound_pct, (name, soc_before, soc_after)
        assert last[COMMANDED]["mode"] == "SAFE"
        assert last[COMMANDED]["obc"]["commands_executed"] == 1
    finally:
        await telemetry.consumer.stop()
        await acks.consumer.stop()
