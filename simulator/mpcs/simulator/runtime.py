"""`mpcs sim run`: one satellite's simulator process, wired to the mission's Kafka topics.

Started by the operator's per-Satellite Deployment (and by the local runner in development). With
`mpcs.simulator.outbound` it is the only simulator code that does I/O:

- on start it resumes its spacecraft from the latest checkpoint on the `checkpoints` topic (and
  continues the sequence numbers after the last telemetry message published), flown forward over
  the time the process was down (`mpcs.simulator.checkpoint`); without one it starts from the
  spec's initial state;
- a sampler advances the model every `telemetryIntervalSeconds` of wall time by
  `telemetryIntervalSeconds × timeScale` of simulated time, queues the telemetry message and a
  checkpoint (on a lane of its own; a checkpoint that finds that lane full is skipped, the next
  one supersedes it);
- two outbound lanes (`mpcs.simulator.outbound`): the *telemetry* lane batches (zstd, 20 ms
  linger), the *command* lane (acks and DLQ records) sends at once (no linger, no compression).
  When the telemetry buffer is full during a broker outage the sampler waits (backpressure) and
  later catches up on the simulated-time grid, so no sample is ever dropped;
- a command loop consumes the `commands` topic in a consumer group of its own, executes the
  commands keyed with this satellite's name at the simulated time they arrive (the model is
  brought up to that moment first, never past the next sample), writes a checkpoint and waits
  for its delivery, sends the acks and commits the offset once the acks are delivered
  (at-least-once; a redelivered command id is recognised and not executed twice, across a
  restart too: the checkpoint remembers the recent ids).
  A payload that is not a valid Command goes to the `dlq` topic with the reason (and, when its id
  can be read, also gets a `rejected` ack). The images a START_DOWNLINK brings down are published
  on the `events` topic, one `product` event each (`mpcs.core.products`), before the commit. Its
  consumer asks the broker to answer a fetch as soon as a command arrives and to hold an empty one
  at most `MPCS_SIM_COMMAND_FETCH_WAIT_MS`;
- the kit's health server answers the Deployment's probes and Prometheus on `MPCS_METRICS_PORT`
  (the port named "metrics"): `/healthz`, `/readyz` (ready once both producers deliver and the
  command consumer is assigned its partitions) and `/metrics` (`mpcs_sim_*`).

The model is pure CPU work of about a millisecond per sample, so it runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import Field, ValidationError

from mpcs.core.commands import Ack, AckState, Command, CommandError
from mpcs.core.names import Topic
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.core.telemetry import KAFKA_COMPRESSION, encode
from mpcs.kit.backoff import Backoff
from mpcs.kit.health import HealthServer, Readiness
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.logs import configure_logging
from mpcs.kit.service import run_service
from mpcs.kit.settings import MissionSettings
from mpcs.orbit.timeutil import NS_PER_S, datetime_from_ns, format_time_ns, ns_from_datetime

from . import checkpoint
from .commanding import execute
from .outbound import Lane, Outbound, Stats
from .spacecraft import Spacecraft

log = logging.getLogger("mpcs.simulator")


class RuntimeSettings(MissionSettings):
    """Process settings, from `MPCS_*` environment variables (the kit's shared ones and these)."""

    satellite: str = Field(description="Satellite name: Kafka key and telemetry `satellite`.")
    satellite_spec: str | None = Field(
        default=None, description="The SimulatorConfig as JSON (used when --spec is not given)."
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


def load_spec(path: Path | None, inline: str | None = None) -> SimulatorConfig:
    """What to fly, from a YAML/JSON file, else from `inline` JSON (`settings.satellite_spec`,
    i.e. $MPCS_SATELLITE_SPEC, which the operator fills from the simulator's ConfigMap).

    Either a SimulatorConfig (what the operator writes) or a Satellite manifest (flown without
    ground stations).
    """
    if path is not None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read spec file {path}: {exc}") from None
    else:
        if not inline:
            raise ValueError("no simulator spec: pass --spec FILE or set MPCS_SATELLITE_SPEC")
        try:
            data = orjson.loads(inline)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"MPCS_SATELLITE_SPEC is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the simulator spec must be a mapping")
    try:
        return SimulatorConfig.from_manifest(data)
    except ValidationError as exc:
        raise ValueError(f"invalid simulator spec: {exc}") from None


class _Metrics(Collector):
    """The runtime's counters as Prometheus metrics, read at scrape time (nothing per sample)."""

    def __init__(self, runtime: SimulatorRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> list[Metric]:
        runtime = self._runtime
        stats = runtime.stats
        counters = [
            ("mpcs_sim_samples", "Telemetry samples taken.", stats.samples),
            ("mpcs_sim_messages_delivered", "Messages the broker acknowledged.", stats.produced),
            ("mpcs_sim_commands", "Command records read for this satellite.", stats.commands),
            ("mpcs_sim_dlq", "Invalid commands sent to the dlq topic.", stats.dlq),
            ("mpcs_sim_kafka_outages", "Times deliveries started failing.", stats.outages),
        ]
        metrics: list[Metric] = [CounterMetricFamily(n, h, value=v) for n, h, v in counters]
        buffered = GaugeMetricFamily(
            "mpcs_sim_buffered_messages", "Messages waiting for delivery, by lane.", labels=["lane"]
        )
        for lane in (runtime.telemetry, runtime.command_lane):
            buffered.add_metric([lane.name], lane.queue.qsize())
        metrics.append(buffered)
        ready = runtime.readiness().ready
        metrics.append(GaugeMetricFamily("mpcs_sim_ready", "1 when /readyz answers 200.", ready))
        return metrics


class SimulatorRuntime:
    """The simulator process: model + Kafka I/O. `await run()` until `stop()`."""

    def __init__(
        self,
        settings: RuntimeSettings,
        config: SimulatorConfig,
        *,
        start_ns: int | None = None,
    ) -> None:
        if config.satellite != settings.satellite:
            raise ValueError(
                f"the simulator spec is for satellite {config.satellite!r}, "
                f"but MPCS_SATELLITE is {settings.satellite!r}"
            )
        self.settings = settings
        self.config = config
        self.spec = spec = config.spec
        self.telemetry_topic = settings.topic(Topic.TELEMETRY)
        self.commands_topic = settings.topic(Topic.COMMANDS)
        self.acks_topic = settings.topic(Topic.ACKS)
        self.dlq_topic = settings.topic(Topic.DLQ)
        self.events_topic = settings.topic(Topic.EVENTS)
        self.checkpoints_topic = settings.topic(Topic.CHECKPOINTS)
        self.key = settings.satellite.encode()
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-sim-{settings.satellite}",
            security=settings.kafka_security,
        )
        wall_ns = time.time_ns()
        #: The simulated clock starts at `start_ns`, the spec's startTime, or the moment the
        #: sampler starts (wall time, so that spacecraft time and ground time agree).
        self._start_pinned = start_ns is not None or spec.simulator.start_time is not None
        if start_ns is None:
            configured = spec.simulator.start_time
            start_ns = ns_from_datetime(configured) if configured is not None else wall_ns
        self.craft = Spacecraft.from_config(config, start=start_ns)
        #: Set by `resume()`: what the process resumed from (None: the spec's initial state).
        self.resumed_from: dict[str, Any] | None = None
        # The sampler's grid: sample k is due at wall `_wall0 + k·interval` (loop clock) and is
        # taken at simulated `_sim0_ns + k·step`; commands run in between at the simulated time
        # that corresponds to their arrival, never past `_next_sample_ns`.
        self._wall0: float | None = None
        self._sim0_ns = self.craft.time_ns
        self._next_sample_ns = self.craft.time_ns
        self.interval_s = spec.telemetry_interval_seconds
        self.sim_step_s = self.interval_s * spec.simulator.time_scale
        self.stats = Stats()
        #: Telemetry: batched for throughput (a sample every interval; latency hardly matters).
        self.telemetry = Lane(
            name="telemetry",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=self.stats,
            maxsize=settings.sim_buffer_messages,
            linger_ms=20,
            compression_type=KAFKA_COMPRESSION,
        )
        #: Acks and DLQ records: latency-bound, a few hundred bytes each, sent at once.
        self.command_lane = Lane(
            name="command",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=self.stats,
            maxsize=1_000,
            linger_ms=0,
            compression_type=None,
        )
        #: Checkpoints: one per sample and one per command, in order on a producer of their own.
        self.checkpoint_lane = Lane(
            name="checkpoint",
            kafka=self.kafka,
            request_timeout_ms=settings.sim_request_timeout_ms,
            stats=Stats(),
            maxsize=64,
            linger_ms=0,
            compression_type=KAFKA_COMPRESSION,
        )
        self.checkpoints_skipped = 0
        self.buffer = self.telemetry.queue
        self.consumer_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self.registry = CollectorRegistry()
        self.registry.register(_Metrics(self))
        #: The Deployment's probes and Prometheus scrape this, on the port named "metrics".
        self.health = HealthServer(
            readiness=self.readiness, registry=self.registry, port=settings.metrics_port
        )

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the runtime to flush what it can and exit."""
        self._stopping.set()

    def readiness(self) -> Readiness:
        """Ready once Kafka is connected: both producers deliver and the command consumer is in."""
        problems = [
            f"{lane.name} producer: Kafka {self.settings.kafka_bootstrap} not connected"
            for lane in (self.telemetry, self.command_lane)
            if not lane.connected
        ]
        if not self.consumer_ready.is_set():
            problems.append(f"command consumer: not yet assigned {self.commands_topic}")
        return Readiness(
            ready=not problems,
            reason="; ".join(problems),
            detail={"satellite": self.settings.satellite, "telemetry": self.telemetry_topic},
        )

    async def run(self) -> None:
        """Serve the probes, then run the sampler, the senders and the command loop until stop()."""
        try:
            await self.health.start()
        except OSError as exc:  # a port taken on a developer's machine must not stop the model
            log.error(
                "cannot serve /healthz, /readyz and /metrics on port %d (%s); running without",
                self.settings.metrics_port,
                exc,
            )
        try:
            await self._run()
        finally:
            await self.health.stop()

    async def _run(self) -> None:
        log.info(
            "simulating %s: telemetry every %.3g s (x%.3g time scale) to %s",
            self.settings.satellite,
            self.interval_s,
            self.spec.simulator.time_scale,
            self.telemetry_topic,
        )
        lanes = (self.telemetry, self.command_lane, self.checkpoint_lane)
        for lane in lanes:
            await lane.start()
        producers = [asyncio.create_task(lane.run(), name=f"sim-{lane.name}") for lane in lanes]
        resuming = asyncio.create_task(self.resume(), name="sim-resume")
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({resuming, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not resuming.done():
            resuming.cancel()
        await asyncio.gather(resuming, return_exceptions=True)
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

    # ------------------------------------------------------------------ resume
    async def resume(self) -> None:
        """Restore the spacecraft from its latest checkpoint, or start it fresh.

        Retries while Kafka is unreachable: starting fresh because the broker was away would
        reset the spacecraft, which is exactly what checkpoints are for.
        """
        backoff = Backoff(initial_s=0.5, max_s=5.0)
        while True:
            try:
                saved = await checkpoint.latest_record(self.kafka, self.checkpoints_topic, self.key)
                last = await checkpoint.latest_record(self.kafka, self.telemetry_topic, self.key)
                break
            except (KafkaError, OSError) as exc:
                delay = backoff.next_delay()
                log.warning(
                    "cannot read the latest checkpoint (%s); retrying in %.1f s", exc, delay
                )
                await asyncio.sleep(delay)
        last_seq = checkpoint.seq_of(last)
        wall_ns = time.time_ns()
        if saved is not None:
            try:
                self._restore(saved, wall_ns=wall_ns, last_seq=last_seq)
                return
            except checkpoint.CheckpointError as exc:
                log.error("cannot resume from the latest checkpoint (%s); starting afresh", exc)
                self.craft = Spacecraft.from_config(self.config, start=self.craft.engine.start_ns)
        if not self._start_pinned:
            self.craft = Spacecraft.from_config(self.config, start=wall_ns)
        if last_seq is not None:
            # No state to resume, but the sequence numbers go on from the last one published.
            self.craft.engine.sample = last_seq + 1
            log.warning(
                "no checkpoint of %s: starting from the spec's initial state, seq %d",
                self.settings.satellite,
                last_seq + 1,
            )
        self._sim0_ns = self._next_sample_ns = self.craft.time_ns

    def _restore(self, payload: bytes, *, wall_ns: int, last_seq: int | None) -> None:
        message = checkpoint.decode(payload, satellite=self.settings.satellite)
        state = message["state"]
        craft = Spacecraft.from_config(self.config, start=int(state["start_ns"]))
        checkpoint.restore(craft.engine, 0, state)
        saved_ns = craft.time_ns
        # The spacecraft flew on while its simulator was down.
        down_s = max(0.0, (wall_ns - int(message["wall_ns"])) / NS_PER_S)
        catch_up_s = max(down_s * self.spec.simulator.time_scale, 0.001)
        seq = max(craft.engine.sample, last_seq if last_seq is not None else -1)
        craft.engine.sample = seq  # the advance below takes sample seq + 1
        craft.engine.advance(catch_up_s)
        self.craft = craft
        for command_id in message.get("executed_ids") or ():
            self.stats.executed_ids[uuid.UUID(command_id)] = None
        self.resumed_from = {
            "time": message["time"],
            "seq": seq,
            "down_s": down_s,
            "boot_count": int(craft.engine.boot_count[0]),
        }
        log.info(
            "resumed %s from its checkpoint at %s (seq %d, down %.1f s): flown forward %.1f s "
            "to %s, mode %s, battery %.1f %%, boot count %d",
            self.settings.satellite,
            message["time"],
            seq,
            down_s,
            catch_up_s,
            format_time_ns(craft.time_ns),
            craft.mode,
            float(craft.engine.energy_wh[0] / craft.engine.capacity_wh[0] * 100.0),
            int(craft.engine.boot_count[0]),
        )
        log.debug("checkpoint time %s", format_time_ns(saved_ns))
        self._sim0_ns = self._next_sample_ns = craft.time_ns

    # ------------------------------------------------------------------ telemetry
    async def _sampler(self) -> None:
        """Sample k is due at wall start + k·interval; late samples (backpressure) catch up."""
        loop = asyncio.get_running_loop()
        self._wall0 = wall0 = loop.time()
        step_ns = round(self.sim_step_s * NS_PER_S)
        k = 0
        while True:
            message = self.craft.telemetry()
            await self.telemetry.enqueue(Outbound(self.telemetry_topic, self.key, encode(message)))
            self.stats.samples += 1
            self._checkpoint_soon()
            k += 1
            self._next_sample_ns = self._sim0_ns + k * step_ns
            delay = wall0 + k * self.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            dt_ns = self._next_sample_ns - self.craft.time_ns
            if dt_ns > 0:
                self.craft.advance(dt_ns / NS_PER_S)
            else:  # a command brought the model right up to this sample
                self.craft.engine.sample += 1

    def _now_for_command(self) -> None:
        """Bring the model up to the simulated time of this moment (not past the next sample)."""
        if self._wall0 is None:
            return
        elapsed_s = asyncio.get_running_loop().time() - self._wall0
        now_ns = self._sim0_ns + round(elapsed_s * self.spec.simulator.time_scale * NS_PER_S)
        target = min(now_ns, self._next_sample_ns)
        if target > self.craft.time_ns:
            self.craft.engine.advance((target - self.craft.time_ns) / NS_PER_S, sample=False)

    def _checkpoint_message(self) -> Outbound:
        payload = checkpoint.encode(
            self.craft.engine,
            0,
            wall_ns=time.time_ns(),
            executed_ids=self.stats.executed_ids.keys(),
        )
        return Outbound(self.checkpoints_topic, self.key, payload)

    def _checkpoint_soon(self) -> None:
        """Queue a checkpoint without waiting; skipped when the lane is full (outage)."""
        if self.checkpoint_lane.queue.full():
            self.checkpoints_skipped += 1
            return
        self.checkpoint_lane.queue.put_nowait(self._checkpoint_message())

    # ------------------------------------------------------------------ commands
    async def _commands(self) -> None:
        backoff = Backoff(initial_s=1.0, max_s=5.0)
        while True:
            consumer = self.kafka.consumer(
                self.commands_topic,
                name="commands",
                group_id=self.settings.consumer_group(f"sim-{self.settings.satellite}"),
                auto_offset_reset="earliest",
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
        # The command runs at the simulated time it arrives, not at the last sample's.
        self._now_for_command()
        # Expiry is ground time (the issuer's wall clock), not the possibly scaled spacecraft clock.
        acks = execute(self.craft.engine, 0, command, now_ns=time.time_ns())
        for ack in acks:
            log.info("command %s %s: %s %s", command.id, command.name, ack.state, ack.reason or "")
        # The new state is durable before the spacecraft says so: the checkpoint goes first.
        saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = self._checkpoint_message()
        item.delivered = saved
        await self.checkpoint_lane.enqueue(item)
        try:
            # Bounded: a mission whose checkpoints topic is not there yet still gets its acks.
            await asyncio.wait_for(
                asyncio.shield(saved), timeout=self.settings.sim_request_timeout_ms / 1000
            )
        except TimeoutError:
            log.warning("command %s: checkpoint not delivered yet; acking anyway", command.id)
        waits = [await self._send_ack(ack) for ack in acks]
        for product in self.craft.take_products():
            log.info("product %s downlinked via %s", product.product_id, product.station)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            await self.command_lane.enqueue(
                Outbound(self.events_topic, self.key, product.event(), delivered=done)
            )
            waits.append(done)
        return waits

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
                "time": format_time_ns(time.time_ns()),
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


def main(settings: RuntimeSettings, config: SimulatorConfig) -> None:
    """Run until SIGTERM/SIGINT (what Kubernetes sends), then flush and exit."""
    configure_logging(settings.log_level)
    if not config.spec.simulator.enabled:
        log.info("simulator disabled in the Satellite spec; idling")
        while True:
            signal.pause()  # until a signal ends the process
    run_service(lambda: SimulatorRuntime(settings, config))


__all__ = ["NS_PER_S", "RuntimeSettings", "SimulatorRuntime", "load_spec", "main"]
