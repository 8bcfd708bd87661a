"""Command authority per satellite and two-person approval of critical commands.

Both are state every replica of the command API must agree on, that a restart must not lose.
They live where the API's audit trail already lives: the mission's `events` topic, keyed by
satellite. A request is written there as an *intent* event (`"phase": "intent"`); every replica
consumes the topic (no consumer group, from its beginning) and folds the intents, in log order,
into the same state with `ControlState.apply`, which gives each intent its verdict. The replica
that wrote the intent waits until it has folded it and answers with that verdict, then writes an
*outcome* event (`"phase": "outcome"`: the verdict, for the audit; the fold ignores outcomes).
Two replicas racing for one satellite's authority therefore agree on who won: the first intent in
the satellite's partition. A restarted replica reads the topic again and gets the same state.

The topic keeps events for the Mission's `kafka.retentionHours`: an authority held longer is
renewed (`renew` intent) every `RENEW_AFTER` by whichever replica notices, so its grant stays
inside the window; a pending approval expires long before.

Authority (`authority` events; actions `claim`, `release`, `takeover`, `renew`):
- claim: granted when nobody holds the satellite or the caller does; else 423.
- release: only by the holder (423 for anyone else, 409 when nobody holds it).
- takeover (admins; the route checks the role): always granted, the previous holder is named.

Approval (`approval` events; actions `request`, `approve`, `send_failed`, `sent`, `expire`):
- request: a critical command issued by an admin waits, for `MPCS_API_APPROVAL_TIMEOUT_S`;
- approve: by an admin other than the issuer (403 for the issuer), before the deadline (410
  after it, and the approval expires), once (409 when already approved);
- send_failed: the approved command could not be sent (503): it waits for approval again;
- sent: the approved command is on the commands topic; expire: nobody approved in time.

This module is pure (no I/O): `ControlLog` gets a `publish` coroutine and is fed the events.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mpcs.core.commands import Command
from mpcs.orbit.timeutil import format_time_ns, ns_from_datetime, parse_rfc3339

from .principals import Principal

log = logging.getLogger(__name__)

#: How old an authority grant may grow in the events topic before it is written again.
RENEW_AFTER = timedelta(hours=1)
#: Verdicts kept for intents that nobody waits for any more.
_VERDICTS = 10_000


def iso(value: datetime) -> str:
    return format_time_ns(ns_from_datetime(value))


@dataclass
class Holding:
    """Who holds a satellite's command authority."""

    holder: str
    role: str
    since: datetime
    #: Time of the newest event that (re)stated this holding (claim, takeover or renew).
    stated: datetime


