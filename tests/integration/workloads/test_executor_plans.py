"""The CommandPlan executor against the real kube-apiserver, Kafka and a real simulator process.

Each test gets a fresh namespace and mission (topics created with the operator's Kafka code), a
CommandPlan created through the apiserver with its status already Scheduled (the test writes what
the operator would; the operator is not running), and `mpcs sim run` as a child process so the
commands really execute and acks really come back. The executor runs in-process as an asyncio
task, except in the restart test where it is a `python -m mpcs.workloads.executor` process that
gets SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient
from pydantic import SecretStr
from utils.kube import install_crds
from utils.logs import register_log

from mpcs.core.names import API_VERSION, GROUP, VERSION, Topic, topic
from mpcs.core.resources import KafkaSettings
from mpcs.dev.process import spawn, stop_group
from mpcs.operator.builders import mission_topics
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.orbit.timeutil import format_rfc3339, parse_rfc3339
from mpcs.workloads.executor import command_id, run_executor
from mpcs.workloads.settings import WorkloadSettings

pytestmark = pytest.mark.integration

SATELLITE = "firewatch-1"
# From examples/20-satellites.yaml.
TLE = {
    "line1": "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992",
    "line2": "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043",
}
SAT_SPEC = {
    "tle": TLE,
    "telemetryIntervalSeconds": 1,
    "simulator": {"seed": 1, "timeScale": 1, "initialBatteryPct": 85},
}
PLANS = "commandplans"
#: A step: (name, command, args, offset after the plan start in s, timeout in s).
Step = tuple[str, str, dict[str, Any], float, float]


@dataclass
class Mission:
    namespace: str
    name: str
    kafka: str
    kubeconfig: Path
    api: k8s.CustomObjectsApi
    tmp: Path

    def settings(self) -> WorkloadSettings:
        return WorkloadSettings(
            namespace=self.namespace,
            mission=self.name,
            kafka_bootstrap=self.kafka,
            influx_url="http://127.0.0.1:1",  # the executor does not use InfluxDB
            influx_org="unused",
            influx_token=SecretStr("unused"),
            executor_poll_s=0.5,
            executor_ack_grace_s=1.0,
        )

    def env(self) -> dict[str, str]:
        return {
            "MPCS_NAMESPACE": self.namespace,
            "MPCS_MISSION": self.name,
            "MPCS_KAFKA_BOOTSTRAP": self.kafka,
            "MPCS_INFLUX_URL": "http://127.0.0.1:1",
            "MPCS_INFLUX_ORG": "unused",
            "MPCS_INFLUX_TOKEN": "unused",
            "MPCS_EXECUTOR_POLL_S": "0.5",
            "MPCS_EXECUTOR_ACK_GRACE_S": "1",
            "KUBECONFIG": str(self.kubeconfig),
        }

    def topic(self, kind: Topic) -> str:
        return topic(self.namespace, self.name, kind)

    async def get(self, name: str) -> dict[str, Any]:
        api: Any = self.api
        result: dict[str, Any] = await asyncio.to_thread(
            api.get_namespaced_custom_object, GROUP, VERSION, self.namespace, PLANS, name
        )
        return result

    async def create_plan(
        self, name: str, steps: list[Step], *, on_failure: str, start: dt.datetime
    ) -> dict[str, Any]:
        """Create the plan and write the Scheduled status the operator would write."""
        body = {
            "apiVersion": API_VERSION,
            "kind": "CommandPlan",
            "metadata": {"name": name},
            "spec": {
                "missionRef": {"name": self.name},
                "satelliteRef": {"name": SATELLITE},
                "start": {"at": format_rfc3339(start)},
                "onFailure": on_failure,
                "steps": [
                    {
                        "name": n,
                        "command": c,
                        "args": a,
                        "offsetSeconds": o,
                        "timeoutSeconds": t,
                    }
                    for n, c, a, o, t in steps
                ],
            },
        }
        api: Any = self.api
        obj: dict[str, Any] = await asyncio.to_thread(
            api.create_namespaced_custom_object, GROUP, VERSION, self.namespace, PLANS, body
        )
        status = {
            "phase": "Scheduled",
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": [
                {
                    "type": "Scheduled",
                    "status": "True",
                    "reason": "Resolved",
                    "message": "absolute start time",
                    "lastTransitionTime": format_rfc3339(dt.datetime.now(dt.UTC)),
                    "observedGeneration": obj["metadata"]["generation"],
                }
            ],
            "schedule": [
                {
                    "name": n,
                    "command": c,
                    "scheduledAt": format_rfc3339(start + dt.timedelta(seconds=o)),
                    "state": "pending",
                }
                for n, c, _, o, _ in steps
            ],
        }
        await asyncio.to_thread(
            self.api.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            self.namespace,
            PLANS,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",
        )
        return obj

    async def wait_plan(
        self,
        name: str,
        check: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        timeout_s: float = 90.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = await self.get(name)
            if check(last):
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name}: not within {timeout_s:.0f} s: {what}; last: {last}")

    async def wait_phase(self, name: str, phase: str, timeout_s: float = 90.0) -> dict[str, Any]:
        return await self.wait_plan(
            name,
            lambda o: (o.get("status") or {}).get("phase") == phase,
            what=f"phase {phase}",
            timeout_s=timeout_s,
        )

    async def records(self, kind: Topic) -> list[dict[str, Any]]:
        """Every message on one of the mission's topics, decoded."""
        name = self.topic(kind)
        consumer = AIOKafkaConsumer(
            name,
            bootstrap_servers=self.kafka,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = sorted(consumer.assignment())
            assert tps, f"topic {name} has no partitions"
            end = await consumer.end_offsets(tps)
            out: list[dict[str, Any]] = []
            while True:
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= end[tp] for tp in tps):
                    break
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    out.extend(orjson.loads(r.value) for r in batch)
            return out
        finally:
            await consumer.stop()

    async def commands_of(self, plan: str) -> Counter[str]:
        """How many messages the commands topic holds per step of `plan`."""
        return Counter(
            str(c["step"]) for c in await self.records(Topic.COMMANDS) if c.get("plan") == plan
        )


