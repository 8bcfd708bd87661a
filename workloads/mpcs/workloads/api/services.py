"""Everything the command API's routes use, built once per app and started by its lifespan.

`Services.real(settings)` wires the real adapters (Kafka, InfluxDB, the Kubernetes API); unit tests
build `Services` from in-memory stand-ins instead and never start the background tasks.

Background tasks (started by `start()`, all reconnecting on their own):
- the producer's start-up (the API serves reads before Kafka answers; POSTs get 503 until then);
- the telemetry feed (latest-value cache + WebSocket fan-out);
- the command feed (commands and acks into the command store, acks audited);
- the audit writer (InfluxDB `commands` points);
- the readiness probe (Kafka metadata + InfluxDB /health every 2 s, behind `/readyz`);
- the command-history restore from InfluxDB (retried until it works once);
- the CommandPlan executor (`mpcs.workloads.executor.run_executor`) when enabled and installed;
- the control feed (the events topic from its beginning into `ControlLog`: command authority and
  two-person approvals, `control.py`) and its sweeper (expires approvals nobody gave in time,
  renews long-held authority).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mpcs.core.commands import Ack, Command, CommandState
from mpcs.core.names import Topic
from mpcs.core.telemetry import TelemetryError
from mpcs.kit.backoff import Backoff
from mpcs.kit.health import Readiness
from mpcs.orbit.timeutil import ns_from_datetime

from ..settings import WorkloadSettings
from .audit import AuditWriter, command_line, records_from_rows
from .auth import Tokens
from .control import ControlLog, iso
from .kube import Directory, KubeSource
from .metrics import ApiMetrics
from .models import Role
from .principals import NamedTokens, Principal, parse_users
from .store import CommandEvent, CommandRecord, CommandStore, IdempotencyStore, utc_from_ms
from .telemetry_cache import TelemetryCache

log = logging.getLogger("mpcs.workloads.api")

EXECUTOR_MODULE = "mpcs.workloads.executor"
#: How far back the command feed re-reads commands and acks at start (a restart's gap).
COMMAND_FEED_LOOKBACK_S = 600.0


class Bus(Protocol):
    """Where commands and audit events go (Kafka; a list in unit tests)."""

    async def send_command(self, command: Command) -> datetime: ...

    def send_event(self, key: str, event: dict[str, Any]) -> None: ...

    async def check(self) -> None: ...


class Store(Protocol):
    """InfluxDB as the API uses it."""

    async def ping(self) -> None: ...

    async def write(self, lines: list[str]) -> None: ...

    async def latest(self, satellite: str) -> list[dict[str, Any]]: ...

    async def series(
        self, satellite: str, channel: str, *, start: str, stop: str, every: str, fn: str
    ) -> list[dict[str, Any]]: ...

    async def commands(
        self, *, start: str, command_id: str | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass
class Services:
    settings: WorkloadSettings
    tokens: Tokens
    directory: Directory
    influx: Store
    bus: Bus
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    store: CommandStore = field(default_factory=CommandStore)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    telemetry: TelemetryCache = field(default_factory=TelemetryCache)
    audit: AuditWriter | None = None
    #: The alerts table (`mpcs.kit.alerts_table.AlertTable`); None: built from the settings on
    #: first use (`alert_table()`).
    alerts: Any = None
    checks: dict[str, str] = field(default_factory=dict)
    #: Personal tokens (token → principal) from MPCS_API_USERS; kept across token rotations.
    users: dict[str, Principal] = field(default_factory=dict)
    #: Command authority and approvals (built in __post_init__).
    control: ControlLog | None = None
    restored: bool = False
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.audit is None:
            self.audit = AuditWriter(
                self.influx,
                on_drop=lambda n: self.metrics.audit_dropped.inc(n),
                on_pending=lambda n: self.metrics.audit_pending.set(n),
            )
        self.store.capacity = self.settings.api_command_history
        self.idempotency.ttl_s = self.settings.api_idempotency_ttl_s
        self.telemetry._on_drop = self.metrics.ws_dropped.inc
        self.tokens = self.tokens  # wraps them with the personal tokens (__setattr__)
        if self.control is None:
            self.control = ControlLog(publish=self._publish_control)
            if not hasattr(self.bus, "publish_event"):
                # No Kafka to fold from (unit tests): the log folds what it writes at once.
                self.control.caught_up.set()

    def __setattr__(self, name: str, value: Any) -> None:
        # Rotated tokens (`security.Guard.apply_tokens`) replace `tokens`: the personal tokens,
        # which come from MPCS_API_USERS only, stay in force with whatever shared ones arrive.
        if name == "tokens" and getattr(self, "users", None) and not isinstance(value, NamedTokens):
            value = NamedTokens.extend(value, self.users)
        super().__setattr__(name, value)

    async def _publish_control(self, key: str, event: dict[str, Any]) -> None:
        publish = getattr(self.bus, "publish_event", None)
        if publish is not None:
            await publish(key, event)  # the control feed folds it, like every replica
            return
        self.bus.send_event(key, event)
        assert self.control is not None
        self.control.on_event(event)

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def real(cls, settings: WorkloadSettings) -> Services:
        from mpcs.kit.kafka import KafkaClients

        from .influx import Influx
        from .kafka import KafkaBus

        influx = Influx(
            url=settings.influx_url,
            org=settings.influx_org,
            bucket=settings.bucket,
            token=settings.influx_token.get_secret_value(),
        )
        bus = KafkaBus(
            kafka=KafkaClients(
                settings.kafka_bootstrap,
                client_id=f"mpcs-api-{settings.mission}",
                security=settings.kafka_security,
            ),
            commands_topic=settings.topic(Topic.COMMANDS),
            events_topic=settings.topic(Topic.EVENTS),
            timeout_s=settings.api_send_timeout_s,
        )
        source = KubeSource(settings.namespace)
        services = cls(
            settings=settings,
            tokens=tokens_of(settings),
            directory=Directory(source, mission=settings.mission, ttl_s=settings.api_cache_s),
            influx=influx,
            bus=bus,
            users=users_of(settings),
        )

        async def close_source() -> None:
            source.close()

        services._closers += [bus.stop, influx.close, close_source]
        return services

    def alert_table(self) -> Any:
        """The alerts table; built on first use, so a missing AWS setting fails only the alert
        routes (503), never the rest of the API. Blocking: call it off the event loop."""
        if self.alerts is None:
            import boto3

            from mpcs.kit.alerts_table import AlertTable

            settings = self.settings
            kwargs: dict[str, Any] = {}
            if settings.aws_region:
                kwargs["region_name"] = settings.aws_region
            if settings.aws_endpoint_url:
                kwargs["endpoint_url"] = settings.aws_endpoint_url
            self.alerts = AlertTable(boto3.client("dynamodb", **kwargs), settings.alerts_table)
        return self.alerts

    # --- life cycle -----------------------------------------------------------------------------

    def _spawn(self, factory: Callable[[], Awaitable[Any]], name: str) -> None:
        async def guarded() -> None:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s crashed", name)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def start(self) -> None:
        """Start every background task (returns at once; readiness follows)."""
        from .kafka import KafkaBus, run_command_feed, run_control_feed, run_telemetry_feed

        settings = self.settings
        assert self.audit is not None
        self.audit.start()
        if isinstance(self.bus, KafkaBus):
            bus = self.bus
            self._spawn(bus.run_start, "api-producer-start")
            self._spawn(
                lambda: run_telemetry_feed(
                    kafka=bus.kafka,
                    topic=settings.topic(Topic.TELEMETRY),
                    on_message=self.on_telemetry,
                    on_invalid=self.on_invalid_telemetry,
                ),
                "api-telemetry-feed",
            )
            self._spawn(
                lambda: run_command_feed(
                    kafka=bus.kafka,
                    commands_topic=settings.topic(Topic.COMMANDS),
                    acks_topic=settings.topic(Topic.ACKS),
                    lookback_s=COMMAND_FEED_LOOKBACK_S,
                    on_command=self.on_command,
                    on_ack=self.on_ack,
                ),
                "api-command-feed",
            )
            control = self.control
            assert control is not None
            self._spawn(
                lambda: run_control_feed(
                    kafka=bus.kafka,
                    topic=settings.topic(Topic.EVENTS),
                    on_event=control.on_event,
                    caught_up=control.caught_up,
                ),
                "api-control-feed",
            )
            self._spawn(self._control_sweeper, "api-control-sweeper")
        self._spawn(self._probe_loop, "api-readiness")
        self._spawn(self._restore_loop, "api-restore")
        if settings.executor_enabled:
            self._start_executor()

    async def stop(self) -> None:
        self._stop.set()
        executor = [t for t in self._tasks if t.get_name() == "api-executor"]
        if executor:
            # The executor got the stop event: give it a moment to finish its step cleanly.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*executor, return_exceptions=True), 10.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.audit is not None:
            await self.audit.stop()
        await self.directory.close()
        for close in self._closers:
            with contextlib.suppress(Exception):
                await close()

    def _start_executor(self) -> None:
        if importlib.util.find_spec(EXECUTOR_MODULE) is None:
            log.info("CommandPlan executor not installed (%s); not started", EXECUTOR_MODULE)
            return
        try:
            module = importlib.import_module(EXECUTOR_MODULE)
            run: Callable[..., Awaitable[None]] = module.run_executor
        except Exception:  # a broken executor must not take the command API down with it
            log.exception("CommandPlan executor cannot be loaded; the API runs without it")
            return

        async def supervise() -> None:
            backoff = Backoff(initial_s=1.0, max_s=30.0)
            while not self._stop.is_set():
                try:
                    await run(self.settings, stop=self._stop)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    delay = backoff.next_delay()
                    log.exception("CommandPlan executor crashed; restarting in %.0f s", delay)
                    await asyncio.sleep(delay)

        self._tasks.append(asyncio.create_task(supervise(), name="api-executor"))
        log.info("CommandPlan executor started")

    async def _control_sweeper(self) -> None:
        """Expire approvals past their deadline; renew authority the topic would forget."""
        control = self.control
        assert control is not None
        await control.caught_up.wait()
        system = Principal("mpcs-api", Role.ADMIN)
        while True:
            now = datetime.now(UTC)
            try:
                for approval in control.state.due(now):
                    await control.note(
                        kind="approval",
                        action="expire",
                        satellite=approval.command.satellite,
                        principal=system,
                        commandId=str(approval.command.id),
                        issuer=approval.issuer,
                        command=approval.command.model_dump(mode="json"),
                    )
                for satellite, holding in control.state.stale(now):
                    await control.note(
                        kind="authority",
                        action="renew",
                        satellite=satellite,
                        principal=system,
                        holder=holding.holder,
                        holderRole=holding.role,
                        since=iso(holding.since),
                    )
                control.state.forget(now - timedelta(days=1))
            except Exception as exc:  # Kafka away: the next round tries again
                log.warning("control sweep failed (%r)", exc)
            await asyncio.sleep(1.0)

    # --- readiness ------------------------------------------------------------------------------

    async def probe(self) -> dict[str, str]:
        """Ask Kafka and InfluxDB once; `ok` or the reason per dependency."""
        checks: dict[str, str] = {}
        for name, call in (("kafka", self.bus.check), ("influxdb", self.influx.ping)):
            try:
                await call()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = str(exc) or type(exc).__name__
        self.checks = checks
        self.metrics.ready.set(1 if self.ready else 0)
        return checks

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(v == "ok" for v in self.checks.values())

    def readiness(self) -> Readiness:
        """The last probe's answer, for the kit's health server on MPCS_METRICS_PORT."""
        failing = {k: v for k, v in self.checks.items() if v != "ok"}
        reason = "; ".join(f"{k}: {v}" for k, v in failing.items())
        if not self.checks:
            reason = "Kafka and InfluxDB not checked yet"
        return Readiness(ready=self.ready, reason=reason, detail={"checks": self.checks})

    async def _probe_loop(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(2.0)

    async def _restore_loop(self) -> None:
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        while not self.restored:
            try:
                await self.restore()
            except Exception as exc:
                log.warning("command history not restored yet (%s); retrying", exc)
                await backoff.wait()

    async def restore(self) -> int:
        """Reload the command history (and idempotency keys) from InfluxDB `commands`."""
        hours = self.settings.api_restore_hours
        if hours <= 0:
            self.restored = True
            return 0
        rows = await self.influx.commands(start=f"-{int(hours * 3600)}s")
        records, keys = records_from_rows(rows)
        for record in records:
            self.store.add(record)
        self.idempotency.restore(keys)
        self.restored = True
        log.info("restored %d commands from InfluxDB", len(records))
        return len(records)

    # --- feeds ----------------------------------------------------------------------------------

    def on_telemetry(self, message: dict[str, Any], raw: bytes) -> None:
        self.metrics.telemetry_messages.inc()
        self.telemetry.update(message, raw)

    def on_invalid_telemetry(self, _exc: TelemetryError) -> None:
        self.metrics.telemetry_invalid.inc()

    def on_command(self, command: Command, timestamp_ms: int) -> None:
        """A command on the topic (ours, another replica's or the executor's)."""
        self.store.add(record_of(command, sent_at=utc_from_ms(timestamp_ms)))

    def on_ack(self, ack: Ack, _timestamp_ms: int) -> None:
        seen = datetime.now(UTC)
        known = self.store.get(ack.command_id)
        is_new = known is None or all(e.state != ack.state.value for e in known.history)
        record = self.store.apply(
            ack.command_id,
            ack.state.value,
            time=seen,
            reason=ack.reason,
            spacecraft_time=ack.time,
            satellite=ack.satellite,
            name=ack.name,
        )
        if not is_new:
            return
        self.metrics.acks.labels(ack.state.value).inc()
        assert self.audit is not None
        self.audit.add(
            command_line(
                record=record,
                state=ack.state.value,
                time_ns=ns_from_datetime(ack.time),
                who=record.issued_by,
                reason=ack.reason,
                spacecraft_time=ack.time,
            )
        )


def record_of(command: Command, *, sent_at: datetime | None = None) -> CommandRecord:
    record = CommandRecord(
        id=command.id,
        satellite=command.satellite,
        name=command.name,
        args=dict(command.args),
        issued_by=command.issued_by,
        issued_at=command.issued_at,
        valid_until=command.valid_until,
        plan=command.plan,
        step=command.step,
    )
    if sent_at is not None:
        record.add_event(CommandEvent(state=CommandState.SENT, time=sent_at))
    return record


def tokens_of(settings: WorkloadSettings) -> Tokens:
    def value(secret: Any) -> str | None:
        return None if secret is None else str(secret.get_secret_value()) or None

    return Tokens.from_values(
        viewer=value(settings.api_token_viewer),
        operator=value(settings.api_token_operator),
        admin=value(settings.api_token_admin),
    )


def users_of(settings: WorkloadSettings) -> dict[str, Principal]:
    """Personal tokens from MPCS_API_USERS (a malformed entry stops the service at start)."""
    secret = getattr(settings, "api_users", None)
    return parse_users(secret.get_secret_value()) if secret is not None else {}
