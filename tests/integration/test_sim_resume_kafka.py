"""A simulator killed with -9 resumes its spacecraft where it was (the dev stack's real Kafka).

`mpcs sim run` flies a satellite, is commanded (SAFE mode, a heater on), then dies with SIGKILL:
no flush, no goodbye. A new process on the same topics must continue the spacecraft from its
checkpoint — the commanded mode and heater, the battery, the uptime and the command count, the
boot count unchanged — and the sequence numbers after the last one published, with no gap and
no repeat. Only a commanded RESET_SUBSYSTEM obc reboots it (boot count + 1, uptime from 0).
Commands carry the simulated time they arrived at, never earlier than when they were issued.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from utils.logs import register_log

from mpcs.core.commands import Command
from mpcs.core.names import Topic, topic
from mpcs.core.resources import KafkaSettings
from mpcs.core.telemetry import decode
from mpcs.dev.process import spawn, stop_group
from mpcs.operator.builders import mission_topics
from mpcs.orbit.timeutil import ns_from_datetime, parse_time

pytestmark = pytest.mark.integration

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
NAMESPACE = "resume"
SATELLITE = "sat-r"
#: 0.2 s of wall time per sample, 10 s of spacecraft time (x50).
SPEC = {
    "missionRef": {"name": "m"},
    "tle": {"line1": ISS_L1, "line2": ISS_L2},
    "telemetryIntervalSeconds": 0.2,
    "simulator": {"seed": 3, "timeScale": 50, "initialBatteryPct": 55},
}
CONFIG = {"satellite": SATELLITE, "spec": SPEC}


class Topics:
    """A fresh mission's topics, made as the operator makes them (checkpoints compacted)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.mission = f"r{uuid.uuid4().hex[:8]}"

    def name(self, kind: Topic) -> str:
        return topic(NAMESPACE, self.mission, kind)

    async def create(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in mission_topics(NAMESPACE, self.mission, KafkaSettings(partitions=2))
                ]
            )
        finally:
            await admin.close()


