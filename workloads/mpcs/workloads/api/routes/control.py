"""Command authority per satellite and the approval queue of critical commands (issue 17).

- `GET/POST/DELETE /api/v1/satellites/{sat}/authority`: who holds the satellite's command
  authority, claim it (an admin may take it over), release it;
- `GET /api/v1/approvals`: critical commands waiting for a second admin;
- the helpers `POST …/commands` uses: the caller as a person (`CallerDep`), the authority check
  (423) and the approval request. `POST /api/v1/commands/{id}/approve` is in `commands.py`, next
  to the send it ends with.

The state and its rules are in `..control` (folded from the events topic by every replica);
every claim, release, take-over, approval request, approval, expiry and refusal is an event on
the mission's `events` topic (`phase` `intent`, then `outcome` with the verdict).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from mpcs.core.commands import Command

from ..auth import parse_authorization
from ..control import Approval, Holding, Verdict, outcome
from ..deps import OperatorDep, SatelliteDep, ServicesDep, ViewerDep
from ..kafka import KafkaUnavailable
from ..models import (
    ApprovalPublic,
    AuthorityClaim,
    AuthorityPublic,
    CommandEventPublic,
    CommandPublic,
    ListPublic,
    Role,
    error_responses,
)
from ..principals import Principal, principal_of
from ..services import Services, record_of
from ..store import CommandEvent

log = logging.getLogger("mpcs.workloads.api")
router = APIRouter(tags=["authority"], responses=error_responses(401))

#: The state of a command that waits for its second admin (command history and lists).
AWAITING_APPROVAL = "awaiting_approval"


async def caller(request: Request, role: OperatorDep, services: ServicesDep) -> Principal:
    """The caller (operator or admin) as a person: a personal token's name, else the role's."""
    token = parse_authorization(request.headers.get("authorization")) or ""
    return principal_of(services.tokens, token, role)


CallerDep = Annotated[Principal, Depends(caller)]


def is_person(who: Principal) -> bool:
    """True for a personal token; False for a role's shared token (named after the role)."""
    return who.name != who.role.value


def authority_refusal(services: Services, satellite: str, who: Principal) -> str | None:
    """Why `who` may not command `satellite` now (None: they may)."""
    assert services.control is not None
    held = services.control.state.refuses(satellite, who.name)
    if held is None:
        return None
    return (
        f"sat: the command authority of {satellite} is held by {held.holder} since "
        f"{held.since.isoformat()}; commands from {who.name} are refused until it is released "
        "or taken over by an admin"
    )


def _public_holding(satellite: str, holding: Holding | None) -> AuthorityPublic:
    if holding is None:
        return AuthorityPublic(satellite=satellite)
    return AuthorityPublic(
        satellite=satellite, holder=holding.holder, role=holding.role, since=holding.since
    )


async def decide(
    services: Services,
    *,
    kind: str,
    action: str,
    satellite: str,
    who: Principal,
    **fields: Any,
) -> tuple[dict[str, Any], Verdict]:
    """Write the intent, wait for the verdict (503 when Kafka does not answer in time)."""
    control = services.control
    assert control is not None
    if not control.caught_up.is_set():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the command service is still reading the events topic; retry shortly",
        )
    timeout_s = services.settings.api_send_timeout_s
    try:
        return await control.decide(
            kind=kind,
            action=action,
            satellite=satellite,
            principal=who,
            timeout_s=timeout_s,
            **fields,
        )
    except (KafkaUnavailable, TimeoutError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Kafka did not record the {kind} {action} within {timeout_s:g} s ({exc!r})",
        ) from None


def audit_refusal(
    services: Services, *, kind: str, action: str, satellite: str, who: Principal, **fields: Any
) -> Verdict:
    """A request refused before any intent was written (its role, say): audited all the same."""
    verdict = Verdict(False, fields.pop("code"), fields.pop("reason"))
    event = {
        "version": 1,
        "type": kind,
        "action": action,
        "satellite": satellite,
        "who": who.name,
        "role": who.role.value,
        **fields,
    }
    services.bus.send_event(satellite, outcome(event, verdict=verdict))
    return verdict


def answer(services: Services, intent: dict[str, Any], verdict: Verdict, **fields: Any) -> None:
    """Audit the verdict; raise its HTTP error when it refused."""
    services.bus.send_event(str(intent["satellite"]), outcome(intent, verdict=verdict, **fields))
    if not verdict.ok:
        log.info(
            "%s %s refused (%d): %s",
            intent["type"],
            intent["action"],
            verdict.status,
            verdict.reason,
        )
        raise HTTPException(verdict.status, detail=verdict.reason)


