"""The CommandPlan executor process loop: Kubernetes status ⇄ rules ⇄ Kafka commands and acks.

Started by the command service's lifespan (`run_executor(settings, stop=...)`) or on its own with
`python -m mpcs.workloads.executor`. One loop does everything in order, so there is a single writer
of each plan's status in the process:

1. read the mission's CommandPlans (a fresh list every `executor_poll_s`, or after a conflict);
2. for each plan, `rules.reconcile()` with the acks seen so far and the current time;
3. write the new status (merge patch with a resourceVersion precondition) and, only once that
   write succeeded, publish the command it asked for (idempotent producer, acks=all, key =
   satellite) — so a crash between the two leaves a `sent` step that is waited for, never resent;
4. sleep until the next due step or deadline, an ack for a watched command, or the poll interval.

Acks are read from the mission's acks topic with manually assigned partitions (no consumer group):
from the end at start, or — when some step is in flight after a restart — from a little before the
earliest in-flight `sentAt`, so acks that arrived while the executor was down are not missed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from kubernetes.client import ApiClient
from pydantic import ValidationError

from mpcs.core.commands import Ack, Command, utc_now
from mpcs.core.names import Topic
from mpcs.core.resources.commandplan import StepState
from mpcs.kit.backoff import Backoff
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.kube import load_client
from mpcs.orbit.timeutil import parse_rfc3339
from mpcs.workloads.settings import WorkloadSettings

from .kube import Conflict, PlanStore
from .rules import (
    IN_FLIGHT_STATES,
    PlanView,
    ReceivedAck,
    SendRequest,
    reconcile,
    state_of,
    valid_until,
)

log = logging.getLogger("mpcs.executor")

#: How far before the earliest in-flight sentAt the ack replay starts (clock skew, batching).
REPLAY_MARGIN_S = 30.0
#: Retry delay of a publish that failed in this process.
PUBLISH_RETRY_S = 1.0


class AckBook:
    """Acks of watched command ids, oldest first, bounded (ids of finished steps are dropped)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.watched: set[str] = set()
        self._by_id: collections.OrderedDict[str, list[ReceivedAck]] = collections.OrderedDict()
        self._limit = limit

    def add(self, received: ReceivedAck) -> bool:
        """Record an ack; True when it is for a watched command (the loop should wake)."""
        cid = str(received.ack.command_id)
        if cid not in self.watched:
            return False
        self._by_id.setdefault(cid, []).append(received)
        self._by_id.move_to_end(cid)
        while len(self._by_id) > self._limit:
            self._by_id.popitem(last=False)
        return True

    def watch(self, ids: set[str]) -> None:
        """The in-flight command ids; acks of other ids are ignored from now on."""
        self.watched = set(ids)
        for cid in [c for c in self._by_id if c not in ids]:
            del self._by_id[cid]

    def view(self) -> Mapping[str, Sequence[ReceivedAck]]:
        return self._by_id


