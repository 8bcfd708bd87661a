"""`/api/v1/satellites/{sat}/telemetry…`: latest values, aggregated series, live stream.

Latest values come from the service's live cache (fed by the telemetry topic) and, for a
satellite it has not heard from since it started, from InfluxDB (`last()` of every field).
Series are InfluxDB `aggregateWindow`s of one or more catalogued channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import (
    APIRouter,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketState

from mpcs.core.telemetry import CHANNEL_INDEX
from mpcs.kit.influx import InfluxUnavailable

from ..auth import require
from ..deps import NAME_PATTERN, IngestDep, SatelliteDep, ServicesDep, ViewerDep
from ..errors import field_error
from ..ingest_http import BodyRefused, InvalidBatch, SinkUnavailable, read_batch
from ..models import (
    ListPublic,
    Role,
    TelemetryAcceptedPublic,
    TelemetryLatestPublic,
    TelemetryPoint,
    TelemetrySeriesPublic,
    error_responses,
)
from ..security import Guard, client_of
from ..services import Services

log = logging.getLogger("mpcs.workloads.api")
router = APIRouter(
    prefix="/api/v1/satellites", tags=["telemetry"], responses=error_responses(401, 404, 503)
)

_DURATION = re.compile(r"^(\d+)(ns|us|ms|s|m|h|d|w)$")
_RELATIVE = re.compile(r"^-(\d+)(ns|us|ms|s|m|h|d|w)$")
_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86_400.0,
    "w": 604_800.0,
}
#: At most this many windows per channel in one answer.
MAX_POINTS = 10_000
FUNCTIONS = ("mean", "min", "max", "last", "first", "median", "sum", "count")
_NUMERIC_ONLY = frozenset({"mean", "min", "max", "median", "sum"})


def _instant(name: str, text: str | None, now: datetime, default_s: float) -> tuple[str, float]:
    """A Flux time literal and its offset from now (s) from `-1h`, RFC 3339 or `now`."""
    if text is None:
        text = f"-{int(default_s)}s" if default_s else "now"
    if text == "now":
        return "now()", 0.0
    match = _RELATIVE.match(text)
    if match:
        return text, -int(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise field_error(
            ("query", name),
            f"{text!r} is not a time: use RFC 3339 with a timezone "
            "(2025-01-01T00:00:00Z), a negative duration (-1h) or now",
            text,
        ) from None
    if moment.tzinfo is None:
        raise field_error(("query", name), f"{text!r} needs a timezone (e.g. Z)", text)
    if not 1677 < moment.year < 2262:
        raise field_error(("query", name), f"{text!r} is outside 1678..2261", text)
    iso = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return iso, (moment - now).total_seconds()


@router.get(
    "/{sat}/telemetry/latest",
    response_model=TelemetryLatestPublic,
    summary="Latest value of every channel",
)
async def latest(
    _role: ViewerDep, services: ServicesDep, obj: SatelliteDep
) -> TelemetryLatestPublic | Response:
    sat = obj["metadata"]["name"]
    cached = services.telemetry.latest(sat)
    if cached is not None:
        services.metrics.latest_source.labels("stream").inc()
        return TelemetryLatestPublic(
            satellite=sat,
            time=cached.time,
            seq=cached.seq,
            mode=cached.mode,
            source="stream",
            channels=cached.channels,
        )
    try:
        rows = await services.influx.latest(sat)
    except InfluxUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    services.metrics.latest_source.labels("influxdb").inc()
    channels: dict[str, Any] = {}
    newest = ""
    mode: str | None = None
    seq: int | None = None
    for row in rows:
        key = f"{row.get('_measurement')}.{row.get('_field')}"
        stamp = str(row.get("_time") or "")
        newest = max(newest, stamp)
        if key in CHANNEL_INDEX:
            channels[key] = row.get("_value")
        elif key == "obc.mode":
            mode = row.get("_value")
        elif key == "obc.seq":
            seq = row.get("_value")
    if not channels:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"sat: no telemetry of satellite {sat!r} yet (live stream and InfluxDB)",
        )
    return TelemetryLatestPublic(
        satellite=sat,
        time=newest or None,
        seq=seq,
        mode=mode,
        source="influxdb",
        channels=channels,
    )


@router.get(
    "/{sat}/telemetry",
    response_model=ListPublic[TelemetrySeriesPublic],
    summary="Channels aggregated over time windows",
)
async def series(
    _role: ViewerDep,
    services: ServicesDep,
    obj: SatelliteDep,
    channel: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=20,
            description="Channel name(s), e.g. power.battery_soc_pct (repeat for several).",
        ),
    ],
    start: Annotated[
        str | None, Query(description="RFC 3339 time or negative duration (default -1h).")
    ] = None,
    stop: Annotated[
        str | None, Query(description="RFC 3339 time, negative duration or now (default).")
    ] = None,
    every: Annotated[
        str | None,
        Query(description="Window, e.g. 10s, 1m (default: the range / 300, at least 1s)."),
    ] = None,
    fn: Annotated[
        str, Query(description="Aggregate: " + ", ".join(FUNCTIONS) + " (default mean).")
    ] = "mean",
) -> ListPublic[TelemetrySeriesPublic]:
    for index, name in enumerate(channel):
        if name not in CHANNEL_INDEX:
            raise field_error(
                ("query", "channel", index),
                f"{name!r} is not a telemetry channel; channels are subsystem.name, e.g. "
                "power.battery_soc_pct (see docs/telemetry.md)",
                name,
            )
    if fn not in FUNCTIONS:
        raise field_error(("query", "fn"), f"{fn!r} is not one of {', '.join(FUNCTIONS)}", fn)
    now = datetime.now(UTC)
    start_flux, start_s = _instant("start", start, now, 3600.0)
    stop_flux, stop_s = _instant("stop", stop, now, 0.0)
    span_s = stop_s - start_s
    if span_s <= 0:
        raise field_error(("query", "stop"), "stop must be after start", stop)
    if every is None:
        every = f"{max(1, int(span_s / 300))}s"
    match = _DURATION.match(every)
    if not match or int(match.group(1)) == 0:
        raise field_error(
            ("query", "every"), f"{every!r} is not a positive duration like 10s, 1m, 1h", every
        )
    every_s = int(match.group(1)) * _SECONDS[match.group(2)]
    if span_s / every_s > MAX_POINTS:
        raise field_error(
            ("query", "every"),
            f"{every!r} makes {int(span_s / every_s)} windows; at most {MAX_POINTS} per channel",
            every,
        )
    sat = obj["metadata"]["name"]
    result = []
    for name in channel:
        spec = CHANNEL_INDEX[name]
        chosen = fn
        if fn in _NUMERIC_ONLY and spec.type in ("bool", "str"):
            chosen = "last"  # mean of a bool/str channel makes no sense: its last value does
        try:
            rows = await services.influx.series(
                sat, name, start=start_flux, stop=stop_flux, every=every, fn=chosen
            )
        except InfluxUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        points = [TelemetryPoint(time=str(r.get("_time")), value=r.get("_value")) for r in rows]
        result.append(TelemetrySeriesPublic(channel=name, unit=spec.unit, fn=chosen, points=points))
    return ListPublic[TelemetrySeriesPublic](data=result, count=len(result))


# --- posting telemetry (ground stations) --------------------------------------------------------

_POST_BODY: dict[str, Any] = {
    "description": "One telemetry message (docs/telemetry.md), a JSON array of them, or NDJSON "
    "(one per line); optionally gzip- or zstd-encoded (Content-Encoding).",
    "required": True,
    "content": {
        "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/{sat}/telemetry",
    response_model=TelemetryAcceptedPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Post telemetry messages (ingest role)",
    responses=error_responses(400, 403, 413, 415, 429, 503),
    openapi_extra={"requestBody": _POST_BODY},
)
async def post_telemetry(
    _role: IngestDep, services: ServicesDep, obj: SatelliteDep, request: Request
) -> TelemetryAcceptedPublic | JSONResponse:
    """Validate every message, then produce them all to the telemetry topic (202), or none.

    One bad message refuses the whole batch: 422 with `detail` listing each bad message's
    index and field (the first 100), `invalid` and `received` counts, and nothing produced.
    """
    sat = str(obj["metadata"]["name"])
    guard: Guard = request.app.state.guard
    body = await request.body()
    try:
        batch = await read_batch(
            body,
            content_type=request.headers.get("content-type"),
            encoding=request.headers.get("content-encoding"),
            limit=services.settings.api_telemetry_max_bytes,
            satellite=sat,
        )
    except BodyRefused as exc:
        if not isinstance(exc.detail, InvalidBatch):
            raise HTTPException(exc.status, detail=exc.detail) from None
        invalid = exc.detail
        guard.refusals.record(
            request.scope,
            status_code=422,
            detail=f"{invalid.invalid} of {invalid.received} telemetry messages invalid "
            "(none taken): "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors[:5]),
        )
        return JSONResponse(
            status_code=422,
            content={
                "detail": invalid.errors,
                "invalid": invalid.invalid,
                "received": invalid.received,
                "accepted": 0,
            },
        )
    sink = request.app.state.telemetry_sink
    try:
        await sink.send(sat, batch.values)
    except SinkUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    services.metrics.telemetry_posted.inc(len(batch.values))
    return TelemetryAcceptedPublic(
        satellite=sat, received=len(batch.values), accepted=len(batch.values), topic=sink.topic
    )


# --- live stream -------------------------------------------------------------------------------

ws_router = APIRouter(tags=["telemetry"])


async def _deny(websocket: WebSocket, status_code: int, detail: str) -> None:
    """Refuse the handshake with an HTTP answer (or a close frame where that is unsupported)."""
    headers = {"WWW-Authenticate": 'Bearer realm="mpcs"'} if status_code == 401 else None
    response = Response(
        content=orjson.dumps({"detail": detail}),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:
        await websocket.close(code=1008, reason=detail[:120])


async def _authorise(websocket: WebSocket) -> tuple[int, str] | None:
    """The status and reason to refuse the connection with (audited), or None."""
    guard: Guard = websocket.app.state.guard
    token = websocket.query_params.get("token")
    try:
        role = guard.authenticate(
            header=websocket.headers.get("authorization"),
            token=token,
            client=client_of(websocket.scope),
        )
        require(role, Role.VIEWER, action="read telemetry")
    except HTTPException as exc:
        guard.refusals.record(websocket.scope, status_code=exc.status_code, detail=exc.detail)
        return exc.status_code, str(exc.detail)
    return None


@ws_router.websocket("/api/v1/satellites/{sat}/telemetry/stream")
async def stream(websocket: WebSocket, sat: str) -> None:
    """Every telemetry message of `sat` as it arrives (JSON text frames; the latest one first)."""
    services: Services = websocket.app.state.services
    refused = await _authorise(websocket)
    if refused is not None:
        await _deny(websocket, *refused)
        return
    if not re.match(NAME_PATTERN, sat) or await services.directory.satellite(sat) is None:
        await _deny(websocket, 404, f"no satellite named {sat[:63]!r} in the mission")
        return
    await websocket.accept()
    queue = services.telemetry.subscribe(sat)
    services.metrics.ws_clients.inc()
    receiver: asyncio.Future[Any] | None = None
    try:
        latest = services.telemetry.latest(sat)
        if latest is not None:
            await websocket.send_text(latest.raw.decode())
        receiver = asyncio.ensure_future(websocket.receive())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                message = receiver.result()
                if message["type"] == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(websocket.receive())
                continue
            await websocket.send_text(getter.result().decode())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        services.telemetry.unsubscribe(sat, queue)
        services.metrics.ws_clients.dec()
        if receiver is not None:
            receiver.cancel()
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
