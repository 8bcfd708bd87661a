"""`mpcs sim pool`: one pooled simulator pod — a shard of a Mission's Satellites in one process.

Started by the Deployments `<mission>-simulator-<i>` of a Mission with `spec.simulation.pods`
(docs/simulator.md#pooled-simulation). Where `mpcs sim run` flies one Satellite, this flies every
Satellite of its shard in one vectorised `Engine` (one per distinct telemetry interval, time
scale and start time; usually one), on the same Kafka lanes as the single runtime
(`mpcs.simulator.outbound`):

- its input is a `PoolConfig` (the shard's Satellites and the mission's ground stations) that
  the operator writes into the pod's ConfigMap (`MPCS_SIM_POOL_CONFIGMAP`, read through the API
  server with the pod's ServiceAccount) or a file (`--config`); it is re-read every
  `MPCS_SIM_POOL_RELOAD_S` and, when the shard changed, the engines are rebuilt from the new list
  (a rebalance never restarts the pod; a Satellite that stays goes on from its state in memory);
- checkpoints (`mpcs.simulator.checkpoint`, as `mpcs sim run`, but throttled): each Satellite's
  state every `MPCS_SIM_POOL_CHECKPOINT_S` (staggered over the samples) and after every command
  (delivered before its ack); a Satellite new to the pod — the pod restarted, or a rebalance
  moved it here — is restored from its latest checkpoint, flown forward to now, and its sequence
  numbers continue after the last telemetry message it published; a Satellite that leaves the
  pod gets a last checkpoint;
- each engine's sampler advances all its Satellites at once every interval and queues one
  telemetry message per Satellite (key = its name) on the telemetry lane;
- one command consumer (consumer group `sim-pool-<shard>`, offset reset *latest*: a new shard's
  group must not replay the topic's history onto its Satellites) executes the commands keyed with
  one of the shard's Satellites and acks them on the command lane;
- `/healthz`, `/readyz` (ready once the shard is loaded, both producers deliver and the command
  consumer is assigned) and `/metrics` (`mpcs_sim_pool_*`) on `MPCS_METRICS_PORT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import Field, ValidationError

from mpcs.core.commands import Command, CommandError
from mpcs.core.names import Topic
from mpcs.core.resources.simulation import PoolConfig
from mpcs.core.telemetry import KAFKA_COMPRESSION, encode
from mpcs.kit.backoff import Backoff
from mpcs.kit.health import HealthServer, Readiness
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.logs import configure_logging
from mpcs.kit.service import run_service
from mpcs.kit.settings import MissionSettings
from mpcs.orbit.timeutil import NS_PER_S, ns_from_datetime

from . import checkpoint
from .commanding import execute, take_downlinked
from .engine import Engine, SatelliteConfig
from .imaging import render_product
from .outbound import Lane, Outbound, Stats

log = logging.getLogger("mpcs.simulator")

#: Reads the shard: given the version loaded (None: none yet), returns the current version and,
#: only when it differs, its PoolConfig (parsed off the event loop: a shard of thousands of
#: Satellites takes a fraction of a second to parse, which would delay every sample).
ConfigReader = Callable[[str | None], Awaitable[tuple[str, PoolConfig | None]]]


class PoolSettings(MissionSettings):
    """Process settings, from `MPCS_*` environment variables (the kit's shared ones and these)."""

    sim_pool_configmap: str | None = Field(
        default=None, description="ConfigMap (in MPCS_NAMESPACE) holding this pod's PoolConfig."
    )
    sim_pool_reload_s: float = Field(
        default=5.0, gt=0, le=300, description="How often the shard is re-read."
    )
    sim_buffer_messages: int = Field(
        default=200_000,
        ge=10,
        description="Telemetry messages held while Kafka is unreachable (20 s of 10,000 "
        "Satellites at 1 Hz).",
    )
    sim_request_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="Producer request timeout before a retry."
    )
    sim_command_fetch_wait_ms: int = Field(
        default=100, ge=0, le=5_000, description="Longest time the broker holds an empty fetch."
    )
    sim_pool_checkpoint_s: float = Field(
        default=10.0,
        gt=0,
        le=3_600,
        description="How often each Satellite's state is checkpointed (and after every command): "
        "a kill -9 loses at most this much of it, re-simulated forward on restart.",
    )


