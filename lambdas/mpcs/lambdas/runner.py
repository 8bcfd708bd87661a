"""The alerts handler in the cluster (`mpcs lambdas run-alerts`): Kafka → `handler` → commit.

One per mission with alert rules (the operator's `<mission>-alerts` Deployment). It stands in for
Lambda's self-managed Kafka event source mapping, so the handler that runs here is exactly the
function AWS would run:

- **consume**: poll the mission's telemetry topic with its own consumer group
  (`names.consumer_group(ns, mission, "alerts")`), build the event the event source mapping would
  send for that poll (`build_kafka_event`), call `handler(event, context)` in a worker thread
  (boto3 blocks), and commit only after it returned. Records it lists in `batchItemFailures` are
  not committed: the partition is sought back to its first failed offset and the batch is retried
  with backoff (the handler is idempotent, so the records after it that succeeded change nothing
  the second time). A handler that raises is a failure of the whole poll.
- **sweep**: every `MPCS_ALERTS_SWEEP_INTERVAL_S`, the EventBridge `Scheduled Event` the Lambda
  would get from its schedule rule, so `stale` rules fire for silent satellites and a
  notification a crash left pending is sent.
- **flow back** (`flowback.FlowBack`): the mission's SQS queue, subscribed to the SNS topic,
  long-polled; each transition to the events topic, the `alerts` measurement, the Satellite's
  `Alerting` condition and a Kubernetes Event; the conditions are re-asserted every
  `MPCS_ALERTS_CONDITION_RESYNC_S`.

Calls into the handler are serialised (a poll and a sweep never run at once). `/healthz`,
`/readyz` and `/metrics` on MPCS_METRICS_PORT; SIGTERM stops polling, lets the running call
finish and commit, and leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import Field, SecretStr

from mpcs.core.names import Topic, bucket
from mpcs.kit.backoff import Backoff, sleep
from mpcs.kit.health import HealthServer, Readiness
from mpcs.kit.influx import InfluxBucket
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.settings import MissionSettings

from .alerts.events import KafkaRecord, build_kafka_event
from .settings import AlertsSettings

log = logging.getLogger("mpcs.lambdas.runner")

COMPONENT = "alerts"
FUNCTION_NAME = "mpcs-alerts"
#: aiokafka's timestamp types, as Lambda names them in the event.
_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


class RunnerSettings(MissionSettings):
    """The runner's own settings (the handler reads `AlertsSettings` from the same environment)."""

    influx_url: str = Field(description="InfluxDB 2 base URL (the `alerts` measurement).")
    influx_org: str = Field(description="InfluxDB organisation of the mission bucket.")
    influx_bucket: str | None = Field(
        default=None, description="Mission bucket; default `names.bucket(namespace, mission)`."
    )
    influx_token: SecretStr = Field(description="InfluxDB token with write on the bucket.")
    alerts_max_records: int = Field(
        default=500, ge=1, le=10_000, description="Most records per poll (per handler call)."
    )
    alerts_fetch_max_wait_ms: int = Field(
        default=200, ge=0, le=10_000, description="Longest a poll waits for records."
    )
    alerts_sweep_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="How often the scheduled event is sent."
    )
    alerts_queue_wait_s: int = Field(
        default=10, ge=0, le=20, description="SQS long-poll wait of the flow-back."
    )
    alerts_condition_resync_s: float = Field(
        default=60.0, gt=0, le=3600, description="How often every Satellite's Alerting is redone."
    )
    alerts_retry_initial_ms: int = Field(
        default=500, ge=1, description="First retry delay after a failed batch; doubles."
    )
    alerts_retry_max_ms: int = Field(
        default=30_000, ge=1, description="Longest delay between two retries of a batch."
    )

    @property
    def bucket(self) -> str:
        return self.influx_bucket or bucket(self.namespace, self.mission)


# -- pure pieces ----------------------------------------------------------------------------------


