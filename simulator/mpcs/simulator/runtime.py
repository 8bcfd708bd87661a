"""`mpcs sim run`: one satellite's simulator process, wired to the mission's Kafka topics.

Started by the operator's per-Satellite Deployment (and by the local runner in development). With
`mpcs.simulator.outbound` it is the only simulator code that does I/O:

- a sampler advances the model every `telemetryIntervalSeconds` of wall time by
  `telemetryIntervalSeconds × timeScale` of simulated time and queues the telemetry message;
- two outbound lanes (`mpcs.simulator.outbound`): the *telemetry* lane batches (zstd, 20 ms
  linger), the *command* lane (acks and DLQ records) sends at once (no linger, no compression).
  When the telemetry buffer is full during a broker outage the sampler waits (backpressure) and
  later catches up on the simulated-time grid, so no sample is ever dropped;
- a command loop consumes the `commands` topic in a consumer group of its own, executes the
  commands keyed with this satellite's name, sends the acks and commits the offset once the acks
  are delivered (at-least-once; a redelivered command id is recognised and not executed twice).
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
        self.spec = spec = config.spec
        self.telemetry_topic = settings.topic(Topic.TELEMETRY)
        self.commands_topic = settings.topic(Topic.COMMANDS)
        self.acks_topic = settings.topic(Topic.ACKS)
        self.dlq_topic = settings.topic(Topic.DLQ)
        self.events_topic = settings.topic(Topic.EVENTS)
        self.key = settings.satellite.encode()
        self.kafka = KafkaClients(
            settings.kafka_bootstrap, client_id=f"mpcs-sim-{settings.satellite}"
        )
        wall_ns = time.time_ns()
        if start_ns is None:
            configured = spec.simulator.start_time
            start_ns = ns_from_datetime(configured) if configured is not None else wall_ns
        self.craft = Spacecraft.from_config(config, start=start_ns)
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
        # Expiry is ground time (the issuer's wall clock), not the possibly scaled spacecraft clock.
        acks = execute(self.craft.engine, 0, command, now_ns=time.time_ns())
        for ack in acks:
            log.info("command %s %s: %s %s", command.id, command.name, ack.state, ack.reason or "")
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