class Reader:
    """Everything on one topic so far, from the beginning, decoded as JSON."""

    def __init__(self, bootstrap: str, name: str) -> None:
        self.consumer = AIOKafkaConsumer(
            name, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        self.messages: list[dict[str, Any]] = []

    async def until(
        self, check: Callable[[list[dict[str, Any]]], bool], *, what: str, timeout_s: float = 60
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while not check(self.messages):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            batch = await self.consumer.getmany(timeout_ms=300)
            for records in batch.values():
                self.messages.extend(orjson.loads(r.value) for r in records)
        return self.messages

    async def drain(self) -> None:
        """Read until a fetch comes back empty."""
        while batch := await self.consumer.getmany(timeout_ms=1_000):
            for records in batch.values():
                self.messages.extend(orjson.loads(r.value) for r in records)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> Topics:
    made = Topics(kafka_bootstrap)
    await made.create()
    return made


@pytest.fixture
def simulators(topics: Topics, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `mpcs sim run` for SATELLITE on the fresh topics (a new process per call)."""
    log = tmp_path / "simulator.log"
    register_log("simulator", log)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "sim", "run"],
            log=log,
            env={
                "MPCS_KAFKA_BOOTSTRAP": topics.bootstrap,
                "MPCS_NAMESPACE": NAMESPACE,
                "MPCS_MISSION": topics.mission,
                "MPCS_SATELLITE": SATELLITE,
                "MPCS_SATELLITE_SPEC": orjson.dumps(
                    {"satellite": SATELLITE, "spec": SPEC}
                ).decode(),
                "MPCS_METRICS_PORT": "0",
            },
            die_with_parent=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_group(proc.pid, proc=proc)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    made = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def test_a_killed_simulator_resumes_its_spacecraft(
    topics: Topics,
    simulators: Callable[[], subprocess.Popen[bytes]],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    telemetry = Reader(kafka_bootstrap, topics.name(Topic.TELEMETRY))
    acks = Reader(kafka_bootstrap, topics.name(Topic.ACKS))
    await telemetry.consumer.start()
    await acks.consumer.start()
    try:

        async def command(name: str, **args: Any) -> dict[str, Any]:
            sent = Command(satellite=SATELLITE, name=name, args=args, issued_by="test")
            await producer.send_and_wait(
                topics.name(Topic.COMMANDS),
                key=SATELLITE.encode(),
                value=sent.model_dump_json().encode(),
            )
            found = await acks.until(
                lambda ms: any(
                    m["command_id"] == str(sent.id) and m["state"] == "executed" for m in ms
                ),
                what=f"{name} executed",
            )
            executed = next(m for m in found if m["command_id"] == str(sent.id))
            # Executed at the simulated time it arrived: not before it was issued (x50 runs ahead).
            assert parse_time(executed["time"]) >= ns_from_datetime(sent.issued_at), (
                executed,
                sent.issued_at,
            )
            return executed

        first = simulators()
        await telemetry.until(lambda ms: len(ms) >= 5, what="first telemetry")
        await command("SET_HEATER", heater="battery", state="ON")
        await command("SET_MODE", mode="SAFE")
        await telemetry.until(
            lambda ms: ms[-1]["mode"] == "SAFE" and ms[-1]["thermal"]["battery_heater_on"],
            what="SAFE with the battery heater on",
        )
        await telemetry.until(lambda ms: len(ms) >= 25, what="a few more samples")

        os.killpg(first.pid, signal.SIGKILL)  # no flush, no commit, no clean shutdown
        first.wait(timeout=10)
        await asyncio.sleep(1.0)
        await telemetry.drain()  # everything the first process got published
        before = len(telemetry.messages)
        last = telemetry.messages[-1]

        simulators()
        messages = await telemetry.until(
            lambda ms: len(ms) >= before + 5, what="telemetry of the restarted simulator"
        )
        resumed = messages[before]
        for message in messages:
            decode(orjson.dumps(message))  # every message is valid telemetry
        assert resumed["seq"] == last["seq"] + 1
        assert resumed["time"] > last["time"]
        assert resumed["mode"] == "SAFE"
        assert resumed["thermal"]["battery_heater_on"] is True
        assert resumed["obc"]["boot_count"] == last["obc"]["boot_count"] == 1
        # The spacecraft flew on while its simulator was down: the same boot, so the uptime
        # grew by exactly the spacecraft time between the two samples (whole seconds).
        flown_s = (parse_time(resumed["time"]) - parse_time(last["time"])) / 10**9
        grown_s = resumed["obc"]["uptime_s"] - last["obc"]["uptime_s"]
        assert abs(grown_s - flown_s) <= 1, (grown_s, flown_s)
        assert resumed["obc"]["commands_executed"] == last["obc"]["commands_executed"] == 2
        # The battery went on from where it was: it changed by no more than the array and the
        # loads can move it in that time (60 W solar at most, under 60 W of load in SAFE).
        soc_before, soc_after = (
            last["power"]["battery_soc_pct"],
            resumed["power"]["battery_soc_pct"],
        )
        bound_pct = 60.0 * flown_s / 3600.0 / 80.0 * 100.0 + 0.5  # 80 Wh battery; noise
        assert abs(soc_after - soc_before) <= bound_pct, (soc_before, soc_after, flown_s)

        reset = await command("RESET_SUBSYSTEM", subsystem="obc")
        rebooted = await telemetry.until(
            lambda ms: ms[-1]["obc"]["boot_count"] == 2, what="boot count 2 after the reset"
        )
        after_reset = rebooted[-1]
        assert (
            after_reset["obc"]["uptime_s"]
            <= (parse_time(after_reset["time"]) - parse_time(reset["time"])) // 10**9
        )
        assert after_reset["mode"] == "SAFE"  # a reboot of the computer, not of the model

        seqs = [m["seq"] for m in rebooted]
        assert seqs == list(range(len(seqs))), "a gap or a repeat in the sequence numbers"
    finally:
        await telemetry.consumer.stop()
        await acks.consumer.stop()