class Executor:
    """Executes one mission's CommandPlans; `await run(stop)` until `stop` is set."""

    def __init__(
        self,
        settings: WorkloadSettings,
        *,
        kube: ApiClient,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.store = PlanStore(kube, namespace=settings.namespace, mission=settings.mission)
        self.commands_topic = settings.topic(Topic.COMMANDS)
        self.acks_topic = settings.topic(Topic.ACKS)
        self.kafka = KafkaClients(
            settings.kafka_bootstrap,
            client_id=f"mpcs-executor-{settings.mission}",
            security=settings.kafka_security,
        )
        self.clock = clock
        self.acks = AckBook()
        self.plans: dict[str, dict[str, Any]] = {}
        self.ready = asyncio.Event()
        """Set once the plans were read and Kafka answers (for the service's /readyz)."""
        self.stats: collections.Counter[str] = collections.Counter()
        self._wake = asyncio.Event()
        self._unpublished: dict[str, SendRequest] = {}
        self._published: set[str] = set()
        self._producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        waker = asyncio.create_task(self._wake_on(stop), name="executor-stop")
        consumer: AIOKafkaConsumer | None = None
        ack_task: asyncio.Task[None] | None = None
        try:
            await self._refresh(stop, retry=True)
            if stop.is_set():
                return
            self._producer = await self.kafka.start(
                lambda: self.kafka.producer(request_timeout_ms=10_000, retry_backoff_ms=250),
                what="command producer",
                stop=stop,
            )
            consumer = await self.kafka.start(
                # No consumer group: every partition of the topic is assigned to this consumer
                # and the start offsets are chosen here (nothing is committed; the plan status
                # is the record).
                lambda: self.kafka.consumer(
                    self.acks_topic, name="acks", group_id=None, auto_offset_reset="latest"
                ),
                what="acks consumer",
                setup=self._position,
                stop=stop,
            )
            if stop.is_set() or self._producer is None or consumer is None:
                return
            ack_task = asyncio.create_task(self._consume(consumer), name="executor-acks")
            self.ready.set()
            log.info(
                "executor started",
                extra={"mission": self.settings.mission, "plans": len(self.plans)},
            )
            await self._loop(stop)
        finally:
            self.ready.clear()
            waker.cancel()
            if ack_task is not None:
                ack_task.cancel()
            await asyncio.gather(waker, *([ack_task] if ack_task else []), return_exceptions=True)
            for client in (consumer, self._producer):
                if client is not None:
                    await close_quietly(client)
            log.info("executor stopped", extra={"mission": self.settings.mission, **self.stats})

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        """Start at the end of the acks, or a little before the earliest step still in flight."""
        tps = sorted(consumer.assignment())
        if not tps:
            raise KafkaError(f"topic {self.acks_topic} does not exist (yet)")
        # Let the initial reset (to the end) finish first, so no pending reset can later undo the
        # replay seek below.
        for tp in tps:
            await consumer.position(tp)
        since = self._replay_from()
        if since is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            for tp in tps:
                hit = found.get(tp)
                if hit is not None:  # else nothing that recent: stay at the end
                    consumer.seek(tp, hit.offset)
            log.info(
                "replaying acks of in-flight steps",
                extra={"since": since.isoformat(), "watched": len(self.acks.watched)},
            )
        for tp in tps:
            await consumer.position(tp)  # the start offsets are known before any publish

    def _replay_from(self) -> dt.datetime | None:
        """A little before the earliest sentAt of a step in flight, if any."""
        sent = [
            parse_rfc3339(str(step["sentAt"]))
            for obj in self.plans.values()
            for step in (obj.get("status") or {}).get("schedule") or []
            if state_of(step) in IN_FLIGHT_STATES and step.get("sentAt")
        ]
        return min(sent) - dt.timedelta(seconds=REPLAY_MARGIN_S) if sent else None

    # ------------------------------------------------------------------ acks
    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except Exception as exc:  # never let the ack reader die: plans would only expire
                log.warning("acks consumer error; retrying", extra={"error": str(exc)[:300]})
                await asyncio.sleep(1.0)
                continue
            woke = False
            for records in batches.values():
                for record in records:
                    try:
                        ack = Ack.model_validate_json(record.value)
                    except ValidationError as exc:
                        self.stats["invalid_acks"] += 1
                        log.warning(
                            "invalid ack ignored",
                            extra={"offset": record.offset, "error": str(exc)[:300]},
                        )
                        continue
                    when = (
                        dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
                        if record.timestamp and record.timestamp > 0
                        else self.clock()
                    )
                    if self.acks.add(ReceivedAck(ack=ack, received_at=when)):
                        self.stats["acks"] += 1
                        woke = True
            if woke:
                self._wake.set()

    # ------------------------------------------------------------------ plans
    async def _refresh(self, stop: asyncio.Event, *, retry: bool) -> bool:
        """Re-read the mission's plans; False when the apiserver did not answer."""
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        while not stop.is_set():
            try:
                objs = await self.store.list()
            except Exception as exc:  # the apiserver or the network is down: keep going
                log.warning("cannot list CommandPlans", extra={"error": str(exc)[:300]})
                if not retry:
                    return False
                await backoff.wait(stop)
                continue
            fresh = {str(o["metadata"]["name"]): o for o in objs}
            for name in self.plans.keys() - fresh.keys():
                log.info("plan deleted; not executing it any further", extra={"plan": name})
            self.plans = fresh
            self._watch()
            return True
        return False

    def _watch(self) -> None:
        ids: set[str] = set()
        for obj in self.plans.values():
            for step in (obj.get("status") or {}).get("schedule") or []:
                if state_of(step) in IN_FLIGHT_STATES and step.get("commandId"):
                    ids.add(str(step["commandId"]))
        self.acks.watch(ids)
        for cid in [c for c in self._unpublished if c not in ids]:
            del self._unpublished[cid]

    async def _loop(self, stop: asyncio.Event) -> None:
        poll_s = self.settings.executor_poll_s
        last_list = time.monotonic()
        while not stop.is_set():
            due = time.monotonic() - last_list >= poll_s
            if due and await self._refresh(stop, retry=False):
                last_list = time.monotonic()
            wake_at: list[dt.datetime] = []
            stale = False
            for name in sorted(self.plans):
                try:
                    when = await self._reconcile(name)
                except Conflict:
                    stale = True
                    continue
                except Exception:
                    # An apiserver outage: the plan is tried again on the next pass.
                    log.exception("cannot reconcile plan", extra={"plan": name})
                    stale = True
                    continue
                if when is not None:
                    wake_at.append(when)
            self._watch()
            if stale:
                last_list = 0.0
                wake_at.append(self.clock() + dt.timedelta(seconds=PUBLISH_RETRY_S))
            if self._unpublished:
                wake_at.append(self.clock() + dt.timedelta(seconds=PUBLISH_RETRY_S))
            timeout = poll_s
            if wake_at:
                timeout = min(timeout, max(0.0, (min(wake_at) - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout + 0.001)
            self._wake.clear()

    async def _reconcile(self, name: str) -> dt.datetime | None:
        obj = self.plans[name]
        view = PlanView.from_object(obj)
        await self._retry_unpublished(view)
        outcome = reconcile(
            view,
            now=self.clock(),
            acks=self.acks.view(),
            ack_grace_s=self.settings.executor_ack_grace_s,
        )
        if not outcome.changed:
            return outcome.wake_at
        if outcome.send is not None:
            # Watch the id before the command can be answered.
            self.acks.watched.add(str(outcome.send.command_id))
        try:
            updated = await self.store.patch_status(
                name,
                resource_version=str(obj["metadata"]["resourceVersion"]),
                status=outcome.status,
            )
        except Conflict as exc:
            self.stats["conflicts"] += 1
            log.info(
                "plan changed meanwhile; reading it again", extra={"plan": name, "why": str(exc)}
            )
            raise
        self.stats["status_writes"] += 1
        self.plans[name] = updated
        for event in outcome.events:
            log.info(event, extra={"plan": name, "phase": outcome.status.get("phase")})
        if outcome.send is not None:
            await self._publish(outcome.send)
        return outcome.wake_at

    # ------------------------------------------------------------------ publishing
    async def _publish(self, request: SendRequest) -> None:
        cid = str(request.command_id)
        if cid in self._published:  # never twice from one process, whatever the status says
            return
        command = Command(
            id=request.command_id,
            satellite=request.satellite,
            name=request.command,
            args=request.args,
            issued_by=f"plan:{request.plan}",
            issued_at=self.clock(),
            valid_until=request.valid_until,
            plan=request.plan,
            step=request.step,
        )
        assert self._producer is not None
        try:
            await self._producer.send_and_wait(
                self.commands_topic,
                value=command.model_dump_json().encode(),
                key=request.satellite.encode(),
            )
        except KafkaError as exc:
            # Only this process knows the command may not have reached the broker; it retries
            # with the same id until the step's deadline (the spacecraft drops a repeated id).
            self._unpublished[cid] = request
            self.stats["publish_errors"] += 1
            log.warning(
                "publish failed; retrying",
                extra={"plan": request.plan, "step": request.step, "error": str(exc)},
            )
            return
        self._unpublished.pop(cid, None)
        self._published.add(cid)
        self.stats["commands_sent"] += 1
        log.info(
            "command published",
            extra={
                "plan": request.plan,
                "step": request.step,
                "command": request.command,
                "command_id": cid,
                "satellite": request.satellite,
                "valid_until": request.valid_until.isoformat(),
            },
        )

    async def _retry_unpublished(self, view: PlanView) -> None:
        for step in view.status.get("schedule") or []:
            cid = str(step.get("commandId") or "")
            request = self._unpublished.get(cid)
            if request is None:
                continue
            if state_of(step) is not StepState.SENT or self.clock() >= valid_until(view.spec, step):
                del self._unpublished[cid]
                continue
            await self._publish(request)


async def run_executor(
    settings: WorkloadSettings,
    *,
    stop: asyncio.Event,
    kube: ApiClient | None = None,
) -> None:
    """Execute the mission's CommandPlans until `stop` is set (the command service's lifespan).

    `kube` defaults to in-cluster credentials, else $KUBECONFIG.
    """
    own = kube is None
    api = await asyncio.to_thread(load_client) if kube is None else kube
    try:
        await Executor(settings, kube=api).run(stop)
    finally:
        if own:
            api.close()  # type: ignore[no-untyped-call]