@pytest.fixture
async def mission(
    namespace: str,
    kube_client: ApiClient,
    kafka_bootstrap: str,
    kubeconfig: Path,
    unique: str,
    tmp_path: Path,
) -> Mission:
    await asyncio.to_thread(install_crds, kube_client)
    name = f"m{unique}"
    topics = KafkaTopics(kafka_bootstrap)
    try:
        await topics.ensure_topics(mission_topics(namespace, name, KafkaSettings(partitions=2)))
    finally:
        await topics.close()
    return Mission(
        namespace=namespace,
        name=name,
        kafka=kafka_bootstrap,
        kubeconfig=kubeconfig,
        api=k8s.CustomObjectsApi(kube_client),
        tmp=tmp_path,
    )


@pytest.fixture
def simulator(mission: Mission) -> Iterator[Callable[[], Awaitable[subprocess.Popen[bytes]]]]:
    """Start `mpcs sim run` for SATELLITE; waits for its first telemetry message."""
    procs: list[subprocess.Popen[bytes]] = []
    log = mission.tmp / "simulator.log"
    register_log("simulator", log)

    async def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-m", "mpcs.cli", "sim", "run"],
            log=log,
            env={
                "MPCS_KAFKA_BOOTSTRAP": mission.kafka,
                "MPCS_NAMESPACE": mission.namespace,
                "MPCS_MISSION": mission.name,
                "MPCS_SATELLITE": SATELLITE,
                "MPCS_SATELLITE_SPEC": orjson.dumps(
                    {
                        "satellite": SATELLITE,
                        "spec": {**SAT_SPEC, "missionRef": {"name": mission.name}},
                    }
                ).decode(),
                "MPCS_METRICS_PORT": "0",  # probes on a free port, not the pod's 9090
            },
            die_with_parent=True,
        )
        procs.append(proc)
        deadline = time.monotonic() + 60
        while not await mission.records(Topic.TELEMETRY):
            assert proc.poll() is None, f"simulator exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no telemetry from the simulator within 60 s"
            await asyncio.sleep(0.5)
        return proc

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        stop_group(proc.pid, proc=proc)


