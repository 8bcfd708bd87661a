"""The command audit trail: InfluxDB `commands` points and `events` topic messages.

Every command the API handles leaves a point in the mission bucket's `commands` measurement and an
event on the mission's `events` topic — who (the role), what (satellite, command, args), when, and
the result (`sent`, `refused` with the HTTP status and reason, `send_failed`); every ack the service
sees adds a point with the new state. The points are also how the service gets its command history
back after a restart (`records_from_rows`).

Schema of a `commands` point (line protocol):

    commands,satellite=<sat>,command=<NAME>,state=<state>,id=<uuid> who="operator",args="{…}",
        issued_at="…",valid_until="…",reason="…",spacecraft_time="…",idempotency_key="…",
        fingerprint="…",plan="…",step="…",result="…" <time ns>

Tags: satellite, command, state, id (so two points never share a series and time). Time: when
the state was seen (for acks, the spacecraft time of the ack, so that replicas writing the same
ack write the same point).

Writes go through a bounded in-memory buffer flushed by one task with retries, so a slow or
unreachable InfluxDB never slows a POST. The task lets a burst gather for `linger_s` (100 ms) and
writes it as one request (at most 5,000 points each): at 100 commands/s, one write per tenth of a
second instead of one per point. A point leaves the buffer only once InfluxDB accepted it, and
shutdown flushes what is left. Only on a long outage are the oldest points dropped (counted in
`mpcs_api_audit_dropped_total`) rather than the service's memory growing without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import enum
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from mpcs.core.commands import CommandState
from mpcs.core.names import COMMANDS_MEASUREMENT, SATELLITE_TAG
from mpcs.kit.backoff import Backoff
from mpcs.kit.lineprotocol import clean_tag, escape_tag, format_string
from mpcs.orbit.timeutil import format_time_ns, ns_from_datetime, parse_rfc3339

from .store import CommandEvent, CommandRecord

log = logging.getLogger(__name__)

#: Points per InfluxDB write request.
_MAX_LINES_PER_WRITE = 5_000


class Outcome(enum.StrEnum):
    """What the API did with a command request: the audit `result` and the metrics `outcome`."""

    SENT = CommandState.SENT.value
    REFUSED = "refused"
    SEND_FAILED = "send_failed"
    REPLAYED = "replayed"


def _tag(value: str) -> str:
    r"""A tag value from any text (a refused request's name is whatever the caller typed).

    >>> _tag("a b,c=d")
    'a\\ b\\,c\\=d'
    """
    return escape_tag(clean_tag(value))


def _iso(value: datetime | None) -> str:
    """The wire format of MPCS times (`format_time_ns`), or "" for no time."""
    return "" if value is None else format_time_ns(ns_from_datetime(value))


def command_line(
    *,
    record: CommandRecord,
    state: str,
    time_ns: int,
    who: str,
    reason: str | None = None,
    spacecraft_time: datetime | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    result: str | None = None,
) -> str:
    """One `commands` point."""
    tags = (
        f"{COMMANDS_MEASUREMENT},{SATELLITE_TAG}={_tag(record.satellite)},"
        f"command={_tag(record.name)},state={_tag(state)},id={record.id}"
    )
    fields: dict[str, str] = {
        "who": who,
        "args": orjson.dumps(record.args, option=orjson.OPT_SORT_KEYS).decode(),
        "issued_at": _iso(record.issued_at),
        "result": result or state,
    }
    optional = {
        "valid_until": _iso(record.valid_until),
        "reason": reason or "",
        "spacecraft_time": _iso(spacecraft_time),
        "idempotency_key": idempotency_key or "",
        "fingerprint": fingerprint or "",
        "plan": record.plan or "",
        "step": record.step or "",
    }
    fields.update({k: v for k, v in optional.items() if v})
    body = ",".join(f"{key}={format_string(value)}" for key, value in fields.items())
    return f"{tags} {body} {time_ns}"


def command_event(
    *,
    record: CommandRecord,
    who: str,
    result: str,
    reason: str | None = None,
    status: int | None = None,
) -> dict[str, Any]:
    """An `events` topic message about a command (version 1)."""
    event: dict[str, Any] = {
        "version": 1,
        "type": "command",
        "time": _iso(datetime.now(UTC)),
        "who": who,
        "result": result,
        "command": {
            "id": str(record.id),
            "satellite": record.satellite,
            "name": record.name,
            "args": record.args,
            "issuedAt": _iso(record.issued_at),
            "validUntil": _iso(record.valid_until) or None,
        },
    }
    if reason is not None:
        event["reason"] = reason
    if status is not None:
        event["status"] = status
    if result == Outcome.REFUSED:
        mark_audited()  # the request-level refusal audit (security.Refusals) need not repeat it
    return event


# --- refused requests -----------------------------------------------------------------------------


@dataclass
class RequestNote:
    """What the request being served has told the audit: who it is (once authenticated) and
    whether its refusal was already audited (a refused command is, as a `command` event)."""

    who: str = "anonymous"
    audited: bool = False


#: The note of the request being served; set by `security.SecurityMiddleware` for each request.
#: A mutable object, so that a note made in a task spawned by the request is seen by it too.
_request_note: contextvars.ContextVar[RequestNote | None] = contextvars.ContextVar(
    "mpcs_api_request_note", default=None
)


def begin_request() -> contextvars.Token[RequestNote | None]:
    """A fresh note for a new request (reset it with the returned token)."""
    return _request_note.set(RequestNote())


def end_request(token: contextvars.Token[RequestNote | None]) -> None:
    _request_note.reset(token)


def request_note() -> RequestNote:
    """The current request's note (a throwaway one outside a request)."""
    return _request_note.get() or RequestNote()


def mark_audited() -> None:
    note = _request_note.get()
    if note is not None:
        note.audited = True


def refusal_event(
    *,
    who: str,
    status: int,
    reason: str,
    detail: str,
    method: str,
    path: str,
    client: str,
    suppressed: int = 0,
) -> dict[str, Any]:
    """An `events` topic message about a refused request (version 1): who, what, why. It never
    holds a token or a request body, only the status, the reason and the detail answered.

    `suppressed` counts the refusals of the same kind (429s of the same caller) that were not
    audited one by one since the previous event (`security.Refusals`).
    """
    event: dict[str, Any] = {
        "version": 1,
        "type": "request",
        "time": _iso(datetime.now(UTC)),
        "who": who,
        "result": Outcome.REFUSED.value,
        "status": status,
        "reason": reason,
        "detail": detail,
        "method": method,
        "path": path,
        "client": client,
    }
    if suppressed:
        event["suppressed"] = suppressed
    return event


def _parse_time(text: Any) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def records_from_rows(
    rows: Iterable[dict[str, Any]],
) -> tuple[list[CommandRecord], list[tuple[str, str, uuid.UUID]]]:
    """Command records (and idempotency keys) rebuilt from pivoted `commands` rows."""
    records: dict[uuid.UUID, CommandRecord] = {}
    keys: list[tuple[str, str, uuid.UUID]] = []
    for row in rows:
        try:
            command_id = uuid.UUID(str(row.get("id")))
        except ValueError:
            continue
        state = str(row.get("state") or "")
        if state == Outcome.REFUSED or not state:
            continue  # refused requests never became commands
        seen = _parse_time(row.get("_time")) or datetime.now(UTC)
        record = records.get(command_id)
        if record is None:
            try:
                args = orjson.loads(row.get("args") or "{}")
            except orjson.JSONDecodeError:
                args = {}
            record = CommandRecord(
                id=command_id,
                satellite=str(row.get(SATELLITE_TAG) or ""),
                name=str(row.get("command") or ""),
                args=args if isinstance(args, dict) else {},
                issued_by=str(row.get("who") or "unknown"),
                issued_at=_parse_time(row.get("issued_at")) or seen,
                valid_until=_parse_time(row.get("valid_until")),
                plan=row.get("plan") or None,
                step=row.get("step") or None,
            )
            records[command_id] = record
        elif record.issued_by == "unknown" and row.get("who") not in (None, "", "unknown"):
            record.issued_by = str(row["who"])
        record.add_event(
            CommandEvent(
                state=state,
                time=seen,
                reason=row.get("reason") or None,
                spacecraft_time=_parse_time(row.get("spacecraft_time")),
            )
        )
        if state == CommandState.SENT and row.get("idempotency_key") and row.get("fingerprint"):
            keys.append((str(row["idempotency_key"]), str(row["fingerprint"]), command_id))
    return list(records.values()), keys


class LineWriter(Protocol):
    async def write(self, lines: list[str]) -> None: ...


class AuditWriter:
    """Buffers audit lines and writes them to InfluxDB in batches, retrying with backoff."""

    def __init__(
        self,
        influx: LineWriter,
        *,
        capacity: int = 100_000,
        linger_s: float = 0.1,
        on_drop: Callable[[int], None] | None = None,
        on_pending: Callable[[int], None] | None = None,
    ) -> None:
        self._influx = influx
        self._lines: collections.deque[str] = collections.deque()
        self._capacity = capacity
        self._linger_s = linger_s
        self._wakeup = asyncio.Event()
        self._on_drop = on_drop
        self._on_pending = on_pending
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) > self._capacity:
            self._lines.popleft()
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop(1)
        if self._on_pending is not None:
            self._on_pending(len(self._lines))
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._lines)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-audit-writer")

    async def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        # The task first, so that two flushes never pop the same batch; a write it was in the
        # middle of is simply written again (same points: InfluxDB keeps one).
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), timeout=flush_timeout_s)
        except Exception as exc:  # InfluxDB away or too slow: say what is lost, still shut down
            log.warning("%d audit points not written at shutdown (%r)", len(self._lines), exc)

    async def flush(self) -> None:
        """Write everything buffered now (raises if InfluxDB refuses)."""
        while self._lines:
            batch = list(itertools.islice(self._lines, _MAX_LINES_PER_WRITE))
            dropped = self.dropped
            await self._influx.write(batch)
            # Lines dropped from the head meanwhile (buffer overflow) were part of this batch.
            for _ in range(len(batch) - min(len(batch), self.dropped - dropped)):
                self._lines.popleft()
            self.written += len(batch)
            if self._on_pending is not None:
                self._on_pending(len(self._lines))

    async def _run(self) -> None:
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        outage_since: float | None = None
        while True:
            await self._wakeup.wait()
            if self._linger_s > 0 and len(self._lines) < _MAX_LINES_PER_WRITE:
                await asyncio.sleep(self._linger_s)  # let the burst gather into one write
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception as exc:
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning("audit points wait for InfluxDB (%s); retrying", exc)
                self._wakeup.set()
                await backoff.wait()
                continue
            if outage_since is not None:
                log.info("audit points written again after %.1f s", time.monotonic() - outage_since)
                outage_since = None
            backoff.reset()