def kafka_record(message: Any) -> KafkaRecord:
    """An aiokafka ConsumerRecord as the handler's `KafkaRecord`."""
    return KafkaRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value if message.value is not None else b"",
        key=message.key,
        timestamp_ms=int(message.timestamp or 0),
        timestamp_type=_TIMESTAMP_TYPES.get(message.timestamp_type, "CREATE_TIME"),
        headers=tuple((name, bytes(value or b"")) for name, value in message.headers or ()),
    )


def poll_records(polled: Mapping[Any, Sequence[Any]]) -> list[KafkaRecord]:
    """Every record of one `getmany`, partition by partition, in offset order."""
    return [
        kafka_record(m)
        for tp in sorted(polled, key=lambda tp: (tp.topic, tp.partition))
        for m in polled[tp]
    ]


def poll_event(polled: Mapping[Any, Sequence[Any]], *, bootstrap: str) -> dict[str, Any]:
    """The self-managed Kafka event Lambda would deliver for one poll."""
    return build_kafka_event(poll_records(polled), bootstrap_servers=bootstrap)


def scheduled_event(*, now: dt.datetime, region: str, rule: str) -> dict[str, Any]:
    """An EventBridge `Scheduled Event`, as a schedule rule delivers it to a Lambda."""
    account = "000000000000"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


@dataclass(frozen=True)
class CommitPlan:
    """After a handler call: offsets to commit (next to read) and partitions to seek back."""

    commit: dict[tuple[str, int], int]
    seek: dict[tuple[str, int], int]
    failed: int


def commit_plan(records: Sequence[KafkaRecord], response: Mapping[str, Any] | None) -> CommitPlan:
    """What to commit once the handler answered `response` (None: it raised — nothing).

    A partition with a failed record is committed up to (not including) its first failed
    offset and sought back there; the others are committed past their last record.

    >>> rs = [KafkaRecord("t", 0, o, b"") for o in (5, 6, 7)] + [KafkaRecord("t", 1, 9, b"")]
    >>> commit_plan(rs, {"batchItemFailures": [
    ...     {"itemIdentifier": {"partition": "t-0", "offset": 7}},
    ...     {"itemIdentifier": {"partition": "t-0", "offset": 6}}]})
    CommitPlan(commit={('t', 0): 6, ('t', 1): 10}, seek={('t', 0): 6}, failed=2)
    """
    first: dict[tuple[str, int], int] = {}
    last: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        first[tp] = min(first.get(tp, r.offset), r.offset)
        last[tp] = max(last.get(tp, r.offset), r.offset)
    if response is None:
        return CommitPlan(commit={}, seek=dict(first), failed=len(records))
    failed_at: dict[tuple[str, int], int] = {}
    failures = response.get("batchItemFailures") or []
    for failure in failures:
        ident = failure.get("itemIdentifier") or {}
        group, offset = str(ident.get("partition", "")), int(ident.get("offset", -1))
        topic, _, partition = group.rpartition("-")
        tp = (topic, int(partition) if partition.isdigit() else -1)
        if tp not in first:
            # Unidentifiable: all of this poll is retried rather than anything lost.
            return CommitPlan(commit={}, seek=dict(first), failed=len(records))
        failed_at[tp] = min(failed_at.get(tp, offset), offset)
    commit = {tp: failed_at.get(tp, last[tp] + 1) for tp in first}
    return CommitPlan(commit=commit, seek=failed_at, failed=len(failures))


