"""`/api/v1/alerts`: the mission's alerts (DynamoDB, written by the alerts handler) and their
acknowledgement.

The table is read through `mpcs.kit.alerts_table` (the API may not import the Lambda's package).
boto3 blocks, so every call runs in a worker thread. An acknowledgement is recorded in the table
(who: the caller's role, as the command audit names it; when: now) with a conditional write — of
two people acknowledging at once exactly one gets 200, the other 409 — and audited as an event on
the mission's events topic.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import Field

from mpcs.kit.alerts_table import AlreadyAcknowledged
from mpcs.orbit.timeutil import format_time_ns, ns_from_datetime

from ..auth import require
from ..deps import NAME_PATTERN, RoleDep, ServicesDep, ViewerDep
from ..models import ApiModel, ListPublic, Role, error_responses
from ..services import Services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=error_responses(401, 503))


class StatusFilter(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ALL = "all"


class AlertPublic(ApiModel):
    """The latest alert of one (satellite, rule): firing, or resolved."""

    id: str = Field(description="Alert id (stable across redeliveries of the same firing).")
    satellite: str
    rule: str
    status: str = Field(description="firing or resolved.")
    severity: str | None = None
    channel: str | None = Field(default=None, description="Channel (none for stale rules).")
    value: float | None = Field(default=None, description="Measured value when it fired.")
    threshold: float | None = None
    unit: str | None = None
    fired_at: str | None = Field(default=None, description="Spacecraft time it fired (RFC 3339).")
    resolved_at: str | None = Field(default=None, description="Spacecraft time it resolved.")
    acknowledged_by: str | None = Field(default=None, description="Role that acknowledged it.")
    acknowledged_at: str | None = Field(default=None, description="When (RFC 3339, UTC).")


def _public(alert: dict[str, Any]) -> AlertPublic:
    return AlertPublic.model_validate({k: v for k, v in alert.items() if k != "key"})


async def _table(services: Services) -> Any:
    try:
        return await asyncio.to_thread(services.alert_table)
    except Exception as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"alerts table not reachable (MPCS_ALERTS_TABLE, MPCS_AWS_*): {exc}",
        ) from None


def _unavailable(exc: Exception) -> HTTPException:
    log.warning("alerts table call failed: %s", exc)
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"alerts table did not answer: {type(exc).__name__}: {exc}",
    )


def _mission_key(services: Services) -> str:
    return f"{services.settings.namespace}/{services.settings.mission}"


@router.get("", response_model=ListPublic[AlertPublic], summary="Alerts of the mission")
async def list_alerts(
    _role: ViewerDep,
    services: ServicesDep,
    status_: Annotated[
        StatusFilter, Query(alias="status", description="firing, resolved or all.")
    ] = StatusFilter.ALL,
    satellite: Annotated[
        str | None,
        Query(max_length=63, pattern=NAME_PATTERN, description="Only this satellite's alerts."),
    ] = None,
) -> ListPublic[AlertPublic]:
    table = await _table(services)
    wanted = None if status_ is StatusFilter.ALL else status_.value
    try:
        found = await asyncio.to_thread(
            table.list_alerts, _mission_key(services), wanted, satellite
        )
    except Exception as exc:
        raise _unavailable(exc) from None
    alerts = [a for a in found if satellite is None or a.get("satellite") == satellite]
    alerts.sort(key=lambda a: (a.get("fired_at") or "", a.get("id")), reverse=True)
    data = [_public(a) for a in alerts]
    return ListPublic(data=data, count=len(data))


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertPublic,
    summary="Acknowledge an alert (operator)",
    responses=error_responses(403, 404, 409),
)
async def acknowledge(
    role: RoleDep,
    services: ServicesDep,
    alert_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=r"^[0-9a-f-]+$",
            description="Alert id (GET /api/v1/alerts).",
        ),
    ],
) -> AlertPublic:
    require(role, Role.OPERATOR, action="acknowledge alerts")
    table = await _table(services)
    at = format_time_ns(ns_from_datetime(datetime.now(UTC)))
    try:
        alert = await asyncio.to_thread(
            table.acknowledge, _mission_key(services), alert_id, role.value, at, once=True
        )
    except KeyError:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"alert_id: no alert {alert_id!r} in mission {services.settings.mission!r}",
        ) from None
    except AlreadyAcknowledged as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"alert_id: {exc}",
        ) from None
    except Exception as exc:
        raise _unavailable(exc) from None
    services.bus.send_event(
        str(alert.get("satellite") or ""),
        {
            "version": 1,
            "type": "alert_acknowledged",
            "time": at,
            "who": role.value,
            "alert": {k: v for k, v in alert.items() if k != "key"},
        },
    )
    return _public(alert)
