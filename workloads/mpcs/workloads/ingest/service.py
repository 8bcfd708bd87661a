"""The telemetry ingest process (`mpcs ingest run`): Kafka telemetry → InfluxDB, at least once.

One per mission (the operator's `<mission>-ingest` Deployment); more replicas share the topic's
partitions through the consumer group `names.consumer_group(ns, mission, "ingest")`.

Three tasks share one event loop:

- **consume**: `getmany` from the telemetry topic, convert each fetch (validate → line
  protocol, or a DLQ record with the reason) into a `BatchBuilder`, and seal a batch when it is
  full or its linger expired. Sealed batches wait in a bounded queue; while the queue is full the
  consumer waits (backpressure), and when it stays full for a second (InfluxDB away) the
  assigned partitions are *paused*: nothing more is fetched, but the consumer keeps polling so it
  stays in the group however long InfluxDB is away.
- **write**: per batch, in order: write the body to InfluxDB (retrying `InfluxUnavailable` with
  exponential backoff, splitting the batch on `InfluxRejected` to dead-letter just the messages
  InfluxDB refuses), send the DLQ records (idempotent producer, acks=all), and only then commit
  the batch's offsets. A crash anywhere before the commit re-delivers the batch; re-written points
  have the same series and timestamp, so InfluxDB stores each sample once.
- **probe**: every `ingest_probe_interval_s`, ask Kafka for metadata and InfluxDB for `/health`;
  `/readyz` reports the last answers (and any failing write) with the reason.

SIGTERM/SIGINT: stop fetching, seal what is buffered, let the writer flush and commit (bounded by
`ingest_shutdown_timeout_s`), leave the group, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import CollectorRegistry

from mpcs.core.names import Topic
from mpcs.kit.backoff import Backoff
from mpcs.kit.health import HealthServer, Readiness
from mpcs.kit.influx import InfluxBucket, InfluxRejected, InfluxUnavailable
from mpcs.kit.kafka import KafkaClients, close_quietly

from .batch import (
    CHANNEL_VALUES_PER_MESSAGE,
    POINTS_PER_MESSAGE,
    Batch,
    BatchBuilder,
    KafkaRecord,
    reject,
)
from .config import IngestSettings
from .dlq import encode_record
from .metrics import IngestMetrics

log = logging.getLogger("mpcs.ingest")

COMPONENT = "ingest"
_MAX_RECORDS_PER_FETCH = 1_000
#: How long the batch queue may stay full before the partitions are paused (see `_hand_over`).
_PAUSE_AFTER_S = 1.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._ingest._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._ingest._on_assigned(assigned)


class Ingest:
    """One ingest process: `await run()` until `stop()`; `readiness()` feeds /readyz."""

    def __init__(
        self, settings: IngestSettings, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.topic = settings.topic(Topic.TELEMETRY)
        self.dlq_topic = settings.topic(Topic.DLQ)
        self.group = settings.consumer_group(COMPONENT)
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-ingest-{settings.mission}",
            security=settings.kafka_security,
        )
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = IngestMetrics(self.registry)
        self.health = HealthServer(
            readiness=self.readiness, registry=self.registry, port=settings.metrics_port
        )
        self.writer = InfluxBucket(
            url=settings.influx_url,
            org=settings.influx_org,
            bucket=settings.bucket,
            token=settings.influx_token.get_secret_value(),
            timeout_s=settings.ingest_write_timeout_s,
            use_gzip=settings.ingest_gzip,
        )
        self.assigned: frozenset[TopicPartition] = frozenset()
        #: Counters for logs and tests (the Prometheus counters carry the same numbers).
        self.stored_messages = 0
        self.dlq_messages = 0
        self.points_written = 0
        self._committed: dict[TopicPartition, int] = {}
        self._queue: asyncio.Queue[Batch | None] = asyncio.Queue(
            maxsize=settings.ingest_max_batches_in_flight
        )
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._kafka_problem: str | None = "connecting to Kafka"
        self._influx_problem: str | None = "InfluxDB not checked yet"
        self._write_problem: str | None = None
        self._paused = False
        self._room = asyncio.Event()  # set by a writer each time it takes a batch off the queue
        self._commit_turn = asyncio.Condition()
        self._next_commit = 0  # seq of the next batch whose offsets may be committed

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the ingest to flush, commit and exit (what SIGTERM does)."""
        self._stopping.set()

    async def wait_started(self) -> None:
        """Until the Kafka clients are up (tests, benchmark)."""
        await self._started.wait()

    async def run(self) -> None:
        """Serve the probes, connect, then consume/write/probe until stop()."""
        await self.health.start()
        probe = asyncio.create_task(self._probe_loop(), name="ingest-probe")
        try:
            if not await self._start_kafka():
                return
            self._started.set()
            log.info(
                "ingesting %s (group %s) into bucket %s, batches of %d points / %d ms",
                self.topic,
                self.group,
                self.settings.bucket,
                self.settings.ingest_batch_points,
                self.settings.ingest_linger_ms,
            )
            consume = asyncio.create_task(self._consume_loop(), name="ingest-consume")
            write = asyncio.create_task(self._writers(), name="ingest-write")
            stopped = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait(
                {consume, write, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            stopped.cancel()
            for task in done - {stopped}:
                if task.exception() is not None:  # a bug, not an outage: surface it
                    log.error("task %s failed", task.get_name(), exc_info=task.exception())
                    self._stopping.set()
            await self._shutdown(consume, write)
        finally:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            await self._close_clients()
            await self.health.stop()
            log.info(
                "stopped: %d messages stored (%d points), %d dead-lettered",
                self.stored_messages,
                self.points_written,
                self.dlq_messages,
            )

    async def _shutdown(self, consume: asyncio.Task[None], write: asyncio.Task[None]) -> None:
        """Let consume seal its last batch, let write flush everything, within the timeout."""
        timeout = self.settings.ingest_shutdown_timeout_s
        try:
            await asyncio.wait_for(asyncio.gather(consume, write), timeout=timeout)
        except TimeoutError:
            log.warning(
                "shutdown: could not flush within %.0f s; uncommitted messages will be "
                "re-delivered to the next ingest",
                timeout,
            )
        except Exception:  # already logged by run(); shut down anyway
            pass
        for task in (consume, write):
            task.cancel()
        await asyncio.gather(consume, write, return_exceptions=True)

    async def _start_kafka(self) -> bool:
        """Start the consumer and the DLQ producer, retrying while Kafka is unreachable."""

        def problem(text: str) -> None:
            self._kafka_problem = text

        async def subscribe(consumer: AIOKafkaConsumer) -> None:
            consumer.subscribe([self.topic], listener=_Rebalance(self))

        consumer = await self.kafka.start(
            lambda: self.kafka.consumer(
                group_id=self.group,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self.settings.ingest_fetch_max_wait_ms,
                max_partition_fetch_bytes=4 * 1024 * 1024,
            ),
            what="telemetry consumer",
            setup=subscribe,
            stop=self._stopping,
            on_failure=problem,
        )
        if consumer is None:
            return False
        self._consumer = consumer
        producer = await self.kafka.start(
            lambda: self.kafka.producer(name="dlq", linger_ms=5),
            what="DLQ producer",
            stop=self._stopping,
            on_failure=problem,
        )
        if producer is None:
            return False
        self._producer = producer
        self._kafka_problem = None
        return True

    async def _close_clients(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await close_quietly(client)
        await self.writer.close()

    # ------------------------------------------------------------------ consume
    async def _consume_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        settings = self.settings
        builder = BatchBuilder(
            max_points=settings.ingest_batch_points, linger_s=settings.ingest_linger_ms / 1000
        )
        per_message = POINTS_PER_MESSAGE
        while not self._stopping.is_set():
            if not builder.empty and builder.due:
                await self._hand_over(builder.seal(), consumer)
                continue
            left = builder.time_left()
            timeout_ms = 500 if left is None else max(1, int(left * 1000))
            room = (settings.ingest_batch_points - builder.points + per_message - 1) // per_message
            records = await consumer.getmany(
                timeout_ms=timeout_ms, max_records=max(1, min(room, _MAX_RECORDS_PER_FETCH))
            )
            for fetched in records.values():
                builder.add_fetch(fetched)
        # Shutdown: hand over what is buffered, then tell the writers there is nothing more.
        if not builder.empty:
            await self._queue.put(builder.seal())
        for _ in range(settings.ingest_write_concurrency):
            await self._queue.put(None)

    async def _hand_over(self, batch: Batch, consumer: AIOKafkaConsumer) -> None:
        """Queue a sealed batch for the writers, waiting while they are behind (backpressure).

        A short wait (InfluxDB busy) just waits: aiokafka keeps the records it already fetched.
        Pausing the partitions instead would make it drop them (it discards prefetched records of
        a paused partition) and fetch them again after the resume — while the writers are the
        bottleneck that would happen for every batch and stall fetching 100 ms each time. Only
        when the queue stays full for `_PAUSE_AFTER_S` (InfluxDB away) are the partitions paused,
        and the consumer keeps polling so it stays in its group however long the outage lasts.
        """
        waited = 0.0
        while self._queue.full():
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), timeout=_PAUSE_AFTER_S)
            except TimeoutError:
                waited += _PAUSE_AFTER_S
                if not self._paused:
                    self._pause(consumer)
                await consumer.getmany(timeout_ms=0)  # a poll: stay in the group
        self._queue.put_nowait(batch)
        if self._paused:
            self._resume(consumer, waited)

    def _pause(self, consumer: AIOKafkaConsumer) -> None:
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(*assignment)
        self._paused = True
        log.info(
            "backpressure: %d batches waiting for InfluxDB for %.0f s; fetching paused",
            self._queue.qsize(),
            _PAUSE_AFTER_S,
        )

    def _resume(self, consumer: AIOKafkaConsumer, waited_s: float) -> None:
        assignment = consumer.assignment()
        if assignment:
            consumer.resume(*assignment)
        self._paused = False
        log.info("backpressure released after %.0f s; fetching resumed", waited_s)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Give queued batches a chance to commit before another member takes the partitions; a
        # batch that cannot is simply re-delivered there (identical points, no duplicates).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=5.0)
        self.assigned = self.assigned - revoked
        for tp in revoked:
            self._committed.pop(tp, None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(str(tp.partition))
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned = frozenset(assigned)
        if self._paused and assigned and self._consumer is not None:
            self._consumer.pause(*assigned)
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))

    # ------------------------------------------------------------------ write
    async def _writers(self) -> None:
        await asyncio.gather(
            *(self._write_loop() for _ in range(self.settings.ingest_write_concurrency))
        )

    async def _write_loop(self) -> None:
        while True:
            batch = await self._queue.get()
            self._room.set()
            try:
                if batch is None:
                    return
                await self._deliver(batch)
            finally:
                self._queue.task_done()

    async def _deliver(self, batch: Batch) -> None:
        """Write, dead-letter, then commit in batch order (at-least-once).

        With several writers, batch k+1 may reach InfluxDB before batch k, but its offsets are
        committed only after batch k's: a commit never covers a batch that is not stored.
        """
        if batch.lines:
            batch.dlq.extend(await self._write(batch.lines, batch.sources))
        if batch.dlq:
            await self._send_dlq(batch.dlq)
        accepted_at = time.monotonic()
        async with self._commit_turn:
            await self._commit_turn.wait_for(lambda: self._next_commit == batch.seq)
            try:
                await self._commit(batch.offsets)
            finally:
                self._next_commit = batch.seq + 1
                self._commit_turn.notify_all()
        stored = len(batch.lines) - sum(1 for d in batch.dlq if d["field"] == "influxdb")
        points = stored * POINTS_PER_MESSAGE
        self.stored_messages += stored
        self.dlq_messages += len(batch.dlq)
        self.points_written += points
        m = self.metrics
        m.batches.inc()
        m.messages.labels("stored").inc(stored)
        m.messages.labels("dlq").inc(len(batch.dlq))
        m.dlq.inc(len(batch.dlq))
        m.points.inc(points)
        m.channel_values.inc(stored * CHANNEL_VALUES_PER_MESSAGE)
        m.batch_latency.observe(accepted_at - batch.sealed_at)
        # One observation per batch, of its oldest record (an upper bound for the whole batch):
        # per-record observations cost several percent of the ingest's CPU.
        if batch.oldest_ms is not None:
            m.freshness.observe(max(0.0, time.time() * 1000 - batch.oldest_ms) / 1000)

    async def _write(self, lines: list[bytes], sources: list[KafkaRecord]) -> list[dict[str, Any]]:
        """Write until InfluxDB accepts; returns DLQ records of messages it refused outright."""
        backoff = self._retry_backoff()
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self.writer.write(b"".join(lines))
            except InfluxRejected as exc:
                self.metrics.write_errors.labels("rejected").inc()
                if len(lines) == 1:
                    log.warning(
                        "InfluxDB refused the points of %s[%d]@%d: %s; dead-lettered",
                        sources[0].topic,
                        sources[0].partition,
                        sources[0].offset,
                        exc,
                    )
                    reason = f"InfluxDB refused the points: {exc.status} {exc.text}"
                    return [reject(sources[0], field="influxdb", reason=reason)]
                mid = len(lines) // 2  # bisect to find the refused messages
                first = await self._write(lines[:mid], sources[:mid])
                return first + await self._write(lines[mid:], sources[mid:])
            except InfluxUnavailable as exc:
                self.metrics.write_errors.labels(exc.kind).inc()
                self._write_problem = str(exc)
                failures += 1
                delay = backoff.next_delay()
                wait = exc.retry_after_s if exc.retry_after_s is not None else delay
                if failures == 1 or failures % 10 == 0:
                    log.warning(
                        "write failed (%d in a row): %s; retrying in %.1f s", failures, exc, wait
                    )
                await asyncio.sleep(wait)
                continue
            self.metrics.write_seconds.observe(time.monotonic() - started)
            if failures:
                log.info("write succeeded after %d failed attempts", failures)
            self._write_problem = None
            return []

    async def _send_dlq(self, records: list[dict[str, Any]]) -> None:
        producer = self._producer
        assert producer is not None
        backoff = self._retry_backoff()
        while True:
            try:
                futures = [
                    await producer.send(
                        self.dlq_topic,
                        key=(r["key"] or "").encode() or None,
                        value=encode_record(r),
                    )
                    for r in records
                ]
                await asyncio.gather(*futures)
                return
            except KafkaError as exc:
                delay = backoff.next_delay()
                log.warning("DLQ send failed: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    def _retry_backoff(self) -> Backoff:
        """The backoff of a failed write or DLQ send (MPCS_INGEST_RETRY_INITIAL_MS/_MAX_MS)."""
        longest = self.settings.ingest_retry_max_ms / 1000
        first = min(self.settings.ingest_retry_initial_ms / 1000, longest)
        return Backoff(initial_s=first, max_s=longest)

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        consumer = self._consumer
        assert consumer is not None
        assignment = consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        mine = {tp: o for tp, o in wanted.items() if tp in assignment}
        if len(mine) < len(wanted):
            log.info(
                "not committing partitions %s any more (rebalanced away; the new owner "
                "re-reads them)",
                sorted(tp.partition for tp in wanted.keys() - mine.keys()),
            )
        if not mine:
            return
        for attempt in range(3):
            try:
                await consumer.commit(mine)
            except (CommitFailedError, IllegalStateError) as exc:
                self.metrics.commit_errors.inc()
                log.info("commit skipped after a rebalance (%s); will be re-delivered", exc)
                return
            except KafkaError as exc:
                self.metrics.commit_errors.inc()
                log.warning("commit failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            self._committed.update(mine)
            return

    # ------------------------------------------------------------------ readiness
    async def _probe_loop(self) -> None:
        interval = self.settings.ingest_probe_interval_s
        last_points, last_at = 0, time.monotonic()
        was_ready: bool | None = None
        while True:
            await asyncio.gather(self._probe_kafka(), self._probe_influx())
            await self._update_lag()
            now = time.monotonic()
            self.metrics.points_per_second.set(
                (self.points_written - last_points) / (now - last_at)
            )
            last_points, last_at = self.points_written, now
            state = self.readiness()
            if state.ready != was_ready:
                if state.ready:
                    log.info("ready")
                else:
                    log.warning("unready: %s", state.reason)
                was_ready = state.ready
            await asyncio.sleep(interval)

    async def _probe_kafka(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return  # _start_kafka keeps _kafka_problem current until the clients are up
        try:
            topics = await asyncio.wait_for(consumer.topics(), timeout=5.0)
        except (KafkaError, TimeoutError) as exc:
            self._kafka_problem = f"Kafka {self.settings.kafka_bootstrap} unreachable: {exc!r}"
            return
        if self.topic not in topics:
            self._kafka_problem = f"topic {self.topic} does not exist"
        else:
            self._kafka_problem = None

    async def _probe_influx(self) -> None:
        self._influx_problem = await self.writer.health()

    async def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        total = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            base = self._committed.get(tp)
            if base is None:
                try:
                    base = await asyncio.wait_for(consumer.committed(tp), timeout=2.0) or 0
                except (KafkaError, TimeoutError):
                    continue
                self._committed[tp] = base
            lag = max(0, high - base)
            self.metrics.lag.labels(str(tp.partition)).set(lag)
            total += lag
        self.metrics.lag_total.set(total)

    def readiness(self) -> Readiness:
        """Ready when Kafka and InfluxDB answer and the last write did not fail."""
        kafka = self._kafka_problem
        influx = self._influx_problem or self._write_problem
        reasons = [p for p in (kafka, influx) if p]
        ready = not reasons
        self.metrics.ready.set(1 if ready else 0)
        return Readiness(
            ready=ready,
            reason="; ".join(reasons),
            detail={
                "kafka": kafka or "ok",
                "influxdb": influx or "ok",
                "topic": self.topic,
                "bucket": self.settings.bucket,
                "partitions": sorted(tp.partition for tp in self.assigned),
            },
        )
