"""`mpcs lambdas run-archive`: the archive Lambda run in the cluster, for one mission.

Started by the mission's archive Deployment (the operator adds it; `mpcs.lambdas.cli.archive_args`
says what it needs). Two loops on one event loop, the blocking S3 and InfluxDB calls in threads:

- every `MPCS_ARCHIVE_INTERVAL_S` it builds the EventBridge scheduled event for now and hands it
  to the handler's `process` (the handler decides which hours are closed; most runs find none);
- it consumes the mission's events topic in its own consumer group (`…archive`), stores every
  `product` event as PNG + JSON (`products`), and commits a batch's offsets only after its objects
  are written (at-least-once; a redelivered product names the same keys and writes nothing). An
  event that claims to be a product and is not one is logged and counted, never retried.

The kit's health server answers on `MPCS_METRICS_PORT`: `/readyz` is ready once the consumer has
its partitions and the last archive run did not fail; `/metrics` has `mpcs_archive_*`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import Field

from mpcs.core.names import Topic
from mpcs.kit.backoff import Backoff, sleep
from mpcs.kit.health import HealthServer, Readiness
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.settings import MissionSettings

from .handler import ArchiveFailed, Archiver, process, scheduled_event
from .products import ProductError, decode, store_product
from .settings import ArchiveSettings

log = logging.getLogger("mpcs.lambdas.archive.service")


class ArchiveServiceSettings(ArchiveSettings, MissionSettings):
    """The archive's settings plus the mission process's (Kafka, namespace, mission, probes).

    `MPCS_ARCHIVE_MISSIONS` is ignored: the process archives its own mission.
    """

    archive_interval_s: float = Field(
        default=300.0,
        ge=1.0,
        le=3600.0,
        description="How often the scheduled event is sent to the handler.",
    )


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "mpcs_archive_runs",
            "Scheduled events handled, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.hours = Counter(
            "mpcs_archive_hours", "Mission-hours this process archived.", registry=registry
        )
        self.objects = Counter(
            "mpcs_archive_objects", "Parquet objects this process wrote.", registry=registry
        )
        self.products = Counter(
            "mpcs_archive_products",
            "Product events, by outcome (stored, present, invalid).",
            ["outcome"],
            registry=registry,
        )
        self.last_success = Gauge(
            "mpcs_archive_last_success_timestamp_seconds",
            "Wall time of the last archive run that succeeded.",
            registry=registry,
        )


class ArchiveService:
    """The mission's archive process: `await run()` until `stop()`."""

    def __init__(self, settings: ArchiveServiceSettings, *, archiver: Archiver | None = None):
        self.settings = settings
        self.missions = [(settings.namespace, settings.mission)]
        self.archiver = archiver if archiver is not None else Archiver.from_settings(settings)
        self.events_topic = settings.topic(Topic.EVENTS)
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-archive-{settings.mission}",
            security=settings.kafka_security,
        )
        self.registry = CollectorRegistry()
        self.metrics = _Metrics(self.registry)
        self.health = HealthServer(
            readiness=self.readiness, registry=self.registry, port=settings.metrics_port
        )
        self.assigned = asyncio.Event()
        self.last_failure: str | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def readiness(self) -> Readiness:
        problems = []
        if not self.assigned.is_set():
            problems.append(f"product consumer: not yet assigned {self.events_topic}")
        if self.last_failure is not None:
            problems.append(f"last archive run failed: {self.last_failure}")
        return Readiness(
            ready=not problems,
            reason="; ".join(problems),
            detail={"mission": f"{self.settings.namespace}/{self.settings.mission}"},
        )

    async def run(self) -> None:
        await self.health.start()
        tasks = [
            asyncio.create_task(self._schedule(), name="archive-schedule"),
            asyncio.create_task(self._products(), name="archive-products"),
        ]
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.archiver.source.close)
            await self.health.stop()

    # ------------------------------------------------------------------ the hourly archive
    async def archive_now(self) -> dict[str, Any]:
        """Send the scheduled event for now to the handler (in a thread: boto3 and httpx block)."""
        event = scheduled_event(time.time_ns())
        try:
            result = await asyncio.to_thread(
                process, event, archiver=self.archiver, missions=self.missions
            )
        except (ArchiveFailed, ClientError, BotoCoreError) as exc:
            self.last_failure = str(exc)
            self.metrics.runs.labels("failed").inc()
            raise
        self.last_failure = None
        self.metrics.runs.labels("ok").inc()
        self.metrics.last_success.set(time.time())
        self.metrics.hours.inc(len(result["hours"]))
        self.metrics.objects.inc(sum(len(h["written"]) for h in result["hours"]))
        return result

    async def _schedule(self) -> None:
        bucket_ready = not self.settings.archive_create_bucket
        while not self._stopping.is_set():
            try:
                if not bucket_ready:
                    await asyncio.to_thread(self.archiver.store.ensure_bucket)
                    bucket_ready = True
                await self.archive_now()
            except (ArchiveFailed, ClientError, BotoCoreError) as exc:
                self.last_failure = str(exc)
                log.error(
                    "archive run failed (next in %.0f s): %s", self.settings.archive_interval_s, exc
                )
            except Exception as exc:  # the schedule must outlive a bug: say it, keep going
                self.last_failure = repr(exc)
                self.metrics.runs.labels("failed").inc()
                log.exception("archive run failed unexpectedly")
            await sleep(self.settings.archive_interval_s, self._stopping)

    # ------------------------------------------------------------------ the products
    async def _products(self) -> None:
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        while not self._stopping.is_set():
            consumer = await self.kafka.start(
                lambda: self.kafka.consumer(
                    self.events_topic,
                    name="products",
                    group_id=self.settings.consumer_group("archive"),
                    auto_offset_reset="earliest",
                ),
                what="product consumer",
                stop=self._stopping,
            )
            if consumer is None:
                return
            try:
                await self._consume(consumer)
                backoff.reset()
            except (KafkaError, ClientError, BotoCoreError) as exc:
                # Uncommitted products are delivered again to the next consumer.
                self.assigned.clear()
                delay = backoff.next_delay()
                log.warning("product consumer: %s; restarting in %.1f s", exc, delay)
                await sleep(delay, self._stopping)
            finally:
                await close_quietly(consumer)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=1000, max_records=100)
            if consumer.assignment():
                self.assigned.set()
            for records in batches.values():
                for record in records:
                    await self._store(record.value, record.offset)
            if batches:
                await consumer.commit()

    async def _store(self, payload: bytes | None, offset: int) -> None:
        try:
            product = decode(payload or b"")
        except ProductError as exc:
            log.warning(
                "invalid product event at offset %d of %s: %s", offset, self.events_topic, exc
            )
            self.metrics.products.labels("invalid").inc()
            return
        if product is None:
            return
        stored = await asyncio.to_thread(
            store_product,
            self.archiver.store,
            self.settings.namespace,
            self.settings.mission,
            product,
        )
        outcome = "stored" if stored.json_written else "present"
        self.metrics.products.labels(outcome).inc()
        log.info("product %s: %s (%s)", product.product_id, outcome, stored.png_key)
