"""Kafka I/O of the command API: the command/event producer and the two feeds it consumes.

- `KafkaBus`: a transactional producer for commands (keyed by satellite, DESIGN §4; a command
  a POST gave up on is aborted, never delivered — see its docstring) and an idempotent one for
  audit events (both acks=all, no linger: a command is latency-bound);
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
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    """Kafka did not take the command in time; it is never delivered (the POST answers 503)."""


class DeliveryUnknown(RuntimeError):
    """The commit of the command's transaction was asked for and not answered in time: the
    command may or may not be delivered (the POST answers 504). `settled` resolves once the
    broker answers: the record's time if it was committed, an exception if not (None: no answer
    will come, e.g. the producer died during the commit)."""

    def __init__(self, message: str, *, settled: asyncio.Future[datetime] | None) -> None:
        super().__init__(message)
        self.settled = settled


class _Stage(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    COMMITTING = "committing"
    DONE = "done"


@dataclass(eq=False)
class _Pending:
    """One command between its POST and its transaction's outcome."""

    command: Command
    result: asyncio.Future[datetime]
    stage: _Stage = _Stage.QUEUED
    #: The POST stopped waiting (timeout or disconnect) before the commit was asked for: the
    #: transaction holding it must be aborted, never committed.
    abandoned: bool = False

    def settle(self, value: datetime | BaseException) -> None:
        self.stage = _Stage.DONE
        if self.result.done():
            return
        if isinstance(value, BaseException):
            if self.abandoned:
                self.result.cancel()  # nobody waits for it any more
            else:
                self.result.set_exception(value)
        else:
            self.result.set_result(value)


