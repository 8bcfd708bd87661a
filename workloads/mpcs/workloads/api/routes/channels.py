"""`/api/v1/telemetry/channels`: the telemetry channel catalogue, for the console and scripts.

The answer is `mpcs.core.telemetry.CHANNELS` (the one definition the validator, the ingest and
docs/telemetry.md use) and the spacecraft modes, so no client restates channels, units or ranges.
The catalogue is fixed per build: the answer is computed once, carries a strong ETag derived from
its bytes, and a request with a matching `If-None-Match` gets 304 without a body.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import Field

from mpcs.core.commands import Mode
from mpcs.core.telemetry import CHANNELS, CHANNELS_BY_SUBSYSTEM, SCHEMA_VERSION

from ..deps import ViewerDep
from ..models import ApiModel, error_responses

router = APIRouter(
    prefix="/api/v1/telemetry", tags=["telemetry"], responses=error_responses(401, 403)
)

#: Clients may reuse the catalogue for an hour without asking; after that a conditional request
#: (If-None-Match) costs a 304. `private`: the route needs a token, no shared cache may keep it.
CACHE_CONTROL = "private, max-age=3600"


class ChannelPublic(ApiModel):
    """One telemetry channel of the catalogue (docs/telemetry.md)."""

    key: str = Field(description="`subsystem.name`, unique across the catalogue.")
    subsystem: str = Field(description="Subsystem, the InfluxDB measurement holding the channel.")
    name: str = Field(description="Channel name within its subsystem.")
    type: str = Field(description="float, int, bool or str.")
    unit: str = Field(description='Unit ("1" dimensionless; empty for bool and str channels).')
    minimum: float | None = Field(description="Smallest valid value (none: unbounded or n/a).")
    maximum: float | None = Field(description="Largest valid value (none: unbounded or n/a).")
    description: str


class TelemetryCatalogPublic(ApiModel):
    """The telemetry catalogue: every channel in wire order, the subsystems and the modes."""

    schema_version: int = Field(description="Telemetry message schema version.")
    subsystems: list[str] = Field(description="Subsystems in wire order.")
    modes: list[str] = Field(description="Values of a message's `mode`.")
    data: list[ChannelPublic]
    count: int = Field(description="Number of channels.")


def build_catalog() -> TelemetryCatalogPublic:
    """The catalogue's answer, from mpcs.core.telemetry (pure)."""
    channels = [
        ChannelPublic(
            key=c.key,
            subsystem=c.subsystem,
            name=c.name,
            type=c.type,
            unit=c.unit,
            minimum=c.minimum,
            maximum=c.maximum,
            description=c.description,
        )
        for c in CHANNELS
    ]
    return TelemetryCatalogPublic(
        schema_version=SCHEMA_VERSION,
        subsystems=list(CHANNELS_BY_SUBSYSTEM),
        modes=[m.value for m in Mode],
        data=channels,
        count=len(channels),
    )


_BODY = build_catalog().model_dump_json(by_alias=True).encode()
ETAG = '"' + hashlib.sha256(_BODY).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or ETAG in tags


@router.get(
    "/channels",
    response_model=TelemetryCatalogPublic,
    summary="The telemetry channel catalogue (subsystem, name, type, unit, range)",
    responses={304: {"description": "Not modified: the client's copy (If-None-Match) is current"}},
)
async def channels(
    _role: ViewerDep,
    if_none_match: Annotated[str | None, Header(description="A previous ETag.")] = None,
) -> Response:
    headers = {"ETag": ETAG, "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(content=_BODY, media_type="application/json", headers=headers)
