"""`/healthz` (liveness), `/readyz` (Kafka and InfluxDB answer), `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import ServicesDep
from ..models import HealthPublic, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, summary="Liveness")
async def healthz() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get(
    "/readyz",
    response_model=HealthPublic,
    summary="Readiness: Kafka and InfluxDB answer",
    responses=error_responses(503),
)
async def readyz(services: ServicesDep) -> HealthPublic | JSONResponse:
    checks = services.checks or await services.probe()
    if services.ready:
        return HealthPublic(status="ready", checks=checks)
    failing = "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return JSONResponse(
        status_code=503,
        content={"detail": f"not ready: {failing}", "status": "unready", "checks": checks},
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(
        content=generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