class KafkaBus:
    """The API's producers; `run_start()` retries in the background until the broker answers.

    Commands go through a *transactional* producer, audit events through a plain idempotent one.

    Why transactions (issue 17): a POST waits `timeout_s` for Kafka and then answers 503,
    freeing its Idempotency-Key, so a client retries. With a plain producer the record could
    still be in the producer's queue, or its produce request already in the socket of a broker
    that is paused or slow: cancelling the wait does not take those bytes back, and the broker
    appends the record when it resumes — a command the client was told was not sent, delivered
    next to its retry. No client-side timeout can revoke a request already written. What can be
    decided on our side is whether the record is ever *committed*: every command is written in a
    transaction, and the commit (EndTxn) is asked for only while the POST is still waiting.
    When the POST gives up first, the transaction is aborted (or, if this process dies, aborted
    by the coordinator after `transaction_timeout_ms`); consumers read `read_committed` (the
    kit's default), so an aborted record is never delivered even if the broker appended it.

    The one window left is a commit asked for and not yet answered when the time is up: the
    broker may still commit it. That is not a 503: `send_command` raises `DeliveryUnknown`
    (the POST answers 504 and keeps the key mapped to this command) after waiting
    `commit_grace_s` more for the answer.

    Other designs considered: waiting for the producer's own failure report is not enough (a
    timed-out request may still be appended), and an expiry in the record leaves the decision
    to the consumer's clock and lag (a slow simulator would drop commands the API accepted).

    Concurrent POSTs share one transaction (group commit): a worker takes every queued command,
    writes them, and commits them together unless one of their POSTs gave up meanwhile.
    """

    def __init__(
        self,
        *,
        kafka: KafkaClients,
        commands_topic: str,
        events_topic: str,
        timeout_s: float,
        commit_grace_s: float | None = None,
        transactional_id: str | None = None,
    ) -> None:
        self.kafka = kafka
        self.commands_topic = commands_topic
        self.events_topic = events_topic
        self.timeout_s = timeout_s
        self.commit_grace_s = timeout_s if commit_grace_s is None else commit_grace_s
        # One id per process: a new producer of this process fences the old one (aborting what
        # it left open); another replica or a restarted pod has its own.
        self.transactional_id = (
            transactional_id or f"{kafka.client_id}-commands-{uuid.uuid4().hex[:12]}"
        )
        self._producer: AIOKafkaProducer | None = None
        self._commands: AIOKafkaProducer | None = None
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._gave_up = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.started = asyncio.Event()

    def _command_producer(self) -> AIOKafkaProducer:
        return self.kafka.producer(
            name="commands",
            transactional_id=self.transactional_id,
            # Longer than a POST's whole wait, short enough that consumers are not held up for
            # long behind the transaction of a process that died mid-way.
            transaction_timeout_ms=int(max(10.0, 3 * (self.timeout_s + self.commit_grace_s)) * 1e3),
            linger_ms=0,
            request_timeout_ms=int(self.timeout_s * 1000),
            retry_backoff_ms=100,
        )

    async def run_start(self) -> None:
        """Start both producers, retrying while the broker is unreachable."""
        backoff = Backoff(initial_s=0.5, max_s=5.0)
        self._producer = await self.kafka.start(
            lambda: self.kafka.producer(
                linger_ms=0,
                request_timeout_ms=int(self.timeout_s * 1000),
                retry_backoff_ms=100,
            ),
            what="event producer",
            backoff=backoff,
        )
        self._commands = await self.kafka.start(
            self._command_producer, what="command producer", backoff=backoff
        )
        self._worker = asyncio.create_task(self._run_transactions(), name="api-command-txn")
        self.started.set()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        for pending in self._queue:
            pending.settle(KafkaUnavailable("the command service is stopping"))
        self._queue.clear()
        for producer in (self._commands, self._producer):
            if producer is not None:
                await close_quietly(producer)
        self._producer = self._commands = None

    async def check(self) -> None:
        """Raise unless both producers are started and the cluster answers a metadata request."""
        if self._producer is None:
            raise KafkaUnavailable("Kafka producer not connected yet")
        if self._commands is None:
            # The first transactional producer of a cluster waits for its transaction log.
            raise KafkaUnavailable("Kafka command (transactional) producer not started yet")
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3.0)
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka unreachable: {exc!r}") from None

    async def send_command(self, command: Command) -> datetime:
        """Deliver a command (committed, acks=all) within `timeout_s`; return the record's time.

        Raises `KafkaUnavailable` when the command is certain never to be delivered, and
        `DeliveryUnknown` in the one case where the broker alone can still tell.
        """
        if self._commands is None or self._worker is None:
            raise KafkaUnavailable("Kafka is not reachable yet; retry later")
        pending = _Pending(command, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(pending.result), timeout=self.timeout_s)
        except TimeoutError:
            if pending.stage is not _Stage.COMMITTING:
                self._give_up(pending)
                raise KafkaUnavailable(
                    f"Kafka did not take the command within {self.timeout_s:g} s; "
                    "it was not sent and never will be"
                ) from None
        except BaseException:  # the client went away: the same as giving up
            if pending.stage is not _Stage.COMMITTING:
                self._give_up(pending)
            raise
        # The commit is on its way: only the broker's answer says whether it happened.
        try:
            return await asyncio.wait_for(
                asyncio.shield(pending.result), timeout=self.commit_grace_s
            )
        except TimeoutError:
            raise DeliveryUnknown(
                "Kafka did not answer the commit of the command in time; it may or may not be "
                "delivered (GET /api/v1/commands/{id} will show it if it was)",
                settled=pending.result,
            ) from None

    def _give_up(self, pending: _Pending) -> None:
        pending.abandoned = True
        if pending.stage is _Stage.QUEUED:
            pending.settle(KafkaUnavailable("abandoned"))
            with contextlib.suppress(ValueError):
                self._queue.remove(pending)
        self._gave_up.set()

    async def _run_transactions(self) -> None:
        """The one writer of the transactional producer: one transaction per batch of POSTs."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch = [p for p in self._queue if not p.abandoned]
            self._queue.clear()
            if not batch:
                continue
            producer = self._commands
            assert producer is not None
            try:
                await self._transact(producer, batch)
            except asyncio.CancelledError:
                for pending in batch:
                    pending.settle(KafkaUnavailable("the command service is stopping"))
                raise
            except Exception as exc:
                log.warning("command transaction failed (%r); restarting the producer", exc)
                for pending in batch:
                    if pending.stage is _Stage.COMMITTING:
                        # The commit request may have reached the broker: not a 503.
                        pending.settle(
                            DeliveryUnknown(f"the commit was not confirmed: {exc!r}", settled=None)
                        )
                    else:
                        pending.settle(KafkaUnavailable(f"Kafka did not take the command: {exc!r}"))
                await close_quietly(producer)
                # Same transactional id: the new producer fences the old one and the
                # coordinator aborts whatever it left open.
                self._commands = await self.kafka.start(
                    self._command_producer,
                    what="command producer",
                    backoff=Backoff(initial_s=0.5, max_s=5.0),
                )
            if self._queue:
                self._wakeup.set()

    async def _transact(self, producer: AIOKafkaProducer, batch: list[_Pending]) -> None:
        await producer.begin_transaction()
        deliveries: list[asyncio.Future[Any]] = []
        self._gave_up.clear()
        for pending in batch:
            pending.stage = _Stage.SENDING
            deliveries.append(
                await producer.send(
                    self.commands_topic,
                    key=pending.command.satellite.encode(),
                    value=pending.command.model_dump_json().encode(),
                )
            )
        # Every record's produce answer, unless a POST of the batch gives up first.
        gave_up = asyncio.ensure_future(self._gave_up.wait())
        try:
            waiting: set[asyncio.Future[Any]] = set(deliveries)
            while waiting and not any(p.abandoned for p in batch):
                _, waiting = await asyncio.wait(
                    waiting | {gave_up}, return_when=asyncio.FIRST_COMPLETED
                )
                waiting.discard(gave_up)
                if gave_up.done():
                    self._gave_up.clear()
                    gave_up = asyncio.ensure_future(self._gave_up.wait())
        finally:
            gave_up.cancel()
        for delivery in deliveries:
            delivery.add_done_callback(_retrieve)
        failed = [d for d in deliveries if d.done() and not d.cancelled() and d.exception()]
        # The decision, with no await between it and the commit request's state change.
        if failed or any(p.abandoned for p in batch):
            reason = repr(failed[0].exception()) if failed else "a POST of its batch gave up"
            for pending in batch:
                pending.settle(KafkaUnavailable(f"Kafka did not take the command: {reason}"))
            await producer.abort_transaction()
            return
        for pending in batch:
            pending.stage = _Stage.COMMITTING
        await producer.commit_transaction()
        for pending, delivery in zip(batch, deliveries, strict=True):
            pending.settle(_record_time(delivery.result()))

    async def publish_event(self, key: str, event: dict[str, Any]) -> None:
        """Write an event and wait until Kafka has it (control intents: the fold needs them)."""
        if self._producer is None:
            raise KafkaUnavailable("Kafka is not reachable yet; retry later")
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    self.events_topic, key=key.encode(), value=orjson.dumps(event)
                ),
                timeout=self.timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka did not take the event: {exc!r}") from None

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


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a delivery's failure as seen (the transaction's outcome is what counts)."""
    if not future.cancelled():
        future.exception()


