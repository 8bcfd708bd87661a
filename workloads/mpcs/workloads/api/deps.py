"""Dependencies of the routes, as `Annotated` aliases (`ViewerDep`, `OperatorDep`, `SatelliteDep`…).

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per
dependency per request that costs more than the work itself.

Authentication runs before anything else a route depends on, so an anonymous client learns
nothing (not even whether a satellite exists) before its 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import require
from .models import Role
from .security import Guard, client_of
from .services import Services

#: DNS label (RFC 1123), what a Satellite name is.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

_bearer = HTTPBearer(
    auto_error=False,
    description="A role's token: viewer (reads), operator (commands), admin (critical commands), "
    "ingest (posting telemetry only).",
)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_role(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Role:
    """The caller's role from `Authorization: Bearer <token>` (401 otherwise; 429 over the
    token's rate limit)."""
    guard: Guard = request.app.state.guard
    return guard.authenticate(
        header=request.headers.get("authorization"), token=None, client=client_of(request.scope)
    )


RoleDep = Annotated[Role, Depends(current_role)]


async def viewer(role: RoleDep) -> Role:
    require(role, Role.VIEWER, action="read")
    return role


async def operator(role: RoleDep) -> Role:
    require(role, Role.OPERATOR, action="send commands")
    return role


async def ingest(role: RoleDep) -> Role:
    require(role, Role.INGEST, action="post telemetry")
    return role


ViewerDep = Annotated[Role, Depends(viewer)]
OperatorDep = Annotated[Role, Depends(operator)]
IngestDep = Annotated[Role, Depends(ingest)]

SatelliteName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=63,
        pattern=NAME_PATTERN,
        description="Satellite name (a Satellite object of the mission).",
    ),
]


async def satellite_object(sat: SatelliteName, services: ServicesDep) -> dict[str, Any]:
    """The Satellite object of the mission called `sat` (404 otherwise)."""
    obj = await services.directory.satellite(sat)
    if obj is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"sat: no satellite {sat!r} in mission {services.settings.mission!r}",
        )
    return obj


SatelliteDep = Annotated[dict[str, Any], Depends(satellite_object)]
