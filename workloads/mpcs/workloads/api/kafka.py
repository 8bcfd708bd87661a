"""Kafka I/O of the command API: the command/event producer and the two feeds it consumes.

- `KafkaBus`: one idempotent producer (acks=all, no linger: a command is latency-bound) for
  commands (keyed by satellite, DESIGN §4) and audit events;
- `run_telemetry_feed`: the telemetry topic from its newest offsets, no consumer group (every
  replica needs every message), into the latest-value cache and the WebSocket fan-out;
- `run_command_feed`: the commands and acks topics, no consumer group, from a few minutes back
  (what happened while the service restarted), into the command store; each new ack state is
  audited.

Every client is built and started by the kit's `KafkaClients`; both feeds reconnect with its
backoff and never stop on a bad message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from mpcs.core.commands import Ack, Command
from mpcs.core.telemetry import TelemetryError, decode
from mpcs.kit.backoff import Backoff
from mpcs.kit.kafka import KafkaClients, close_quietly

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker did not take the message in time."""


class KafkaBus:
    """The API's producer; `start()` retries in the background until the broker answers."""

    def __init__(
        self, *, kafka: KafkaClients, commands_topic: str, events_topic: str, timeout_s: float
    ) -> None:
        self.kafka = kafka
        self.commands_topic = commands_topic
        self.events_topic = events_topic
        self.timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self.started = asyncio.Event()

    async def run_start(self) -> None:
        """Start the producer, retrying while the broker is unreachable."""
        self._producer = await self.kafka.start(
            lambda: self.kafka.producer(
                linger_ms=0,
                request_timeout_ms=int(self.timeout_s * 1000),
                retry_backoff_ms=100,
            ),
            what="command producer",
            backoff=Backoff(initial_s=0.5, max_s=5.0),
        )
        self.started.set()

    async def stop(self) -> None:
        if self._producer is not None:
            await close_quietly(self._producer)
            self._producer = None

    async def check(self) -> None:
        """Raise unless the cluster answers a metadata request."""
        if self._producer is None:
            raise KafkaUnavailable("Kafka producer not connected yet")
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3.0)
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka unreachable: {exc!r}") from None

    async def send_command(self, command: Command) -> datetime:
        """Deliver a command (acks=all); return the record's timestamp."""
        if self._producer is None:
            raise KafkaUnavailable("Kafka is not reachable yet; retry later")
        try:
            metadata = await asyncio.wait_for(
                self._producer.send_and_wait(
                    self.commands_topic,
                    key=command.satellite.encode(),
                    value=command.model_dump_json().encode(),
                ),
                timeout=self.timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka did not accept the command: {exc!r}") from None
        stamp = getattr(metadata, "timestamp", -1)
        if isinstance(stamp, int) and stamp > 0:
            return datetime.fromtimestamp(stamp / 1000, tz=UTC)
        return datetime.now(UTC)

    def send_event(self, key: str, event: dict[str, Any]) -> None:
        """Queue an audit event; delivery is logged, never awaited by the request."""
        if self._producer is None:
            log.warning("audit event not sent (Kafka not connected): %s", event)
            return
        producer = self._producer

        async def send() -> None:
            try:
                await producer.send_and_wait(
                    self.events_topic, key=key.encode(), value=orjson.dumps(event)
                )
            except KafkaError as exc:
                log.warning("audit event not delivered (%s): %s", exc, event)

        task = asyncio.create_task(send())
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()


async def _assign(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """All partitions of `topics` (waits until they exist)."""
    backoff = Backoff(initial_s=0.5, max_s=5.0)
    while True:
        partitions: list[TopicPartition] = []
        missing = []
        # Track exactly these topics' metadata (the consumer has no subscription to do it).
        await consumer._client.set_topics(topics)
        for topic in topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                missing.append(topic)
            else:
                partitions += [TopicPartition(topic, p) for p in sorted(ids)]
        if not missing:
            consumer.assign(partitions)
            return partitions
        log.info("waiting for topics %s to exist", missing)
        await backoff.wait()


async def _consume_forever(
    *,
    kafka: KafkaClients,
    topics: list[str],
    name: str,
    position: Callable[[AIOKafkaConsumer, list[TopicPartition]], Awaitable[None]],
    handle: Callable[[str, bytes | None, bytes, int], None],
    connected: asyncio.Event | None = None,
) -> None:
    backoff = Backoff(initial_s=0.5, max_s=5.0)
    while True:
        # No consumer group: every replica reads every partition, from offsets chosen here.
        consumer = kafka.consumer(
            name=name, group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=100
        )
        try:
            await consumer.start()
            partitions = await _assign(consumer, topics)
            await position(consumer, partitions)
            if connected is not None:
                connected.set()
            backoff.reset()
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        try:
                            handle(record.topic, record.key, record.value, record.timestamp)
                        except Exception:  # one bad record must never stop the feed
                            log.exception("%s: cannot handle a record of %s", name, record.topic)
        except KafkaError as exc:
            if connected is not None:
                connected.clear()
            delay = backoff.next_delay()
            log.warning("%s consumer error (%s); reconnecting in %.1f s", name, exc, delay)
            await asyncio.sleep(delay)
        finally:
            await close_quietly(consumer)


async def run_telemetry_feed(
    *,
    kafka: KafkaClients,
    topic: str,
    on_message: Callable[[dict[str, Any], bytes], None],
    on_invalid: Callable[[TelemetryError], None],
    connected: asyncio.Event | None = None,
) -> None:
    """Feed every new telemetry message to `on_message` (invalid ones to `on_invalid`)."""

    async def newest(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        await consumer.seek_to_end(*partitions)

    def handle(_topic: str, _key: bytes | None, value: bytes, _ts: int) -> None:
        try:
            message = decode(value)
        except TelemetryError as exc:
            on_invalid(exc)
            return
        on_message(message, value)

    await _consume_forever(
        kafka=kafka,
        topics=[topic],
        name="telemetry",
        position=newest,
        handle=handle,
        connected=connected,
    )


async def run_command_feed(
    *,
    kafka: KafkaClients,
    commands_topic: str,
    acks_topic: str,
    lookback_s: float,
    on_command: Callable[[Command, int], None],
    on_ack: Callable[[Ack, int], None],
    connected: asyncio.Event | None = None,
) -> None:
    """Feed commands and acks, starting `lookback_s` seconds back."""

    async def recent(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        since_ms = int((time.time() - lookback_s) * 1000)
        offsets = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            found = offsets.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])

    def handle(topic: str, _key: bytes | None, value: bytes, ts: int) -> None:
        try:
            if topic == commands_topic:
                on_command(Command.model_validate_json(value), ts)
            else:
                on_ack(Ack.model_validate_json(value), ts)
        except (ValidationError, ValueError) as exc:
            log.info("ignoring an invalid record on %s: %s", topic, str(exc)[:200])

    await _consume_forever(
        kafka=kafka,
        topics=[commands_topic, acks_topic],
        name="commands",
        position=recent,
        handle=handle,
        connected=connected,
    )