#: Command ids a pool's checkpoint remembers per Satellite (redelivered commands are not re-run).
POOL_REMEMBERED_IDS = 100
#: How far back a pool searches the checkpoints and telemetry topics for its Satellites' latest
#: records (per partition): a shard of thousands is found in one scan.
RESUME_WINDOW = 2_000
RESUME_MAX_WINDOWS = 50


@dataclass
class Saved:
    """What Kafka holds of a Satellite new to the pod: its latest checkpoint (decoded; None: none
    or unreadable) and the sequence number of its latest telemetry message (None: none)."""

    message: dict[str, Any] | None
    last_seq: int | None


def _parse(text: str | bytes) -> PoolConfig:
    try:
        return PoolConfig.model_validate_json(text)
    except ValidationError:
        import yaml  # a YAML file (development)

        return PoolConfig.model_validate(yaml.safe_load(text))


def file_reader(path: Path) -> ConfigReader:
    """Read the shard from a JSON or YAML file (development, benchmarks); its version is a hash
    of its bytes."""

    async def read(known: str | None) -> tuple[str, PoolConfig | None]:
        data = await asyncio.to_thread(path.read_bytes)
        version = hashlib.sha256(data).hexdigest()
        if version == known:
            return version, None
        return version, await asyncio.to_thread(_parse, data)

    return read


