"""`mpcs sim run`: one satellite's simulator process, wired to the mission's Kafka topics.

Started by the operator's per-Satellite Deployment (and by the local runner in development). It is
the only simulator module that does I/O:

- a sampler advances the model every `telemetryIntervalSeconds` of wall time by
  `telemetryIntervalSeconds × timeScale` of simulated time and queues the telemetry message;
- two outbound lanes, each an ordered queue delivered by its own idempotent producer (acks=all):
  the *telemetry* lane batches (zstd, 20 ms linger), the *command* lane (acks and DLQ records)
  sends at once (no linger, no compression), so an ack never waits behind a telemetry batch or a
  linger. While the broker is unreachable each lane keeps its messages in a bounded buffer (one
  log line when the outage starts, one when it ends). When the telemetry buffer is full the
  sampler waits (backpressure) and later catches up on the simulated-time grid, so no sample is
  ever dropped;
- a command loop consumes the `commands` topic in a consumer group of its own, executes the
  commands keyed with this satellite's name, sends the acks and commits the offset once the acks
  are delivered (at-least-once; a redelivered command id is recognised and not executed twice).
  A payload that is not a valid Command goes to the `dlq` topic with the reason (and, when its id
  can be read, also gets a `rejected` ack). Its consumer asks the broker to answer a fetch as soon
  as a command arrives and to hold an empty one at most `MPCS_SIM_COMMAND_FETCH_WAIT_MS`.

The model is pure CPU work of about a millisecond per sample, so it runs on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpcs.core.commands import Ack, AckState, Command, CommandError
from mpcs.core.names import Topic, consumer_group, topic
from mpcs.core.telemetry import KAFKA_COMPRESSION, encode
from mpcs.orbit.timeutil import NS_PER_S, datetime_from_ns, ns_from_datetime

from .commanding import execute
from .spacecraft import Spacecraft
from .spec import SatelliteSpec

log = logging.getLogger("mpcs.simulator")

#: Seconds without a delivery acknowledgement after which the broker counts as unreachable.
STALL_S = 3.0


class RuntimeSettings(BaseSettings):
    """Process settings, from `MPCS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MPCS_", extra="ignore")

    kafka_bootstrap: str = Field(description="Kafka bootstrap servers, host:port[,host:port].")
    namespace: str = Field(description="Kubernetes namespace of the mission (topic names).")
    mission: str = Field(description="Mission name (topic names).")
    satellite: str = Field(description="Satellite name: Kafka key and telemetry `satellite`.")
    satellite_spec: str | None = Field(
        default=None, description="The Satellite spec as JSON (used when --spec is not given)."
    )
    sim_buffer_messages: int = Field(
        default=20_000, ge=10, description="Outbound messages held while Kafka is unreachable."
    )
    sim_request_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="Producer request timeout before a retry."
    )
    sim_command_fetch_wait_ms: int = Field(
        default=100,
        ge=0,
        le=5_000,
        description="Longest time the broker holds an empty command fetch (a command that "
        "arrives meanwhile is answered at once; this only bounds how often an idle consumer "
        "polls).",
    )


def load_spec(path: Path | None) -> SatelliteSpec:
    """The Satellite spec from a YAML/JSON file, else from $MPCS_SATELLITE_SPEC (JSON)."""
    if path is not None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read spec file {path}: {exc}") from None
    else:
        raw = os.environ.get("MPCS_SATELLITE_SPEC")
        if not raw:
            raise ValueError("no Satellite spec: pass --spec FILE or set MPCS_SATELLITE_SPEC")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"MPCS_SATELLITE_SPEC is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the Satellite spec must be a mapping")
    try:
        return SatelliteSpec.from_dict(data)
    except ValidationError as exc:
        raise ValueError(f"invalid Satellite spec: {exc}") from None


@dataclass
class Outbound:
    """A message waiting for delivery; `delivered` resolves once the broker has it."""

    topic: str
    key: bytes
    value: bytes
    delivered: asyncio.Future[None] | None = None


@dataclass
class Stats:
    """Counters the tests and the log lines read."""

    produced: int = 0
    samples: int = 0
    commands: int = 0
    dlq: int = 0
    outages: int = 0
    max_buffered: int = 0
    executed_ids: collections.OrderedDict[uuid.UUID, None] = field(
        default_factory=collections.OrderedDict
    )


class _Lane:
    """An ordered outbound stream through a producer of its own.

    `enqueue` waits while the buffer is full (backpressure); `run` delivers in order and, on a
    failure or a stall, keeps the messages, replaces the producer, backs off and retries.
    """

    def __init__(
        self,
        *,
        name: str,
        settings: RuntimeSettings,
        stats: Stats,
        maxsize: int,
        linger_ms: int,
        compression_type: str | None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.stats = stats
        self.queue: asyncio.Queue[Outbound] = asyncio.Queue(maxsize=maxsize)
        self.producer: AIOKafkaProducer | None = None
        self._linger_ms = linger_ms
        self._compression_type = compression_type
        self._outage_since: float | None = None
        self._produced_at_outage = 0

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            client_id=f"mpcs-sim-{self.settings.satellite}-{self.name}",
            enable_idempotence=True,
            acks="all",
            compression_type=self._compression_type,
            linger_ms=self._linger_ms,
            request_timeout_ms=self.settings.sim_request_timeout_ms,
            retry_backoff_ms=250,
        )

    async def start(self) -> None:
        """Start the producer, retrying while the broker is unreachable."""
        delay = 0.5
        while True:
            self.producer = self._new_producer()
            try:
                await self.producer.start()
                return
            except KafkaError as exc:
                log.warning(
                    "Kafka %s unreachable (%s); retrying", self.settings.kafka_bootstrap, exc
                )
                with contextlib.suppress(Exception):
                    await self.producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def enqueue(self, item: Outbound) -> None:
        if self.queue.full():
            log.warning(
                "%s buffer full (%d messages): waiting until Kafka accepts messages again "
                "(nothing is dropped)",
                self.name,
                self.queue.maxsize,
            )
        await self.queue.put(item)
        self.stats.max_buffered = max(self.stats.max_buffered, self.queue.qsize())

    async def run(self) -> None:
        """Deliver in order; on failure keep the messages, back off and retry."""
        pending: collections.deque[Outbound] = collections.deque()
        delay = 0.25
        while True:
            if not pending:
                pending.append(await self.queue.get())
            while not self.queue.empty() and len(pending) < 500:
                pending.append(self.queue.get_nowait())
            try:
                await self._deliver(pending)
            except (KafkaError, OSError) as exc:
                self._outage(type(exc).__name__, len(pending))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._outage_since is not None:
                log.warning(
                    "Kafka reachable again after %.1f s: %d buffered %s messages delivered, "
                    "at most %d were waiting",
                    time.monotonic() - self._outage_since,
                    self.stats.produced - self._produced_at_outage,
                    self.name,
                    self.stats.max_buffered,
                )
                self._outage_since = None
            delay = 0.25

    def _outage(self, why: str, in_flight: int) -> None:
        """Log once when deliveries start failing or stalling."""
        if self._outage_since is not None:
            return
        self._outage_since = time.monotonic()
        self._produced_at_outage = self.stats.produced
        self.stats.outages += 1
        log.warning(
            "Kafka unreachable (%s): buffering %s messages, nothing is dropped "
            "(%d waiting, buffer capacity %d)",
            why,
            self.name,
            in_flight + self.queue.qsize(),
            self.queue.maxsize,
        )

    async def _deliver(self, pending: collections.deque[Outbound]) -> None:
        """Send everything pending; drop from `pending` only what the broker acknowledged.

        On a failure the messages after it may have been delivered too; they are sent again with
        the rest (a duplicate carries the same satellite and time, so storage keeps one point).
        """
        assert self.producer is not None
        futures = []
        error: BaseException | None = None
        for item in pending:
            try:
                futures.append(await self.producer.send(item.topic, value=item.value, key=item.key))
            except (KafkaError, OSError) as exc:
                error = exc
                break
        gathered = asyncio.gather(*futures, return_exceptions=True)
        # The producer retries by itself while the broker is away; a stall this long is an outage.
        while not (await asyncio.wait({gathered}, timeout=STALL_S))[0]:
            self._outage(f"no delivery acknowledged for {STALL_S:.0f} s", len(pending))
        for result in gathered.result():
            if isinstance(result, BaseException):
                error = error or result
                break
            item = pending.popleft()
            self.queue.task_done()
            self.stats.produced += 1
            if item.delivered is not None and not item.delivered.done():
                item.delivered.set_result(None)
        if error is not None:
            await self._replace_producer()
            raise error if isinstance(error, KafkaError | OSError) else KafkaError(str(error))

    async def _replace_producer(self) -> None:
        """A fresh producer after a failed delivery: no stale batches or sequence state survive."""
        old = self.producer
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), timeout=2.0)
        await self.start()


class SimulatorRuntime:
    """The simulator process: model + Kafka I/O. `await run()` until `stop()`."""

    def __init__(
        self,
        settings: RuntimeSettings,
        spec: SatelliteSpec,
        *,
        start_ns: int | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        ns, mission = settings.namespace, settings.mission
        self.telemetry_topic = topic(ns, mission, Topic.TELEMETRY)
        self.commands_topic = topic(ns, mission, Topic.COMMANDS)
        self.acks_topic = topic(ns, mission, Topic.ACKS)
        self.dlq_topic = topic(ns, mission, Topic.DLQ)
        self.key = settings.satellite.encode()
        wall_ns = time.time_ns()
        if start_ns is None:
            configured = spec.simulator.start_time
            start_ns = ns_from_datetime(configured) if configured is not None else wall_ns
        self.craft = Spacecraft(settings.satellite, spec, start=start_ns)
        self.interval_s = spec.telemetry_interval_seconds
        self.sim_step_s = self.interval_s * spec.simulator.time_scale
        self.stats = Stats()
        #: Telemetry: batched for throughput (a sample every interval; latency hardly matters).
        self.telemetry = _Lane(
            name="telemetry",
            settings=settings,
            stats=self.stats,
            maxsize=settings.sim_buffer_messages,
            linger_ms=20,
            compression_type=KAFKA_COMPRESSION,
        )
        #: Acks and DLQ records: latency-bound, a few hundred bytes each, sent at once.
        self.command_lane = _Lane(
            name="command",
            settings=settings,
            stats=self.stats,
            maxsize=1_000,
            linger_ms=0,
            compression_type=None,
        )
        self.buffer = self.telemetry.queue
        self.consumer_ready = asyncio.Event()
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the runtime to flush what it can and exit."""
        self._stopping.set()

    async def run(self) -> None:
        """Run the sampler, the two senders and the command loop until stop()."""
        log.info(
            "simulating %s: telemetry every %.3g s (x%.3g time scale) to %s",
            self.settings.satellite,
            self.interval_s,
            self.spec.simulator.time_scale,
            self.telemetry_topic,
        )
        lanes = (self.telemetry, self.command_lane)
        for lane in lanes:
            await lane.start()
        producers = [asyncio.create_task(lane.run(), name=f"sim-{lane.name}") for lane in lanes]
        work = [
            asyncio.create_task(self._sampler(), name="sim-sampler"),
            asyncio.create_task(self._commands(), name="sim-commands"),
        ]
        try:
            await self._stopping.wait()
        finally:
            for task in work:
                task.cancel()
            await asyncio.gather(*work, return_exceptions=True)
            # Give the senders a moment to flush what is buffered.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(lane.queue.join() for lane in lanes)), timeout=5.0
                )
            for task in producers:
                task.cancel()
            await asyncio.gather(*producers, return_exceptions=True)
            for lane in lanes:
                await lane.stop()
            log.info(
                "stopped: %d samples, %d messages delivered, %d left in buffers",
                self.stats.samples,
                self.stats.produced,
                sum(lane.queue.qsize() for lane in lanes),
            )

    # ------------------------------------------------------------------ telemetry
    async def _sampler(self) -> None:
        """Sample k is due at wall start + k·interval; late samples (backpressure) catch up."""
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        k = 0
        while True:
            message = self.craft.telemetry()
            await self.telemetry.enqueue(Outbound(self.telemetry_topic, self.key, encode(message)))
            self.stats.samples += 1
            k += 1
            delay = wall0 + k * self.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.craft.advance(self.sim_step_s)

    # ------------------------------------------------------------------ commands
    async def _commands(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                self.commands_topic,
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=consumer_group(
                    self.settings.namespace, self.settings.mission, f"sim-{self.settings.satellite}"
                ),
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self.settings.sim_command_fetch_wait_ms,
            )
            try:
                await consumer.start()
                await self._consume(consumer)
            except KafkaError as exc:
                log.warning("command consumer error (%s); reconnecting", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if consumer.assignment():
                self.consumer_ready.set()
            waits: list[asyncio.Future[None]] = []
            for records in batches.values():
                for record in records:
                    if record.key != self.key:
                        continue
                    waits.extend(await self._handle_command(record.value, record.offset))
            if waits:
                await asyncio.gather(*waits)
            if batches:
                await consumer.commit()

    async def _handle_command(self, payload: bytes, offset: int) -> list[asyncio.Future[None]]:
        """Execute one command payload; return futures that resolve when its acks are delivered."""
        self.stats.commands += 1
        try:
            command = Command.model_validate_json(payload)
        except (ValidationError, CommandError) as exc:
            return await self._invalid(payload, offset, exc)
        if command.id in self.stats.executed_ids:
            log.info("command %s already executed; ignoring the redelivery", command.id)
            return []
        self.stats.executed_ids[command.id] = None
        while len(self.stats.executed_ids) > 10_000:
            self.stats.executed_ids.popitem(last=False)
        # Expiry is ground time (the issuer's wall clock), not the possibly scaled spacecraft clock.
        acks = execute(self.craft.engine, 0, command, now_ns=time.time_ns())
        for ack in acks:
            log.info("command %s %s: %s %s", command.id, command.name, ack.state, ack.reason or "")
        return [await self._send_ack(ack) for ack in acks]

    async def _send_ack(self, ack: Ack) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.command_lane.enqueue(
            Outbound(self.acks_topic, self.key, ack.model_dump_json().encode(), delivered=done)
        )
        return done

    async def _invalid(
        self, payload: bytes, offset: int, exc: Exception
    ) -> list[asyncio.Future[None]]:
        reason = _reason(exc)
        log.warning("invalid command at offset %d: %s", offset, reason)
        self.stats.dlq += 1
        dlq = orjson.dumps(
            {
                "topic": self.commands_topic,
                "offset": offset,
                "key": self.settings.satellite,
                "reason": reason,
                "value": payload.decode("utf-8", errors="replace"),
                "time": datetime_from_ns(time.time_ns()).isoformat().replace("+00:00", "Z"),
            }
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.command_lane.enqueue(Outbound(self.dlq_topic, self.key, dlq, delivered=done))
        futures = [done]
        ids = _readable_id(payload)
        if ids is not None:
            command_id, name = ids
            ack = Ack(
                command_id=command_id,
                satellite=self.settings.satellite,
                name=name,
                state=AckState.REJECTED,
                reason=reason,
                time=datetime_from_ns(self.craft.time_ns),
            )
            futures.append(await self._send_ack(ack))
        return futures


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"]) or "command"
            message = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{loc}: {message}")
        return "; ".join(parts)
    return str(exc)


def _readable_id(payload: bytes) -> tuple[uuid.UUID, str] | None:
    """The id and name of a payload that is JSON but not a valid Command, if they can be read."""
    try:
        data: Any = orjson.loads(payload)
        return uuid.UUID(str(data["id"])), str(data.get("name", ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def main(settings: RuntimeSettings, spec: SatelliteSpec) -> None:
    """Run until SIGTERM/SIGINT (what Kubernetes sends), then flush and exit."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not spec.simulator.enabled:
        log.info("simulator disabled in the Satellite spec; idling")

    async def _main() -> None:
        if not spec.simulator.enabled:
            await asyncio.Event().wait()
        runtime = SimulatorRuntime(settings, spec)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.stop)
        # The model and the imported modules live as long as the process: keep them out of the
        # cyclic GC's full collections (tens of ms on the event loop, an ack's p99 latency).
        gc.freeze()
        await runtime.run()

    asyncio.run(_main())


__all__ = ["NS_PER_S", "RuntimeSettings", "SimulatorRuntime", "load_spec", "main"]