@dataclass
class LocalContext:
    """What the runner passes as Lambda's `context` (the attributes the runtime provides)."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:local:000000000000:function:{FUNCTION_NAME}"
    memory_limit_in_mb: int = 0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/mpcs/{FUNCTION_NAME}"
    log_stream_name: str = "in-cluster"
    deadline_monotonic: float = field(default_factory=lambda: time.monotonic() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "mpcs_alerts_records", "Telemetry records handed to the handler.", registry=registry
        )
        self.batches = Counter(
            "mpcs_alerts_batches", "Handler calls with a Kafka event.", registry=registry
        )
        self.failures = Counter(
            "mpcs_alerts_record_failures",
            "Records the handler reported in batchItemFailures (or all of a call that raised).",
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "mpcs_alerts_handler_seconds",
            "Duration of one handler call.",
            ["event"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.transitions = Counter(
            "mpcs_alerts_transitions",
            "Transitions forwarded from the SQS queue (to Kafka, InfluxDB and Kubernetes).",
            ["transition"],
            registry=registry,
        )
        self.flowback_failures = Counter(
            "mpcs_alerts_flowback_failures",
            "Queue messages not forwarded (left for redelivery), by failing step.",
            ["step"],
            registry=registry,
        )
        self.sweeps = Counter("mpcs_alerts_sweeps", "Scheduled events sent.", registry=registry)
        self.ready = Gauge("mpcs_alerts_ready", "1 while /readyz is green.", registry=registry)


class KafkaEvents:
    """The flow-back's events-topic sink: one idempotent producer, keyed by satellite."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, *, timeout_s: float = 15.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s

    async def send(self, key: str, event: dict[str, Any]) -> None:
        """Send and wait for the broker's acknowledgement (TimeoutError after `timeout_s`: the
        message stays in the queue and is forwarded again)."""
        await asyncio.wait_for(
            self.producer.send_and_wait(self.topic, key=key.encode(), value=orjson.dumps(event)),
            timeout=self.timeout_s,
        )


# -- the process ----------------------------------------------------------------------------------