def configmap_reader(namespace: str, name: str, key: str = "pool.json") -> ConfigReader:
    """Read the shard from the pod's ConfigMap with the pod's own credentials (a raw GET); its
    version is the ConfigMap's resourceVersion."""
    from mpcs.kit.kube import load_client

    api = load_client()
    path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"

    def get(known: str | None) -> tuple[str, PoolConfig | None]:
        method, url, headers, body, post = api.param_serialize(
            method="GET",
            resource_path=path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = api.call_api(method, url, header_params=headers, body=body, post_params=post)
        response.read()  # type: ignore[no-untyped-call]
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        found: dict[str, Any] = json.loads(response.data or b"{}")
        version = str(found["metadata"].get("resourceVersion", ""))
        if version == known:
            return version, None
        return version, _parse((found.get("data") or {})[key])

    async def read(known: str | None) -> tuple[str, PoolConfig | None]:
        return await asyncio.to_thread(get, known)

    return read


@dataclass
class Group:
    """The Satellites of the shard that share one clock: one engine, one sampler."""

    engine: Engine
    interval_s: float
    step_s: float
    keys: list[bytes]
    members: list[SatelliteConfig] = field(default_factory=list)
    #: Satellite i's sequence number is `engine.sample + seq_base[i]` (each continues its own).
    seq_base: list[int] = field(default_factory=list)
    #: The clock starts at the spec's startTime (else at the moment the shard was loaded).
    pinned: bool = False
    #: `engine.sample` of the last telemetry taken (None: none yet).
    published_sample: int | None = None

    def seq(self, index: int, sample: int) -> int:
        return sample + self.seq_base[index]


def build_groups(config: PoolConfig, *, now_ns: int) -> list[Group]:
    """One engine per (telemetry interval, time scale, start time) among the shard's Satellites;
    Satellites with the simulator disabled are left out."""
    by_clock: dict[tuple[float, float, int | None], list[SatelliteConfig]] = {}
    for satellite in config.satellites:
        spec = satellite.spec
        if not spec.simulator.enabled:
            continue
        start = spec.simulator.start_time
        clock = (
            spec.telemetry_interval_seconds,
            spec.simulator.time_scale,
            ns_from_datetime(start) if start is not None else None,
        )
        by_clock.setdefault(clock, []).append(SatelliteConfig(name=satellite.name, spec=spec))
    stations = [g.station() for g in config.ground_stations]
    groups = []
    for (interval_s, time_scale, start_ns), members in sorted(
        by_clock.items(), key=lambda item: str(item[0])
    ):
        engine = Engine(members, start_ns=start_ns or now_ns, stations=stations)
        keys = [name.encode() for name in engine.names]
        group = Group(
            engine,
            interval_s,
            interval_s * time_scale,
            keys,
            members,
            [0] * len(keys),
            pinned=start_ns is not None,
        )
        groups.append(group)
    return groups


def resume_group(
    group: Group, found: dict[int, tuple[dict[str, Any], int]], *, now_wall_ns: int
) -> list[int]:
    """Restore members of a freshly built group: `found` maps a member's index to a checkpoint
    state (`checkpoint.snapshot`) and the wall time it was taken.

    The group's clock becomes the restored spacecraft's: each state's time plus the wall time
    since it was taken × the time scale (the latest of them; with a time scale of 1 that is
    now). A group without a pinned start is rebuilt at that time (its other members start
    there); a pinned one is flown forward to it when behind. Each state is then flown forward to
    the group's clock in an engine of its own, one per checkpoint time (a pool's staggered
    checkpoints share a few), and copied in with `checkpoint.restore_rows`. Returns the indices
    that could not be restored (logged; they start from the spec's initial state).
    """
    if not found:
        return []
    engine = group.engine
    scale = group.step_s / group.interval_s
    target = max(
        int(state["time_ns"]) + round(max(0, now_wall_ns - wall_ns) * scale)
        for state, wall_ns in found.values()
    )
    if not group.pinned and engine.sample == 0:
        engine = group.engine = Engine(group.members, start_ns=target, stations=engine.stations)
    elif target > engine.time_ns:
        engine.advance((target - engine.time_ns) / NS_PER_S, sample=False)
    target = engine.time_ns
    buckets: dict[tuple[int, int], list[int]] = {}
    for index, (state, _) in found.items():
        buckets.setdefault((int(state["time_ns"]), int(state["start_ns"])), []).append(index)
    failed: list[int] = []
    stations = engine.stations
    for (_, start_ns), indices in buckets.items():
        solo = Engine([group.members[i] for i in indices], start_ns=start_ns, stations=stations)
        restored: list[tuple[int, int]] = []
        for j, index in enumerate(indices):
            try:
                checkpoint.restore(solo, j, found[index][0])
            except checkpoint.CheckpointError as exc:
                log.error("cannot resume %s (%s); starting afresh", group.keys[index], exc)
                failed.append(index)
                continue
            restored.append((j, index))
        if target > solo.time_ns:
            solo.advance((target - solo.time_ns) / NS_PER_S, sample=False)
        for j, index in restored:
            checkpoint.restore_rows(engine, index, checkpoint.snapshot(solo, j))
    return failed


class _Metrics(Collector):
    def __init__(self, pool: PoolRuntime) -> None:
        self._pool = pool

    def collect(self) -> list[Metric]:
        pool = self._pool
        stats = pool.stats
        counters = [
            ("mpcs_sim_pool_samples", "Telemetry messages sampled.", stats.samples),
            ("mpcs_sim_pool_messages_delivered", "Messages delivered.", stats.produced),
            ("mpcs_sim_pool_commands", "Command records read for the shard.", stats.commands),
            ("mpcs_sim_pool_reloads", "Times the shard changed and was reloaded.", pool.reloads),
            ("mpcs_sim_pool_late_samples", "Samples taken after their due time.", pool.late),
        ]
        metrics: list[Metric] = [CounterMetricFamily(n, h, value=v) for n, h, v in counters]
        metrics.append(
            GaugeMetricFamily(
                "mpcs_sim_pool_satellites", "Satellites flown.", value=len(pool.index)
            )
        )
        metrics.append(
            GaugeMetricFamily(
                "mpcs_sim_pool_step_seconds",
                "Duration of the last sample of every engine (model + encode + enqueue).",
                value=pool.step_s,
            )
        )
        buffered = GaugeMetricFamily(
            "mpcs_sim_pool_buffered_messages", "Messages waiting for delivery.", labels=["lane"]
        )
        for lane in (pool.telemetry, pool.command_lane, pool.checkpoint_lane):
            buffered.add_metric([lane.name], lane.queue.qsize())
        metrics.append(buffered)
        ready = 1 if pool.readiness().ready else 0
        metrics.append(GaugeMetricFamily("mpcs_sim_pool_ready", "1 when /readyz is 200.", ready))
        return metrics


class PoolRuntime:
    """A pooled simulator pod: `await run()` until `stop()`."""

    def __init__(self, settings: PoolSettings, reader: ConfigReader, *, shard: int = 0) -> None:
        self.settings = settings
        self.reader = reader
        self.shard = shard
        self.telemetry_topic = settings.topic(Topic.TELEMETRY)
        self.commands_topic = settings.topic(Topic.COMMANDS)
        self.acks_topic = settings.topic(Topic.ACKS)
        self.events_topic = settings.topic(Topic.EVENTS)
        self.checkpoints_topic = settings.topic(Topic.CHECKPOINTS)
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-sim-pool-{settings.mission}",
            security=settings.kafka_security,
        )
        self.stats = Stats()
        self.telemetry = Lane(
            name="telemetry",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=self.stats,
            maxsize=settings.sim_buffer_messages,
            linger_ms=20,
            compression_type=KAFKA_COMPRESSION,
        )
        self.command_lane = Lane(
            name="command",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=self.stats,
            maxsize=1_000,
            linger_ms=0,
            compression_type=None,
        )
        #: Checkpoints: a few hundred per sample (staggered), batched like the telemetry.
        self.checkpoint_lane = Lane(
            name="checkpoint",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=Stats(),
            maxsize=20_000,
            linger_ms=20,
            compression_type=KAFKA_COMPRESSION,
        )
        self.checkpoints_skipped = 0
        #: Recent executed command ids per Satellite (go into its checkpoints).
        self._ids: dict[bytes, deque[uuid.UUID]] = {}
        self.version: str | None = None
        self.groups: list[Group] = []
        #: Satellite key → (group, index in its engine).
        self.index: dict[bytes, tuple[Group, int]] = {}
        self.reloads = 0
        self.late = 0
        self.step_s = 0.0
        self._samplers: list[asyncio.Task[None]] = []
        self._specs: dict[str, Any] = {}
        self._stations: list[Any] = []
        self.consumer_ready = asyncio.Event()
        self.loaded = asyncio.Event()
        self._stopping = asyncio.Event()
        self.registry = CollectorRegistry()
        self.registry.register(_Metrics(self))
        self.health = HealthServer(
            readiness=self.readiness, registry=self.registry, port=settings.metrics_port
        )

    def stop(self) -> None:
        self._stopping.set()

    def readiness(self) -> Readiness:
        problems = [
            f"{lane.name} producer: Kafka {self.settings.kafka_bootstrap} not connected"
            for lane in (self.telemetry, self.command_lane)
            if not lane.connected
        ]
        if self.version is None:
            problems.append("shard not loaded yet")
        if not self.consumer_ready.is_set():
            problems.append(f"command consumer: not yet assigned {self.commands_topic}")
        return Readiness(
            ready=not problems,
            reason="; ".join(problems),
            detail={"shard": self.shard, "satellites": len(self.index)},
        )

    async def run(self) -> None:
        try:
            await self.health.start()
        except OSError as exc:
            log.error("cannot serve probes on port %d (%s)", self.settings.metrics_port, exc)
        try:
            await self._run()
        finally:
            await self.health.stop()

    async def _run(self) -> None:
        lanes = (self.telemetry, self.command_lane, self.checkpoint_lane)
        for lane in lanes:
            await lane.start()
        producers = [asyncio.create_task(lane.run(), name=f"pool-{lane.name}") for lane in lanes]
        work = [
            asyncio.create_task(self._reloader(), name="pool-reloader"),
            asyncio.create_task(self._commands(), name="pool-commands"),
        ]
        try:
            await self._stopping.wait()
        finally:
            for task in [*work, *self._samplers]:
                task.cancel()
            await asyncio.gather(*work, *self._samplers, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(lane.queue.join() for lane in lanes)), timeout=5.0
                )
            for task in producers:
                task.cancel()
            await asyncio.gather(*producers, return_exceptions=True)
            for lane in lanes:
                await lane.stop()
            log.info("stopped: %d samples, %d delivered", self.stats.samples, self.stats.produced)

    # ------------------------------------------------------------------ the shard
    async def _reloader(self) -> None:
        backoff = Backoff(initial_s=1.0, max_s=10.0)
        while True:
            try:
                version, config = await self.reader(self.version)
            except Exception as exc:  # the API server away or a bad ConfigMap: keep flying
                delay = backoff.next_delay()
                log.warning("cannot read the shard (%s); again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if config is not None:
                saved = await self.read_saved(config)
                self.load(config, version=version, saved=saved)
            await asyncio.sleep(self.settings.sim_pool_reload_s)

    async def read_saved(self, config: PoolConfig) -> dict[bytes, Saved]:
        """The latest checkpoint and telemetry seq of each of `config`'s Satellites new to the pod.

        Retries while Kafka is unreachable: starting afresh because the broker was away would
        reset the spacecraft, which is what checkpoints are for.
        """
        keys = [
            s.name.encode()
            for s in config.satellites
            if s.spec.simulator.enabled and s.name.encode() not in self.index
        ]
        if not keys:
            return {}
        backoff = Backoff(initial_s=0.5, max_s=5.0)
        while True:
            try:
                saved = await checkpoint.latest_records(
                    self.kafka,
                    self.checkpoints_topic,
                    keys,
                    window=RESUME_WINDOW,
                    max_windows=RESUME_MAX_WINDOWS,
                )
                last = await checkpoint.latest_records(
                    self.kafka,
                    self.telemetry_topic,
                    keys,
                    window=RESUME_WINDOW,
                    max_windows=RESUME_MAX_WINDOWS,
                )
                break
            except (KafkaError, OSError) as exc:
                delay = backoff.next_delay()
                log.warning("cannot read the latest checkpoints (%s); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
        found: dict[bytes, Saved] = {}
        for key in keys:
            message = None
            if key in saved:
                try:
                    message = checkpoint.decode(saved[key], satellite=key.decode())
                except checkpoint.CheckpointError as exc:
                    log.error("ignoring the latest checkpoint of %s (%s)", key.decode(), exc)
            found[key] = Saved(message, checkpoint.seq_of(last.get(key)))
        return found

    def load(
        self, config: PoolConfig, *, version: str, saved: dict[bytes, Saved] | None = None
    ) -> None:
        """Fly `config`'s Satellites from now on (the samplers restart with the new engines).

        A Satellite already flown here goes on from its state in memory; one in `saved` (from
        `read_saved`) from its checkpoint; a Satellite that leaves the pod gets a last checkpoint.
        """
        names = sorted(s.name for s in config.satellites)
        current = sorted(key.decode() for key in self.index)
        if self.version is not None and names == current and config.shard == self.shard:
            same = self._specs == {s.name: s.spec for s in config.satellites}
            if same and self._stations == config.ground_stations:
                self.version = version
                return
        for task in self._samplers:
            task.cancel()
        started = time.perf_counter()
        now_wall_ns = time.time_ns()
        wanted = {s.name.encode() for s in config.satellites if s.spec.simulator.enabled}
        # The state of every Satellite flown so far: carried over, or a last checkpoint.
        carried: dict[bytes, Saved] = {}
        for key, (group, i) in self.index.items():
            seq = self._last_seq(group, i)
            if key in wanted:
                state = checkpoint.snapshot(group.engine, i, sample=seq)
                ids = [str(c) for c in self._ids.get(key, ())]
                message = {"wall_ns": now_wall_ns, "state": state, "executed_ids": ids}
                carried[key] = Saved(message, seq)
            else:
                self._checkpoint_soon(group, i, sample=seq)
                self._ids.pop(key, None)
        resumed = {**(saved or {}), **carried}
        self.groups = build_groups(config, now_ns=now_wall_ns)
        for group in self.groups:
            self._resume(group, resumed, now_wall_ns=now_wall_ns)
        self._specs = {s.name: s.spec for s in config.satellites}
        self._stations = config.ground_stations
        self.shard = config.shard
        self.index = {key: (group, i) for group in self.groups for i, key in enumerate(group.keys)}
        self._samplers = [
            asyncio.create_task(self._sampler(group), name=f"pool-sampler-{n}")
            for n, group in enumerate(self.groups)
        ]
        if self.version is not None:
            self.reloads += 1
        self.version = version
        self.loaded.set()
        log.info(
            "shard %d loaded: %d satellites in %d engine(s) in %.2f s",
            config.shard,
            len(self.index),
            len(self.groups),
            time.perf_counter() - started,
        )

    def _resume(self, group: Group, resumed: dict[bytes, Saved], *, now_wall_ns: int) -> None:
        """Restore `group`'s members found in `resumed` and continue their sequence numbers."""
        found: dict[int, tuple[dict[str, Any], int]] = {}
        for i, key in enumerate(group.keys):
            saved = resumed.get(key)
            if saved is None:
                continue
            last_seq = -1 if saved.last_seq is None else saved.last_seq
            if saved.message is not None:
                state = saved.message["state"]
                found[i] = (state, int(saved.message["wall_ns"]))
                sample = state.get("sample")
                if isinstance(sample, int):
                    last_seq = max(last_seq, sample)
                ids = self._ids.setdefault(key, deque(maxlen=POOL_REMEMBERED_IDS))
                for command_id in saved.message.get("executed_ids") or ():
                    with contextlib.suppress(ValueError, TypeError):
                        ids.append(uuid.UUID(command_id))
                        self.stats.executed_ids[ids[-1]] = None
            # The next telemetry message goes on after the last one published (or checkpointed).
            group.seq_base[i] = last_seq + 1 - group.engine.sample
        failed = resume_group(group, found, now_wall_ns=now_wall_ns)
        if found:
            log.info(
                "resumed %d of %d satellite(s) from their checkpoints (%d failed)",
                len(found) - len(failed),
                len(group.keys),
                len(failed),
            )

    @staticmethod
    def _last_seq(group: Group, index: int) -> int:
        """The seq of member `index`'s last telemetry message (-1: none): what a checkpoint
        carries, so that a restore continues after it."""
        if group.published_sample is None:
            return group.seq_base[index] - 1 + group.engine.sample
        return group.seq(index, group.published_sample)

    def _checkpoint_message(self, group: Group, index: int, *, sample: int) -> Outbound:
        key = group.keys[index]
        payload = checkpoint.encode(
            group.engine,
            index,
            wall_ns=time.time_ns(),
            executed_ids=self._ids.get(key, ()),
            sample=sample,
        )
        return Outbound(self.checkpoints_topic, key, payload)

    def _checkpoint_soon(self, group: Group, index: int, *, sample: int) -> None:
        """Queue a checkpoint without waiting; skipped when the lane is full (outage)."""
        if self.checkpoint_lane.queue.full():
            self.checkpoints_skipped += 1
            return
        self.checkpoint_lane.queue.put_nowait(self._checkpoint_message(group, index, sample=sample))

    async def _sampler(self, group: Group) -> None:
        """Sample k is due at wall start + k·interval; late samples catch up (no gaps).

        Each sample also checkpoints 1/P of the group (P = checkpoint period in samples), so
        every Satellite is checkpointed once a period without a burst.
        """
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        k = 0
        topic = self.telemetry_topic
        lane = self.telemetry
        engine = group.engine
        period = max(1, math.ceil(self.settings.sim_pool_checkpoint_s / group.interval_s))
        while True:
            started = loop.time()
            messages = engine.telemetry()
            sample = engine.sample
            for i, (key, message) in enumerate(zip(group.keys, messages, strict=True)):
                message["seq"] = sample + group.seq_base[i]
                await lane.enqueue(Outbound(topic, key, encode(message)))
            group.published_sample = sample
            self.stats.samples += len(messages)
            for i in range(k % period, len(group.keys), period):
                self._checkpoint_soon(group, i, sample=group.seq(i, sample))
            k += 1
            group.engine.advance(group.step_s)
            self.step_s = loop.time() - started
            delay = wall0 + k * group.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.late += 1
                await asyncio.sleep(0)

    # ------------------------------------------------------------------ commands
    async def _commands(self) -> None:
        # The consumer group is the shard's: wait until the shard is known.
        await self.loaded.wait()
        backoff = Backoff(initial_s=1.0, max_s=5.0)
        while True:
            consumer = self.kafka.consumer(
                self.commands_topic,
                name="commands",
                group_id=self.settings.consumer_group(f"sim-pool-{self.shard}"),
                auto_offset_reset="latest",
                fetch_max_wait_ms=self.settings.sim_command_fetch_wait_ms,
            )
            try:
                await consumer.start()
                backoff.reset()
                await self._consume(consumer)
            except KafkaError as exc:
                self.consumer_ready.clear()
                delay = backoff.next_delay()
                log.warning("command consumer error (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                await close_quietly(consumer)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if consumer.assignment():
                self.consumer_ready.set()
            waits: list[asyncio.Future[None]] = []
            for records in batches.values():
                for record in records:
                    if record.key in self.index:
                        waits.extend(await self._handle_command(record.key, record.value))
            if waits:
                await asyncio.gather(*waits)
            if batches:
                await consumer.commit()

    async def _handle_command(self, key: bytes, payload: bytes) -> list[asyncio.Future[None]]:
        self.stats.commands += 1
        try:
            command = Command.model_validate_json(payload)
        except (ValidationError, CommandError) as exc:
            log.warning("invalid command for %s ignored by the pool: %s", key.decode(), exc)
            return []
        if command.id in self.stats.executed_ids:
            return []
        self.stats.executed_ids[command.id] = None
        while len(self.stats.executed_ids) > 10_000:
            self.stats.executed_ids.popitem(last=False)
        self._ids.setdefault(key, deque(maxlen=POOL_REMEMBERED_IDS)).append(command.id)
        group, index = self.index[key]
        acks = execute(group.engine, index, command, now_ns=time.time_ns())
        loop = asyncio.get_running_loop()
        # The new state is durable before the spacecraft says so: the checkpoint goes first.
        saved: asyncio.Future[None] = loop.create_future()
        written = self._checkpoint_message(group, index, sample=self._last_seq(group, index))
        written.delivered = saved
        await self.checkpoint_lane.enqueue(written)
        try:
            # Bounded: a mission whose checkpoints topic is not there yet still gets its acks.
            await asyncio.wait_for(
                asyncio.shield(saved), timeout=self.settings.sim_request_timeout_ms / 1000
            )
        except TimeoutError:
            log.warning("command %s: checkpoint not delivered yet; acking anyway", command.id)
        waits: list[asyncio.Future[None]] = []
        for ack in acks:
            done: asyncio.Future[None] = loop.create_future()
            value = ack.model_dump_json().encode()
            await self.command_lane.enqueue(Outbound(self.acks_topic, key, value, delivered=done))
            waits.append(done)
        seed_key = int(group.engine.seed_keys[index])
        for item in take_downlinked(group.engine, index):
            product = render_product(key.decode(), item, seed_key=seed_key)
            done = loop.create_future()
            await self.command_lane.enqueue(
                Outbound(self.events_topic, key, product.event(), delivered=done)
            )
            waits.append(done)
        return waits


def main(settings: PoolSettings, reader: ConfigReader) -> None:
    """Run until SIGTERM/SIGINT, then flush and exit."""
    configure_logging(settings.log_level)
    run_service(lambda: PoolRuntime(settings, reader))


__all__ = ["PoolRuntime", "PoolSettings", "build_groups", "configmap_reader", "file_reader", "main"]
