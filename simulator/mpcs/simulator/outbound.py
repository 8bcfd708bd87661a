"""The simulator's outbound Kafka lanes: ordered delivery that survives broker outages.

Each lane is an ordered queue delivered by an idempotent producer of its own, so an ack never
waits behind a telemetry batch or its linger. While the broker is unreachable a lane keeps its
messages in a bounded buffer (one log line when the outage starts, one when it ends) and the
producer of messages waits when the buffer is full: nothing is ever dropped. Used by
`mpcs.simulator.runtime` only.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from mpcs.kit.backoff import Backoff
from mpcs.kit.kafka import KafkaClients, close_quietly

log = logging.getLogger("mpcs.simulator")

#: Seconds without a delivery acknowledgement after which the broker counts as unreachable.
STALL_S = 3.0


@dataclass
class Outbound:
    """A message waiting for delivery; `delivered` resolves once the broker has it."""

    topic: str
    key: bytes
    value: bytes
    delivered: asyncio.Future[None] | None = None


@dataclass
class Stats:
    """Counters the runtime's loops and lanes update; tests, log lines and /metrics read them."""

    produced: int = 0
    samples: int = 0
    commands: int = 0
    dlq: int = 0
    outages: int = 0
    max_buffered: int = 0
    executed_ids: collections.OrderedDict[uuid.UUID, None] = field(
        default_factory=collections.OrderedDict
    )


class Lane:
    """An ordered outbound stream through a producer of its own.

    `enqueue` waits while the buffer is full (backpressure); `run` delivers in order and, on a
    failure or a stall, keeps the messages, replaces the producer, backs off and retries.
    """

    def __init__(
        self,
        *,
        name: str,
        kafka: KafkaClients,
        request_timeout_ms: int,
        stats: Stats,
        maxsize: int,
        linger_ms: int,
        compression_type: str | None,
    ) -> None:
        self.name = name
        self.kafka = kafka
        self.stats = stats
        self.queue: asyncio.Queue[Outbound] = asyncio.Queue(maxsize=maxsize)
        self.producer: AIOKafkaProducer | None = None
        self._linger_ms = linger_ms
        self._request_timeout_ms = request_timeout_ms
        self._compression_type = compression_type
        self._outage_since: float | None = None
        self._produced_at_outage = 0

    @property
    def connected(self) -> bool:
        """Whether the producer is up and the broker acknowledges deliveries."""
        return self.producer is not None and self._outage_since is None

    async def start(self) -> None:
        """Start the producer, retrying while the broker is unreachable."""
        self.producer = await self.kafka.start(
            lambda: self.kafka.producer(
                name=self.name,
                compression_type=self._compression_type,
                linger_ms=self._linger_ms,
                request_timeout_ms=self._request_timeout_ms,
                retry_backoff_ms=250,
            ),
            what=f"{self.name} producer",
            backoff=Backoff(initial_s=0.5, max_s=5.0),
        )

    async def stop(self) -> None:
        if self.producer is not None:
            await close_quietly(self.producer)

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
        backoff = Backoff(initial_s=0.25, max_s=5.0)
        while True:
            if not pending:
                pending.append(await self.queue.get())
            while not self.queue.empty() and len(pending) < 500:
                pending.append(self.queue.get_nowait())
            try:
                await self._deliver(pending)
            except (KafkaError, OSError) as exc:
                self._outage(type(exc).__name__, len(pending))
                await backoff.wait()
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
            backoff.reset()

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
        old, self.producer = self.producer, None
        if old is not None:
            await close_quietly(old, timeout_s=2.0)
        await self.start()