class AlertsRunner:
    """One runner process: `await run()` until `stop()`; `readiness()` feeds /readyz."""

    def __init__(
        self,
        settings: RunnerSettings,
        alerts: AlertsSettings,
        *,
        handler: Handler | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.alerts = alerts
        self.mission_key = f"{settings.namespace}/{settings.mission}"
        self.topic = settings.topic(Topic.TELEMETRY)
        self.group = settings.consumer_group(COMPONENT)
        if handler is None:
            from .alerts.handler import handler as lambda_handler

            handler = lambda_handler
        self.handler = handler
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-alerts-{settings.mission}",
            security=settings.kafka_security,
        )
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = RunnerMetrics(self.registry)
        self.health = HealthServer(
            readiness=self.readiness, registry=self.registry, port=settings.metrics_port
        )
        self.influx = InfluxBucket(
            url=settings.influx_url,
            org=settings.influx_org,
            bucket=settings.bucket,
            token=settings.influx_token.get_secret_value(),
            timeout_s=10.0,
        )
        self._stopping = asyncio.Event()
        self._handler_lock = asyncio.Lock()
        #: Set once the mission's queue is subscribed: before that a transition the handler
        #: publishes would reach SNS but never flow back, so the handler is not called.
        self._queue_ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._problems: dict[str, str] = {
            "kafka": "connecting to Kafka",
            "queue": "SQS queue not set up yet",
        }
        self.handled_records = 0

    def stop(self) -> None:
        """Finish the running handler call, commit, and exit (what SIGTERM does)."""
        self._stopping.set()

    def readiness(self) -> Readiness:
        problems = {k: v for k, v in self._problems.items() if v}
        self.metrics.ready.set(0 if problems else 1)
        return Readiness(
            ready=not problems,
            reason="; ".join(f"{k}: {v}" for k, v in problems.items()),
            detail={"topic": self.topic, "group": self.group, "mission": self.mission_key},
        )

    async def run(self) -> None:
        await self.health.start()
        if self.mission_key not in self.alerts.alerts_missions:
            log.warning(
                "MPCS_ALERTS_MISSIONS has no entry for %s: its telemetry is consumed but no "
                "rule applies",
                self.mission_key,
            )
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await self._start_kafka():
                return
            tasks = [
                asyncio.create_task(self._consume_loop(), name="alerts-consume"),
                asyncio.create_task(self._sweep_loop(), name="alerts-sweep"),
                asyncio.create_task(self._flowback_loop(), name="alerts-flowback"),
            ]
            stopped = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait({*tasks, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopped}:
                if not task.cancelled() and task.exception() is not None:
                    log.error("task %s failed", task.get_name(), exc_info=task.exception())
            self._stopping.set()
            stopped.cancel()
            # The consumer ends its current call and commit itself; the others just stop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(tasks[0], return_exceptions=True), 30.0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in (self._consumer, self._producer):
                if client is not None:
                    await close_quietly(client)
            await self.influx.close()
            await self.health.stop()
            log.info("stopped after %d records", self.handled_records)

    async def _start_kafka(self) -> bool:
        def problem(text: str) -> None:
            self._problems["kafka"] = text

        async def subscribe(consumer: AIOKafkaConsumer) -> None:
            consumer.subscribe([self.topic])

        self._consumer = await self.kafka.start(
            lambda: self.kafka.consumer(
                group_id=self.group,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self.settings.alerts_fetch_max_wait_ms,
            ),
            what="telemetry consumer",
            setup=subscribe,
            stop=self._stopping,
            on_failure=problem,
        )
        if self._consumer is None:
            return False
        self._producer = await self.kafka.start(
            lambda: self.kafka.producer(name="events", linger_ms=0),
            what="events producer",
            stop=self._stopping,
            on_failure=problem,
        )
        if self._producer is None:
            return False
        self._problems["kafka"] = ""
        log.info("consuming %s as group %s", self.topic, self.group)
        return True

    # -- consume ---------------------------------------------------------------------------------

    async def _call(self, event: dict[str, Any], *, kind: str) -> dict[str, Any]:
        async with self._handler_lock:
            started = time.monotonic()
            try:
                return await asyncio.to_thread(self.handler, event, LocalContext())
            finally:
                self.metrics.handler_seconds.labels(kind).observe(time.monotonic() - started)

    async def _consume_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        longest = self.settings.alerts_retry_max_ms / 1000
        backoff = Backoff(
            initial_s=min(self.settings.alerts_retry_initial_ms / 1000, longest), max_s=longest
        )
        # No poll before the queue is subscribed (normally seconds; if AWS stays away longer than
        # max.poll.interval.ms the consumer leaves the group and rejoins on its first poll).
        while not self._queue_ready.is_set() and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue_ready.wait(), timeout=1.0)
        while not self._stopping.is_set():
            polled = await consumer.getmany(
                timeout_ms=500, max_records=self.settings.alerts_max_records
            )
            if not polled:
                continue
            records = poll_records(polled)
            event = build_kafka_event(records, bootstrap_servers=self.settings.kafka_bootstrap)
            response: dict[str, Any] | None
            try:
                response = await self._call(event, kind="kafka")
            except Exception:
                log.exception("handler raised on %d records; the poll is retried", len(records))
                response = None
            plan = commit_plan(records, response)
            self.metrics.batches.inc()
            self.metrics.records.inc(len(records))
            self.handled_records += len(records)
            await self._commit(consumer, plan.commit)
            for (topic, partition), offset in plan.seek.items():
                consumer.seek(TopicPartition(topic, partition), offset)
            if plan.failed:
                self.metrics.failures.inc(plan.failed)
                delay = backoff.next_delay()
                log.warning(
                    "%d of %d records failed; retrying from offsets %s in %.1f s",
                    plan.failed,
                    len(records),
                    {f"{t}-{p}": o for (t, p), o in plan.seek.items()},
                    delay,
                )
                await sleep(delay, self._stopping)
            else:
                backoff.reset()

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[tuple[str, int], int]
    ) -> None:
        if not offsets:
            return
        assignment = consumer.assignment()
        mine = {
            TopicPartition(t, p): o
            for (t, p), o in offsets.items()
            if TopicPartition(t, p) in assignment
        }
        for attempt in range(3):
            try:
                await consumer.commit(mine)
                return
            except (CommitFailedError, IllegalStateError) as exc:
                log.info("commit skipped after a rebalance (%s); the batch is re-read", exc)
                return
            except KafkaError as exc:
                log.warning("commit failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5 * 2**attempt)

    # -- sweep -----------------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        region = self.alerts.aws_region or "local"
        while not self._stopping.is_set():
            await sleep(self.settings.alerts_sweep_interval_s, self._stopping)
            if self._stopping.is_set():
                return
            if not self._queue_ready.is_set():
                continue  # a stale transition published now would not flow back either
            event = scheduled_event(now=dt.datetime.now(dt.UTC), region=region, rule=FUNCTION_NAME)
            try:
                answer = await self._call(event, kind="schedule")
            except Exception:
                log.exception("scheduled sweep failed; the next one tries again")
                continue
            self.metrics.sweeps.inc()
            log.debug("sweep: %s", answer)

    # -- flow back -------------------------------------------------------------------------------

    async def _flowback_loop(self) -> None:
        from mpcs.kit.kube import load_client

        assert self._producer is not None
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        while True:  # a setup problem makes the flow-back (and /readyz) wait, never the alerts
            try:
                sqs, sns, table = await asyncio.to_thread(_aws_clients, self.alerts)
                api = await asyncio.to_thread(load_client)
            except Exception as exc:
                self._problems["queue"] = f"flow-back clients not set up: {exc}"
                log.warning("alerts flow-back not set up (%s); retrying", exc)
                await backoff.wait(self._stopping)
                if self._stopping.is_set():
                    return
                continue
            break
        try:
            await self._flow_back(api, sqs=sqs, sns=sns, table=table)
        finally:
            api.close()  # type: ignore[no-untyped-call]

    async def _flow_back(self, api: Any, *, sqs: Any, sns: Any, table: Any) -> None:
        from .flowback import FlowBack
        from .kube import KubeSatellites

        assert self._producer is not None
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        flow = FlowBack(
            namespace=self.settings.namespace,
            mission=self.settings.mission,
            topic_arn=self.alerts.alerts_topic_arn,
            sqs=sqs,
            sns=sns,
            table=table,
            satellites=KubeSatellites(
                api, namespace=self.settings.namespace, mission=self.settings.mission
            ),
            events=KafkaEvents(self._producer, self.settings.topic(Topic.EVENTS)),
            lines=self.influx,
            wait_s=self.settings.alerts_queue_wait_s,
        )
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(flow.ensure_queue)
                break
            except Exception as exc:
                self._problems["queue"] = f"SQS queue not set up: {exc}"
                log.warning("alerts queue not set up (%s); retrying", exc)
                await backoff.wait(self._stopping)
        self._problems["queue"] = ""
        self._queue_ready.set()
        backoff.reset()
        next_resync = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_resync:
                try:
                    checked = await flow.resync_conditions()
                    log.debug("Alerting re-asserted on %d satellites", checked)
                except Exception as exc:
                    log.warning("Alerting conditions not re-asserted: %s", exc)
                next_resync = time.monotonic() + self.settings.alerts_condition_resync_s
            try:
                messages = await asyncio.to_thread(flow.receive)
            except Exception as exc:
                self._problems["queue"] = f"SQS receive failed: {exc}"
                log.warning("alerts queue receive failed: %s", exc)
                await backoff.wait(self._stopping)
                continue
            self._problems["queue"] = ""
            backoff.reset()
            for message in messages:
                done = await flow.deliver(message)
                if done.deleted and done.transition is not None:
                    self.metrics.transitions.labels(done.transition.transition).inc()
                elif done.failed_step is not None:
                    self.metrics.flowback_failures.labels(done.failed_step).inc()


def _aws_clients(settings: AlertsSettings) -> tuple[Any, Any, Any]:
    import boto3

    from mpcs.kit.alerts_table import AlertTable

    kwargs: dict[str, Any] = {}
    if settings.aws_region:
        kwargs["region_name"] = settings.aws_region
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return (
        boto3.client("sqs", **kwargs),
        boto3.client("sns", **kwargs),
        AlertTable(boto3.client("dynamodb", **kwargs), settings.alerts_table),
    )