# --- authority ----------------------------------------------------------------------------------


@router.get(
    "/api/v1/satellites/{sat}/authority",
    response_model=AuthorityPublic,
    summary="Who holds the satellite's command authority",
    responses=error_responses(404),
)
async def get_authority(_role: ViewerDep, services: ServicesDep, obj: SatelliteDep) -> Any:
    satellite = str(obj["metadata"]["name"])
    assert services.control is not None
    return _public_holding(satellite, services.control.state.authority.get(satellite))


@router.post(
    "/api/v1/satellites/{sat}/authority",
    response_model=AuthorityPublic,
    summary="Claim the satellite's command authority (an admin may take it over)",
    responses=error_responses(400, 403, 404, 423, 503),
)
async def claim_authority(
    who: CallerDep, services: ServicesDep, obj: SatelliteDep, body: AuthorityClaim | None = None
) -> Any:
    satellite = str(obj["metadata"]["name"])
    takeover = body is not None and body.takeover
    action = "takeover" if takeover else "claim"
    if takeover and not who.role.allows(Role.ADMIN):
        reason = (
            f"role {who.role.value} may not take over command authority; it needs the admin role"
        )
        audit_refusal(
            services,
            kind="authority",
            action=action,
            satellite=satellite,
            who=who,
            code=403,
            reason=reason,
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)
    intent, verdict = await decide(
        services, kind="authority", action=action, satellite=satellite, who=who
    )
    answer(services, intent, verdict, previous=verdict.previous)
    return _public_holding(satellite, verdict.holding)


@router.delete(
    "/api/v1/satellites/{sat}/authority",
    response_model=AuthorityPublic,
    summary="Release the satellite's command authority (its holder only)",
    responses=error_responses(404, 409, 423, 503),
)
async def release_authority(who: CallerDep, services: ServicesDep, obj: SatelliteDep) -> Any:
    satellite = str(obj["metadata"]["name"])
    intent, verdict = await decide(
        services, kind="authority", action="release", satellite=satellite, who=who
    )
    answer(services, intent, verdict)
    return _public_holding(satellite, None)


# --- approvals ----------------------------------------------------------------------------------


def public_approval(approval: Approval) -> ApprovalPublic:
    return ApprovalPublic(
        command=awaiting(approval.command, since=approval.requested_at),
        issuer=approval.issuer,
        requested_at=approval.requested_at,
        expires_at=approval.expires_at,
        state=approval.state,
        approver=approval.approver,
    )


def awaiting(command: Command, *, since: datetime) -> CommandPublic:
    """A command that waits for its approval, as the command routes show commands."""
    return CommandPublic(
        id=command.id,
        satellite=command.satellite,
        name=command.name,
        args=dict(command.args),
        issued_by=command.issued_by,
        issued_at=command.issued_at,
        valid_until=command.valid_until,
        state=AWAITING_APPROVAL,
        history=[CommandEventPublic(state=AWAITING_APPROVAL, time=since)],
    )


@router.get(
    "/api/v1/approvals",
    response_model=ListPublic[ApprovalPublic],
    summary="Critical commands and their approval, newest first",
)
async def list_approvals(
    _role: ViewerDep, services: ServicesDep, state: str | None = "pending"
) -> ListPublic[ApprovalPublic]:
    assert services.control is not None
    found = [
        public_approval(a)
        for a in services.control.state.approvals.values()
        if state is None or state == "all" or a.state == state
    ]
    found.sort(key=lambda a: a.requested_at, reverse=True)
    return ListPublic[ApprovalPublic](data=found, count=len(found))


async def request_approval(services: Services, who: Principal, command: Command) -> CommandPublic:
    """Hold a critical command until a second admin approves it (202, state awaiting_approval)."""
    expires_at = datetime.now(UTC) + timedelta(seconds=services.settings.api_approval_timeout_s)
    intent, verdict = await decide(
        services,
        kind="approval",
        action="request",
        satellite=command.satellite,
        who=who,
        command=command.model_dump(mode="json"),
        commandId=str(command.id),
        expiresAt=expires_at.isoformat(),
    )
    answer(services, intent, verdict)
    # Known to this replica's command list too (every replica lists it under /approvals).
    record = record_of(command)
    record.add_event(CommandEvent(state=AWAITING_APPROVAL, time=datetime.now(UTC)))
    services.store.add(record)
    log.info(
        "command %s %s for %s awaits approval (issued by %s)",
        command.id,
        command.name,
        command.satellite,
        who.name,
    )
    return awaiting(command, since=record.history[0].time)
