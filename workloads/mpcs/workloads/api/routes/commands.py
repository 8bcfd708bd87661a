"""`/api/v1/commands…` and `POST /api/v1/satellites/{sat}/commands`: the command dictionary,
sending commands (validated, confirmed, idempotent, audited) and following their state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status

from mpcs.core.commands import (
    DICTIONARY,
    Command,
    CommandError,
    CommandState,
    Criticality,
    validate_args,
)
from mpcs.kit.influx import InfluxUnavailable
from mpcs.orbit.timeutil import ns_from_datetime

from ..audit import Outcome, command_event, command_line, records_from_rows
from ..deps import SatelliteDep, ServicesDep, ViewerDep
from ..errors import field_error, printable
from ..kafka import DeliveryUnknown, KafkaUnavailable
from ..models import (
    ArgumentPublic,
    CommandCreate,
    CommandEventPublic,
    CommandPublic,
    CommandSpecPublic,
    ListPublic,
    Role,
    error_responses,
)
from ..principals import Principal
from ..services import Services, record_of
from ..store import CommandEvent, CommandRecord, KeyConflict, fingerprint
from .control import (
    CallerDep,
    answer,
    audit_refusal,
    authority_refusal,
    decide,
    is_person,
    request_approval,
)
from .control import router as control_router

log = logging.getLogger("mpcs.workloads.api")
router = APIRouter(tags=["commands"], responses=error_responses(401))

STATES = tuple(state.value for state in CommandState)


def public(record: CommandRecord) -> CommandPublic:
    return CommandPublic(
        id=record.id,
        satellite=record.satellite,
        name=record.name,
        args=record.args,
        issued_by=record.issued_by,
        issued_at=record.issued_at,
        valid_until=record.valid_until,
        plan=record.plan,
        step=record.step,
        state=record.state,
        history=[
            CommandEventPublic(
                state=e.state, time=e.time, reason=e.reason, spacecraft_time=e.spacecraft_time
            )
            for e in record.history
        ],
    )


@router.get(
    "/api/v1/commands/dictionary",
    response_model=ListPublic[CommandSpecPublic],
    summary="The command dictionary",
)
async def dictionary(_role: ViewerDep) -> ListPublic[CommandSpecPublic]:
    items = [
        CommandSpecPublic(
            name=spec.name,
            description=spec.description,
            criticality=spec.criticality.value,
            allowed_modes=[m.value for m in spec.allowed_modes],
            effect=spec.effect,
            args=[
                ArgumentPublic(
                    name=a.name,
                    type=a.type.value,
                    description=a.description,
                    unit=a.unit,
                    accepted=a.accepted(),
                    required=a.required,
                    default=a.default,
                    minimum=a.minimum,
                    maximum=a.maximum,
                    choices=list(a.choices),
                )
                for a in spec.args
            ],
        )
        for spec in DICTIONARY.values()
    ]
    return ListPublic[CommandSpecPublic](data=items, count=len(items))


def _refuse(
    services: Services,
    *,
    caller: Principal,
    satellite: str,
    body: CommandCreate,
    code: int,
    reason: str,
) -> None:
    """Audit a refused command (events topic + InfluxDB), then let the caller raise."""
    record = CommandRecord(
        id=uuid.uuid4(),
        satellite=satellite,
        name=printable(body.name),
        args=printable(body.args),
        issued_by=caller.name,
        issued_at=datetime.now(UTC),
        valid_until=body.valid_until,
    )
    services.metrics.commands.labels(Outcome.REFUSED).inc()
    services.bus.send_event(
        satellite,
        command_event(
            record=record, who=caller.name, result=Outcome.REFUSED, reason=reason, status=code
        ),
    )
    assert services.audit is not None
    services.audit.add(
        command_line(
            record=record,
            state=Outcome.REFUSED,
            time_ns=ns_from_datetime(record.issued_at),
            who=caller.name,
            reason=f"{code}: {reason}",
            result=Outcome.REFUSED,
        )
    )
    log.info("command refused (%d) for %s by %s: %s", code, satellite, caller.name, reason)


def _check(
    services: Services, caller: Principal, satellite: str, body: CommandCreate
) -> dict[str, object]:
    """Validate a command request; raise the right 4xx (audited) or return the typed args."""
    role = caller.role

    def refuse(code: int, reason: str) -> None:
        _refuse(
            services,
            caller=caller,
            satellite=satellite,
            body=body,
            code=code,
            reason=printable(reason),
        )

    spec = DICTIONARY.get(body.name)
    if spec is None:
        message = f"{body.name!r} is not a command; known commands: {', '.join(DICTIONARY)}"
        refuse(422, f"name: {message}")
        raise field_error(("body", "name"), message, body.name)
    critical = spec.criticality is Criticality.CRITICAL
    if critical and not role.allows(Role.ADMIN):
        reason = (
            f"{body.name} is a critical command: role {role.value} may not send it; "
            "it needs the admin role"
        )
        refuse(403, reason)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)
    try:
        args = validate_args(body.name, body.args)
    except CommandError as exc:
        loc: tuple[str, ...] = ("body", "args", exc.argument) if exc.argument else ("body", "args")
        refuse(422, str(exc))
        raise field_error(loc, exc.message, body.args.get(exc.argument or "")) from None
    if body.valid_until is not None:
        if body.valid_until.tzinfo is None:
            message = "needs a timezone (e.g. 2025-01-01T00:00:00Z)"
            refuse(422, f"validUntil: {message}")
            raise field_error(("body", "validUntil"), message, str(body.valid_until))
        if body.valid_until <= datetime.now(UTC):
            message = "is in the past; the spacecraft would reject the command as expired"
            refuse(422, f"validUntil: {message}")
            raise field_error(("body", "validUntil"), message, body.valid_until.isoformat())
    if critical and not body.confirm:
        reason = (
            f"confirm: {body.name} is a critical command; send it again with "
            '"confirm": true to confirm'
        )
        refuse(409, reason)
        raise HTTPException(status.HTTP_409_CONFLICT, detail=reason)
    if critical and services.settings.api_two_person and not is_person(caller):
        reason = (
            f"{body.name} is a critical command and needs two-person approval: issue it with "
            f"a personal admin token (MPCS_API_USERS), not the shared {role.value} token"
        )
        refuse(403, reason)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=reason)
    refused_by = authority_refusal(services, satellite, caller)
    if refused_by is not None:
        refuse(423, refused_by)
        raise HTTPException(status.HTTP_423_LOCKED, detail=refused_by)
    return dict(args)


@router.post(
    "/api/v1/satellites/{sat}/commands",
    response_model=CommandPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a command",
    responses={
        **error_responses(400, 403, 404, 409, 423, 503, 504),
        200: {
            "model": CommandPublic,
            "description": "A retry with a known Idempotency-Key: the first command",
        },
    },
)
async def send_command(
    caller: CallerDep,
    services: ServicesDep,
    obj: SatelliteDep,
    body: CommandCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=255,
            description="Retry-safe key: a retry with the same key returns the first command.",
        ),
    ] = None,
) -> CommandPublic:
    satellite = str(obj["metadata"]["name"])
    args = _check(services, caller, satellite, body)
    spec = DICTIONARY[body.name]
    if spec.criticality is Criticality.CRITICAL and services.settings.api_two_person:
        command = Command(
            satellite=satellite,
            name=body.name,
            args=args,
            issued_by=caller.name,
            valid_until=body.valid_until,
        )
        return await request_approval(services, caller, command)
    key = idempotency_key.strip() if idempotency_key else None
    print_ = fingerprint(satellite, body.name, args, body.valid_until)
    if key:
        try:
            earlier = await services.idempotency.begin(key, print_)
        except KeyConflict:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"Idempotency-Key {key!r} was already used for a different command",
            ) from None
        if earlier is not None:
            record = services.store.get(earlier) or await _from_influx(services, earlier)
            if record is None:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    detail=f"Idempotency-Key {key!r} already created command {earlier}, "
                    "which is no longer on record",
                )
            services.metrics.commands.labels(Outcome.REPLAYED).inc()
            response.status_code = status.HTTP_200_OK
            response.headers["Idempotent-Replayed"] = "true"
            return public(record)
    command = Command(
        satellite=satellite,
        name=body.name,
        args=args,
        issued_by=caller.name,
        valid_until=body.valid_until,
    )
    return await deliver(services, command, who=caller.name, key=key, print_=print_)


async def deliver(
    services: Services,
    command: Command,
    *,
    who: str,
    key: str | None = None,
    print_: str | None = None,
    reason: str | None = None,
) -> CommandPublic:
    """Send `command` (transaction, see `KafkaBus`), record and audit it: 202, 503 or 504."""
    satellite = command.satellite
    record = record_of(command)
    try:
        sent_at = await services.bus.send_command(command)
    except KafkaUnavailable as exc:
        if key:
            services.idempotency.abandon(key)
        services.metrics.commands.labels(Outcome.SEND_FAILED).inc()
        services.bus.send_event(
            satellite,
            command_event(record=record, who=who, result=Outcome.SEND_FAILED, reason=str(exc)),
        )
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    except DeliveryUnknown as exc:
        # Not a 503: the command may still be delivered. The key keeps pointing at it (a retry
        # cannot send it twice), and is freed only if the broker answers that it was not.
        if key:
            services.idempotency.finish(key, command.id)
            if exc.settled is not None:
                exc.settled.add_done_callback(_free_key_unless_sent(services, key))
        services.bus.send_event(
            satellite,
            command_event(record=record, who=who, result=Outcome.SEND_FAILED, reason=str(exc)),
        )
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT, detail=f"{exc} (command id {command.id})"
        ) from None
    except BaseException:
        if key:
            services.idempotency.abandon(key)
        raise
    record.add_event(CommandEvent(state=CommandState.SENT, time=sent_at))
    # An ack that overtook us created a bare record: add() merges into it.
    record = services.store.add(record)
    if key:
        services.idempotency.finish(key, command.id)
    services.metrics.commands.labels(Outcome.SENT).inc()
    services.bus.send_event(
        satellite, command_event(record=record, who=who, result=Outcome.SENT, reason=reason)
    )
    assert services.audit is not None
    services.audit.add(
        command_line(
            record=record,
            state=CommandState.SENT,
            time_ns=ns_from_datetime(sent_at),
            who=who,
            idempotency_key=key,
            fingerprint=print_ if key else None,
            reason=reason,
        )
    )
    log.info("command %s %s sent to %s by %s", command.id, command.name, satellite, who)
    return public(record)


@router.post(
    "/api/v1/commands/{command_id}/approve",
    response_model=CommandPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Approve a critical command another admin issued (two-person rule); it is sent",
    responses=error_responses(403, 404, 409, 410, 423, 503, 504),
)
async def approve_command(
    who: CallerDep, services: ServicesDep, command_id: uuid.UUID
) -> CommandPublic:
    # An approval requested through another replica a moment ago may still be on its way here.
    wait_s = min(2.0, services.settings.api_send_timeout_s)
    assert services.control is not None
    pending = await services.control.approval(command_id, timeout_s=wait_s)
    satellite = pending.command.satellite if pending is not None else "-"
    refusal: tuple[int, str] | None = None
    if not who.role.allows(Role.ADMIN):
        refusal = (403, f"role {who.role.value} may not approve commands; it needs the admin role")
    elif not is_person(who):
        refusal = (
            403,
            "approving needs a personal admin token (MPCS_API_USERS), not the shared admin token",
        )
    elif pending is not None:
        held = authority_refusal(services, satellite, who)
        if held is not None and services.control.state.refuses(satellite, pending.issuer):
            refusal = (423, held)
    if refusal is not None:
        audit_refusal(
            services,
            kind="approval",
            action="approve",
            satellite=satellite,
            who=who,
            commandId=str(command_id),
            code=refusal[0],
            reason=refusal[1],
        )
        raise HTTPException(refusal[0], detail=refusal[1])
    intent, verdict = await decide(
        services,
        kind="approval",
        action="approve",
        satellite=satellite,
        who=who,
        commandId=str(command_id),
    )
    answer(services, intent, verdict)
    assert verdict.approval is not None
    approval = verdict.approval
    command = approval.command
    try:
        sent = await deliver(
            services,
            command,
            who=approval.issuer,
            reason=f"approved by {who.name}",
        )
    except HTTPException as exc:
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            # Never sent: it waits for an approval again (until its deadline).
            with contextlib.suppress(Exception):
                await services.control.note(
                    kind="approval",
                    action="send_failed",
                    satellite=command.satellite,
                    principal=who,
                    commandId=str(command.id),
                )
        raise
    with contextlib.suppress(Exception):
        await services.control.note(
            kind="approval",
            action="sent",
            satellite=command.satellite,
            principal=who,
            commandId=str(command.id),
        )
    return sent


def _free_key_unless_sent(services: Services, key: str) -> Callable[[asyncio.Future[Any]], None]:
    def settled(outcome: asyncio.Future[Any]) -> None:
        if outcome.cancelled() or outcome.exception() is not None:
            services.idempotency.abandon(key)

    return settled


@router.get(
    "/api/v1/commands/{command_id}",
    response_model=CommandPublic,
    summary="A command and its state history",
    responses=error_responses(404, 503),
)
async def get_command(
    _role: ViewerDep,
    services: ServicesDep,
    command_id: uuid.UUID,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=30,
            description="Seconds to wait for a final state (executed, failed, rejected).",
        ),
    ] = 0.0,
) -> CommandPublic:
    record = services.store.get(command_id)
    if record is None:
        record = await _from_influx(services, command_id)
    if record is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"command_id: no command {command_id}"
        )
    if wait > 0 and not record.done:
        record = await services.store.wait(command_id, timeout_s=wait) or record
    return public(record)


async def _from_influx(services: Services, command_id: uuid.UUID) -> CommandRecord | None:
    """A command older than the in-memory history, from the `commands` measurement."""
    try:
        rows = await services.influx.commands(start="-3650d", command_id=str(command_id))
    except InfluxUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    records, _ = records_from_rows(rows)
    return records[0] if records else None


@router.get(
    "/api/v1/commands",
    response_model=ListPublic[CommandPublic],
    summary="Recent commands, newest first",
)
async def list_commands(
    _role: ViewerDep,
    services: ServicesDep,
    satellite: Annotated[
        str | None, Query(max_length=63, description="Only this satellite.")
    ] = None,
    state: Annotated[
        str | None, Query(description="Only commands in this state: " + ", ".join(STATES))
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> ListPublic[CommandPublic]:
    if state is not None and state not in STATES:
        raise field_error(("query", "state"), f"{state!r} is not one of {', '.join(STATES)}", state)
    records = services.store.list(satellite=satellite, state=state)
    return ListPublic[CommandPublic](data=[public(r) for r in records[:limit]], count=len(records))


router.include_router(control_router)