def _record_time(metadata: Any) -> datetime:
    stamp = getattr(metadata, "timestamp", -1)
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)
    return datetime.now(UTC)


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


#: A control event's marker, looked for before decoding (most events are command audits).
_CONTROL_MARK = b'"phase":"intent"'


async def run_control_feed(
    *,
    kafka: KafkaClients,
    topic: str,
    on_event: Callable[[dict[str, Any]], None],
    caught_up: asyncio.Event,
) -> None:
    """Fold the events topic from its beginning into `on_event` (intents only), in log order per
    partition; `caught_up` is set once everything that was there at start has been read.

    A reconnect resumes after the last record read, so no event is folded twice.
    """
    backoff = Backoff(initial_s=0.5, max_s=5.0)
    next_offsets: dict[TopicPartition, int] = {}
    while True:
        consumer = kafka.consumer(
            name="control", group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=100
        )
        try:
            await consumer.start()
            partitions = await _assign(consumer, [topic])
            for tp in partitions:
                if tp in next_offsets:
                    consumer.seek(tp, next_offsets[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            ends = await consumer.end_offsets(partitions) if not caught_up.is_set() else {}
            backoff.reset()
            while True:
                if not caught_up.is_set() and all(
                    next_offsets.get(tp, 0) >= end for tp, end in ends.items()
                ):
                    caught_up.set()
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        next_offsets[tp] = record.offset + 1
                        if record.value is None or _CONTROL_MARK not in record.value:
                            continue
                        try:
                            on_event(orjson.loads(record.value))
                        except Exception:  # one bad record must never stop the feed
                            log.exception("control: cannot fold a record of %s", topic)
                if not batches and not caught_up.is_set():
                    # An empty fetch at the end of a partition whose last offsets are markers.
                    for tp in partitions:
                        next_offsets[tp] = max(next_offsets.get(tp, 0), await consumer.position(tp))
        except KafkaError as exc:
            delay = backoff.next_delay()
            log.warning("control consumer error (%s); reconnecting in %.1f s", exc, delay)
            await asyncio.sleep(delay)
        finally:
            await close_quietly(consumer)