@contextlib.asynccontextmanager
async def executor_task(mission: Mission) -> AsyncIterator[None]:
    """The executor in this event loop, with a kube client of its own."""
    api = await asyncio.to_thread(
        k8s_config.new_client_from_config, config_file=str(mission.kubeconfig)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_executor(mission.settings(), stop=stop, kube=api))
    try:
        yield
        assert not task.done(), f"executor ended early: {task}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        api.close()


@pytest.fixture
def executor_process(mission: Mission) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `python -m mpcs.workloads.executor` (logs of every start in one file)."""
    procs: list[subprocess.Popen[bytes]] = []
    log = mission.tmp / "executor.log"
    register_log("executor_process", log)

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-m", "mpcs.workloads.executor"],
            log=log,
            env=mission.env(),
            die_with_parent=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_group(proc.pid, proc=proc)


def schedule(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in obj["status"]["schedule"]}


def soon(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=seconds)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


# ------------------------------------------------------------------------------------ tests


async def test_three_step_plan_succeeds_with_ordered_timestamps(
    mission: Mission, simulator: Callable[[], Awaitable[subprocess.Popen[bytes]]]
) -> None:
    await simulator()
    steps: list[Step] = [
        ("ping", "PING", {}, 0, 30),
        ("payload-mode", "SET_MODE", {"mode": "PAYLOAD"}, 2, 30),
        ("capture", "CAPTURE_IMAGE", {"count": 1}, 4, 30),
    ]
    created = await mission.create_plan("image", steps, on_failure="Abort", start=soon(5))
    async with executor_task(mission):
        done = await mission.wait_phase("image", "Succeeded")
    entries = schedule(done)
    previous_end: dt.datetime | None = None
    for name, _, _, _, _ in steps:
        entry = entries[name]
        assert entry["state"] == "executed", entry
        assert entry["commandId"] == str(command_id(created["metadata"]["uid"], name))
        scheduled, sent = parse_rfc3339(entry["scheduledAt"]), parse_rfc3339(entry["sentAt"])
        acked, executed = parse_rfc3339(entry["ackedAt"]), parse_rfc3339(entry["executedAt"])
        assert scheduled <= sent <= acked <= executed, entry
        if previous_end is not None:
            assert previous_end <= sent, f"{name} sent before the previous step executed"
        previous_end = executed
    assert condition(done, "Succeeded")["status"] == "True"
    assert condition(done, "Running")["status"] == "False"
    assert condition(done, "Scheduled")["reason"] == "Resolved"  # the operator's, kept
    assert done["status"]["message"] == "3/3 steps executed"
    commands = [c for c in await mission.records(Topic.COMMANDS) if c.get("plan") == "image"]
    assert [c["step"] for c in commands] == ["ping", "payload-mode", "capture"]
    assert {c["issued_by"] for c in commands} == {"plan:image"}
    for command in commands:
        entry = entries[command["step"]]
        assert command["id"] == entry["commandId"]
        assert parse_rfc3339(command["valid_until"]) == parse_rfc3339(
            entry["scheduledAt"]
        ) + dt.timedelta(seconds=30)


REJECTED_STEPS: list[Step] = [
    ("ping", "PING", {}, 0, 30),
    # CAPTURE_IMAGE is allowed only in PAYLOAD mode; the spacecraft is in NOMINAL.
    ("capture", "CAPTURE_IMAGE", {"count": 1}, 2, 30),
    ("ping-again", "PING", {}, 4, 30),
]


async def test_rejected_step_aborts_or_continues(
    mission: Mission, simulator: Callable[[], Awaitable[subprocess.Popen[bytes]]]
) -> None:
    await simulator()
    start = soon(5)
    await mission.create_plan("abort", REJECTED_STEPS, on_failure="Abort", start=start)
    await mission.create_plan("carry-on", REJECTED_STEPS, on_failure="Continue", start=start)
    async with executor_task(mission):
        aborted = await mission.wait_phase("abort", "Failed")
        continued = await mission.wait_phase("carry-on", "Failed")

    steps = schedule(aborted)
    assert steps["ping"]["state"] == "executed"
    assert steps["capture"]["state"] == "failed"
    assert steps["capture"]["message"].startswith("rejected by the spacecraft: CAPTURE_IMAGE is")
    assert "not allowed in NOMINAL mode" in steps["capture"]["message"]
    assert steps["ping-again"]["state"] == "failed"
    assert steps["ping-again"]["message"] == (
        "not sent: step capture did not execute (onFailure: Abort)"
    )
    assert "sentAt" not in steps["ping-again"]
    assert condition(aborted, "Succeeded")["reason"] == "Aborted"

    steps = schedule(continued)
    assert [steps[n]["state"] for n in ("ping", "capture", "ping-again")] == [
        "executed",
        "failed",
        "executed",
    ]
    assert condition(continued, "Succeeded")["reason"] == "StepFailed"

    assert await mission.commands_of("abort") == {"ping": 1, "capture": 1}
    assert await mission.commands_of("carry-on") == {"ping": 1, "capture": 1, "ping-again": 1}


async def test_step_expires_without_a_spacecraft(mission: Mission) -> None:
    steps: list[Step] = [("ping", "PING", {}, 0, 2), ("later", "PING", {}, 10, 30)]
    await mission.create_plan("lonely", steps, on_failure="Abort", start=soon(3))
    async with executor_task(mission):
        sent = await mission.wait_plan(
            "lonely", lambda o: schedule(o)["ping"]["state"] == "sent", what="ping sent"
        )
        assert sent["status"]["phase"] == "Running"
        failed = await mission.wait_phase("lonely", "Failed")
    ping = schedule(failed)["ping"]
    assert ping["state"] == "expired"
    valid_until = parse_rfc3339(ping["scheduledAt"]) + dt.timedelta(seconds=2)
    assert ping["message"].startswith(f"no final ack by {format_rfc3339(valid_until)} ")
    assert "timeout 2 s" in ping["message"]
    # Marked expired after valid_until (scheduledAt + 2 s) plus the 1 s grace, not before: the
    # plan failed (Succeeded turned False) in the same status write that expired the step.
    failed_at = parse_rfc3339(condition(failed, "Succeeded")["lastTransitionTime"])
    assert failed_at >= valid_until + dt.timedelta(seconds=1), (failed_at, valid_until)
    later = schedule(failed)["later"]
    assert later["state"] == "failed"
    assert later["message"].startswith("not sent: step ping did not execute")
    assert await mission.commands_of("lonely") == {"ping": 1}


async def test_restarted_executor_never_resends_and_completes_the_plan(
    mission: Mission,
    simulator: Callable[[], Awaitable[subprocess.Popen[bytes]]],
    executor_process: Callable[[], subprocess.Popen[bytes]],
) -> None:
    """SIGKILL the executor right after it marked a step sent, while the spacecraft is paused.

    The step is in flight across the restart: the new process must wait for its ack (which the
    resumed simulator sends after the restart), never publish it again, and finish the plan.
    """
    sim = await simulator()
    steps: list[Step] = [
        ("first", "PING", {}, 0, 60),
        ("second", "SET_MODE", {"mode": "PAYLOAD"}, 3, 60),
        ("third", "CAPTURE_IMAGE", {"count": 1}, 6, 60),
    ]
    await mission.create_plan("restart", steps, on_failure="Abort", start=soon(6))
    proc = executor_process()
    await mission.wait_plan(
        "restart", lambda o: schedule(o)["first"]["state"] == "executed", what="first executed"
    )
    os.kill(sim.pid, signal.SIGSTOP)  # the spacecraft stops answering
    in_flight = await mission.wait_plan(
        "restart", lambda o: schedule(o)["second"]["state"] == "sent", what="second sent"
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    second = schedule(in_flight)["second"]
    assert await mission.commands_of("restart") == {"first": 1, "second": 1}

    executor_process()
    await asyncio.sleep(2)  # the new process is up and has read the plan
    os.kill(sim.pid, signal.SIGCONT)
    done = await mission.wait_phase("restart", "Succeeded")
    entries = schedule(done)
    assert entries["second"]["state"] == "executed"
    assert entries["second"]["commandId"] == second["commandId"]
    assert entries["second"]["sentAt"] == second["sentAt"]
    assert await mission.commands_of("restart") == {"first": 1, "second": 1, "third": 1}
    log = (mission.tmp / "executor.log").read_text()
    assert "replaying acks of in-flight steps" in log