@dataclass
class Approval:
    """A critical command waiting for a second admin."""

    command: Command
    issuer: str
    requested_at: datetime
    expires_at: datetime
    state: str = "pending"  # pending | approved | sent | expired
    approver: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What the fold decided about one intent: `status` is the HTTP answer."""

    ok: bool
    status: int
    reason: str
    holding: Holding | None = None
    previous: str | None = None
    approval: Approval | None = None


class ControlState:
    """Authority and approvals, folded from intents in log order (the same on every replica)."""

    def __init__(self) -> None:
        self.authority: dict[str, Holding] = {}
        #: Satellites with an authority event in the log read so far.
        self._seen: set[str] = set()
        self.approvals: dict[uuid.UUID, Approval] = {}
        self.verdicts: collections.OrderedDict[str, Verdict] = collections.OrderedDict()

    def apply(self, event: dict[str, Any]) -> Verdict | None:
        """Fold one event; the verdict of an intent (None for what the fold ignores)."""
        if event.get("phase") != "intent":
            return None
        kind, action = event.get("type"), event.get("action")
        when = parse_rfc3339(str(event["time"]))
        who = str(event["who"])
        if kind == "authority":
            verdict = self._authority(action, str(event["satellite"]), who, event, when)
        elif kind == "approval":
            verdict = self._approval(action, who, event, when)
        else:
            return None
        if verdict is not None:
            self.verdicts[str(event["id"])] = verdict
            while len(self.verdicts) > _VERDICTS:
                self.verdicts.popitem(last=False)
        return verdict

    # --- authority ------------------------------------------------------------------------------

    def _authority(
        self, action: Any, satellite: str, who: str, event: dict[str, Any], when: datetime
    ) -> Verdict | None:
        held = self.authority.get(satellite)
        role = str(event.get("role", ""))
        first = satellite not in self._seen
        self._seen.add(satellite)
        if action == "claim":
            if held is None or held.holder == who:
                holding = held or Holding(holder=who, role=role, since=when, stated=when)
                holding.stated = when
                self.authority[satellite] = holding
                return Verdict(
                    True, 200, f"{who} holds the command authority of {satellite}", holding
                )
            return Verdict(
                False,
                423,
                f"the command authority of {satellite} is held by {held.holder} since "
                f"{iso(held.since)}; it must be released, or taken over by an admin",
                held,
            )
        if action == "takeover":
            previous = held.holder if held is not None else None
            holding = Holding(holder=who, role=role, since=when, stated=when)
            self.authority[satellite] = holding
            return Verdict(
                True,
                200,
                f"{who} took over the command authority of {satellite}"
                + (f" from {previous}" if previous else ""),
                holding,
                previous=previous,
            )
        if action == "release":
            if held is None:
                return Verdict(False, 409, f"nobody holds the command authority of {satellite}")
            if held.holder != who:
                return Verdict(
                    False,
                    423,
                    f"the command authority of {satellite} is held by {held.holder}; only they "
                    "may release it (an admin may take it over)",
                    held,
                )
            del self.authority[satellite]
            return Verdict(True, 200, f"{who} released the command authority of {satellite}")
        if action == "renew":
            holder = str(event.get("holder"))
            if held is not None and held.holder == holder:
                held.stated = max(held.stated, when)
            elif held is None and first:
                # The grant itself is past the topic's retention: the renewal stands for it.
                self.authority[satellite] = Holding(
                    holder=holder,
                    role=str(event.get("holderRole", "")),
                    since=parse_rfc3339(str(event.get("since") or event["time"])),
                    stated=when,
                )
            return None
        return None

    def refuses(self, satellite: str, who: str) -> Holding | None:
        """The holding that refuses a command from `who` to `satellite` (None: allowed)."""
        held = self.authority.get(satellite)
        return held if held is not None and held.holder != who else None

    def stale(self, now: datetime) -> list[tuple[str, Holding]]:
        """Holdings whose last statement is older than `RENEW_AFTER`."""
        return [(s, h) for s, h in self.authority.items() if now - h.stated > RENEW_AFTER]

    # --- approval -------------------------------------------------------------------------------

    def _approval(
        self, action: Any, who: str, event: dict[str, Any], when: datetime
    ) -> Verdict | None:
        if action == "request":
            command = Command.model_validate(event["command"])
            requested = self.approvals.setdefault(
                command.id,
                Approval(
                    command=command,
                    issuer=who,
                    requested_at=when,
                    expires_at=parse_rfc3339(str(event["expiresAt"])),
                ),
            )
            return Verdict(True, 202, "waiting for a second admin", approval=requested)
        command_id = uuid.UUID(str(event["commandId"]))
        approval = self.approvals.get(command_id)
        if approval is None:
            if action == "approve":
                return Verdict(False, 404, f"command_id: no command {command_id} awaits approval")
            return None
        if action == "approve":
            if approval.state in ("approved", "sent"):
                return Verdict(
                    False,
                    409,
                    f"command {command_id} was already approved by {approval.approver}",
                    approval=approval,
                )
            if approval.state == "expired" or when > approval.expires_at:
                approval.state = "expired"
                return Verdict(
                    False,
                    410,
                    f"the approval of command {command_id} expired at "
                    f"{iso(approval.expires_at)}; issue it again",
                    approval=approval,
                )
            if who == approval.issuer:
                return Verdict(
                    False,
                    403,
                    f"{who} issued command {command_id}; a different admin must approve it",
                    approval=approval,
                )
            approval.state, approval.approver = "approved", who
            return Verdict(True, 202, f"approved by {who}", approval=approval)
        if action == "send_failed" and approval.state == "approved":
            approval.state, approval.approver = "pending", None
        elif action == "sent":
            approval.state = "sent"
        elif action == "expire" and approval.state == "pending":
            approval.state = "expired"
        return None

    def due(self, now: datetime) -> list[Approval]:
        """Pending approvals past their deadline (to be expired)."""
        return [a for a in self.approvals.values() if a.state == "pending" and now > a.expires_at]

    def forget(self, before: datetime) -> None:
        """Drop settled approvals requested before `before` (memory stays bounded)."""
        for command_id, approval in list(self.approvals.items()):
            if approval.state != "pending" and approval.requested_at < before:
                del self.approvals[command_id]


Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class ControlLog:
    """Writes intents, folds the events topic, and answers each intent with its verdict."""

    publish: Publish
    state: ControlState = field(default_factory=ControlState)
    #: True once the fold has read the topic up to where it ended at start-up.
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    _waiters: dict[str, asyncio.Future[Verdict]] = field(default_factory=dict)
    _folded: asyncio.Event = field(default_factory=asyncio.Event)

    async def approval(self, command_id: uuid.UUID, *, timeout_s: float) -> Approval | None:
        """The approval of `command_id`, waiting up to `timeout_s` for the fold to read it (it
        may have been requested a moment ago through another replica)."""
        try:
            async with asyncio.timeout(timeout_s):
                while (found := self.state.approvals.get(command_id)) is None:
                    await self._folded.wait()
                    self._folded.clear()
                return found
        except TimeoutError:
            return None

    def on_event(self, event: dict[str, Any]) -> None:
        """One event of the topic (from the feed, in log order)."""
        try:
            verdict = self.state.apply(event)
        except (KeyError, ValueError, TypeError) as exc:
            log.info("ignoring a malformed control event: %r", exc)
            return
        self._folded.set()
        if verdict is None:
            return
        waiter = self._waiters.pop(str(event.get("id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(verdict)

    async def decide(
        self,
        *,
        kind: str,
        action: str,
        satellite: str,
        principal: Principal,
        timeout_s: float,
        **fields: Any,
    ) -> tuple[dict[str, Any], Verdict]:
        """Write an intent and wait for the fold's verdict (TimeoutError after `timeout_s`);
        returns the intent (for its outcome event) and the verdict."""
        event = intent(kind=kind, action=action, satellite=satellite, principal=principal, **fields)
        waiter: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiters[event["id"]] = waiter
        try:
            async with asyncio.timeout(timeout_s):
                await self.publish(satellite, event)
                return event, await waiter
        finally:
            self._waiters.pop(event["id"], None)

    async def note(
        self, *, kind: str, action: str, satellite: str, principal: Principal, **fields: Any
    ) -> None:
        """Write an intent nobody waits for (sent, send_failed, expire, renew)."""
        await self.publish(
            satellite,
            intent(kind=kind, action=action, satellite=satellite, principal=principal, **fields),
        )


def intent(
    *, kind: str, action: str, satellite: str, principal: Principal, **fields: Any
) -> dict[str, Any]:
    """An intent event (version 1) for the events topic."""
    return {
        "version": 1,
        "type": kind,
        "phase": "intent",
        "id": str(uuid.uuid4()),
        "time": iso(datetime.now(UTC)),
        "action": action,
        "satellite": satellite,
        "who": principal.name,
        "role": principal.role.value,
        **fields,
    }


def outcome(
    intent_event: dict[str, Any] | None, *, verdict: Verdict, **fields: Any
) -> dict[str, Any]:
    """The audit event of a verdict (the fold ignores it)."""
    base = dict(intent_event or {})
    base.update(
        {
            "phase": "outcome",
            "time": iso(datetime.now(UTC)),
            "result": "granted" if verdict.ok else "refused",
            "status": verdict.status,
            "reason": verdict.reason,
            **fields,
        }
    )
    return base
