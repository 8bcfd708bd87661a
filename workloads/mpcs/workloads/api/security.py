"""Request-level defences of the command API: body-size limits, per-token rate limits, CORS,
security headers, and the audit of every refused request.

`install_security(app, settings, services)` (called by `create_app`) adds, outermost first:

- `SecurityMiddleware`: opens the request's audit note (`audit.RequestNote`) and adds the
  security headers to every HTTP answer (`SECURITY_HEADERS`; on API and probe paths also
  `API_HEADERS`, which forbid a browser to run or frame anything from a JSON answer);
- `AuditedCORSMiddleware`: Starlette's CORS, allowing only `MPCS_API_CONSOLE_ORIGIN` (no origin
  at all when unset); a refused preflight is audited;
- `BodyLimitMiddleware`: 413 for a body over `MPCS_API_MAX_BODY_BYTES` (the telemetry POST:
  `MPCS_API_TELEMETRY_MAX_BYTES`), from its Content-Length before reading it, else as soon as
  the bytes read pass the limit (chunked bodies).

`Guard.authenticate` (called by `deps.current_role` and the telemetry WebSocket) turns a bearer
token into a role and applies the rate limits (`RateLimiter`): each token has its own bucket;
requests without a valid token share one bucket per client address, which bounds token
guessing. `Refusals.record` audits a refusal once per request: the `mpcs_api_refusals_total`
counter by reason, a log line, and a `request` event on the mission's events topic (never the
token or the body). The error handlers in `errors.py` call it for every 400/401/403/413/415/
422/429 answer; a refused command's own `command` event counts as its audit.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, status
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..settings import WorkloadSettings
from .audit import begin_request, end_request, refusal_event, request_note
from .auth import Tokens, authenticate, parse_authorization, token_key
from .errors import printable
from .models import Role

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger("mpcs.workloads.api")

#: Status → the `reason` of the refusals counter and of the audit event.
REFUSAL_REASONS: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}
#: The one route with its own body limit (MPCS_API_TELEMETRY_MAX_BYTES).
TELEMETRY_POST = re.compile(r"^/api/v1/satellites/[^/]+/telemetry/?$")
_SATELLITE_IN_PATH = re.compile(r"^/api/v1/satellites/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(/|$)")

#: On every HTTP answer (unless the route set the header itself).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
#: Also on the API's own paths (JSON answers: nothing to run, frame or cache).
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
)
_API_PATHS = ("/api/", "/healthz", "/readyz", "/metrics")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
#: 429s of one caller audited one by one at most this often; the others are counted.
RATE_LIMITED_AUDIT_INTERVAL_S = 1.0


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _event_key(path: str, mission: str) -> str:
    """The events topic key: the satellite a path names, else the mission."""
    match = _SATELLITE_IN_PATH.match(path)
    return match.group(1) if match else mission


def too_many(wait_s: float, detail: str) -> HTTPException:
    """429 with the seconds until the next request may pass (RFC 9110 `Retry-After`)."""
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=detail,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


class RateLimiter:
    """Token buckets by key: `burst` requests at once, refilled at `rate_per_s`.

    At most `max_keys` buckets are kept (the least recently used goes first: it is full again
    or nearly so). A rate of 0 lets everything through.

    >>> clock = [0.0]
    >>> limiter = RateLimiter(rate_per_s=1, burst=2, clock=lambda: clock[0])
    >>> [limiter.take("t") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> clock[0] = 1.0
    >>> limiter.take("t"), limiter.take("other")
    (0.0, 0.0)
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when a request may go ahead (it is counted), else the seconds until one may."""
        if self.rate_per_s <= 0:
            return 0.0
        now = self._clock()
        level, stamp = self._buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - stamp) * self.rate_per_s)
        wait = 0.0
        if level >= 1.0:
            level -= 1.0
        else:
            wait = (1.0 - level) / self.rate_per_s
        self._buckets[key] = (level, now)  # re-inserted: the dict's order is least recent first
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait


class Refusals:
    """Audits refused requests: counter by reason, a log line, an event on the events topic."""

    def __init__(self, services: Services, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self._clock = clock
        #: (who, client) → (when its last 429 was audited, 429s not audited since).
        self._limited: dict[tuple[str, str], tuple[float, int]] = {}

    def record(
        self,
        scope: Scope,
        *,
        status_code: int,
        detail: Any,
        reason: str | None = None,
        who: str | None = None,
    ) -> None:
        """Audit one refusal of the request `scope` (once per request)."""
        reason = reason or REFUSAL_REASONS.get(status_code, "refused")
        metrics = self.services.metrics
        metrics.refusals.labels(reason).inc()
        note = request_note()
        if note.audited:
            return
        note.audited = True
        who = who or note.who
        client = client_of(scope)
        suppressed = 0
        if status_code == status.HTTP_429_TOO_MANY_REQUESTS:
            now = self._clock()
            last, count = self._limited.get((who, client), (-math.inf, 0))
            if now - last < RATE_LIMITED_AUDIT_INTERVAL_S:
                self._limited[(who, client)] = (last, count + 1)
                return
            self._limited[(who, client)] = (now, 0)
            suppressed = count
            if len(self._limited) > 10_000:
                del self._limited[next(iter(self._limited))]
        text = detail if isinstance(detail, str) else _summary(detail)
        text = printable(text)[:1000]
        method = str(scope.get("method") or "WEBSOCKET")
        path = printable(str(scope.get("path") or ""))[:300]
        event = refusal_event(
            who=who,
            status=status_code,
            reason=reason,
            detail=text,
            method=method,
            path=path,
            client=client,
            suppressed=suppressed,
        )
        self.services.bus.send_event(_event_key(path, self.services.settings.mission), event)
        log.info(
            "request refused: %d %s %s %s by %s from %s: %s",
            status_code,
            reason,
            method,
            path,
            who,
            client,
            text,
        )


def _summary(detail: Any) -> str:
    """A 422's list of field errors as one line: `loc: msg; …` (their inputs left out)."""
    if isinstance(detail, list):
        parts = []
        for error in detail[:20]:
            if isinstance(error, dict):
                loc = ".".join(str(p) for p in error.get("loc", ()))
                parts.append(f"{loc}: {error.get('msg', '')}")
        more = f"; … {len(detail) - 20} more" if len(detail) > 20 else ""
        return "; ".join(parts) + more
    return str(detail)


class Guard:
    """Authentication with rate limits, and the refusal audit, of one app."""

    def __init__(self, services: Services, settings: WorkloadSettings) -> None:
        self.services = services
        self.settings = settings
        self.limiter = RateLimiter(
            rate_per_s=settings.api_rate_limit_per_s, burst=settings.api_rate_limit_burst
        )
        self.refusals = Refusals(services)

    def apply_tokens(self, tokens: Tokens) -> None:
        """Put rotated tokens in force (`auth.watch_tokens`)."""
        self.services.tokens = tokens
        self.services.metrics.token_reloads.inc()

    def authenticate(self, *, header: str | None, token: str | None, client: str) -> Role:
        """The role of the bearer token in `header` (or `token`, a WebSocket's `?token=`).

        401 for none or an unknown one; 429 once the caller is over its rate: the token's own
        bucket, or, without a valid token, the bucket of the client address.
        """
        try:
            if token is None:
                token = parse_authorization(header)
            role = authenticate(self.services.tokens, token)
        except HTTPException:
            wait = self.limiter.take(f"client:{client}")
            if wait:
                raise too_many(
                    wait, "too many requests without a valid token from this address"
                ) from None
            raise
        request_note().who = role.value
        assert token is not None
        wait = self.limiter.take(f"token:{token_key(token)}")
        if wait:
            raise too_many(
                wait,
                f"this {role.value} token is over its rate limit "
                f"({self.limiter.rate_per_s:g} requests/s, bursts of {self.limiter.burst:g})",
            )
        return role


class SecurityMiddleware:
    """The request's audit note, and the security headers on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        note = begin_request()
        path = str(scope.get("path") or "")
        extra = list(SECURITY_HEADERS)
        if path.startswith(_API_PATHS):
            extra += API_HEADERS
        if scope.get("scheme") == "https":
            extra.append(_HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            end_request(note)


class AuditedCORSMiddleware(CORSMiddleware):
    """Starlette's CORS; a preflight it refuses (an origin, method or header not allowed) is
    audited like any other refusal."""

    def __init__(self, app: ASGIApp, *, refusals: Refusals, origin: str | None) -> None:
        super().__init__(
            app,
            allow_origins=[origin] if origin else [],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding", "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
            allow_credentials=False,  # bearer tokens, no cookies
            max_age=600,
        )
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    self.refusals.record(
                        scope,
                        status_code=response.status_code,
                        reason="cors_origin",
                        detail=f"CORS preflight from {headers['origin']!r}: "
                        + bytes(response.body).decode(errors="replace"),
                    )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class BodyLimitMiddleware:
    """413 for a request body over the route's limit, before the app reads it all."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, telemetry_max_bytes: int, refusals: Refusals
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.telemetry_max_bytes = telemetry_max_bytes
        self.refusals = refusals

    def limit_of(self, scope: Scope) -> int:
        if scope["method"] == "POST" and TELEMETRY_POST.match(scope["path"]):
            return self.telemetry_max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        detail = f"body: larger than {limit} bytes, the most this route accepts"
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            self.refusals.record(scope, status_code=413, detail=detail)
            response = JSONResponse(
                {"detail": detail}, status_code=413, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app's body read: the error handlers answer (and audit).
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=detail)
            return message

        await self.app(scope, limited, send)


_TOKEN_IN_URL = re.compile(r"([?&](?:access_)?token=)[^&\s\"']*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Blanks `?token=…` in a log record: uvicorn logs a WebSocket handshake's whole path (the
    browser's only way to send a token there) at INFO, access log or not.

    >>> path = ("/s?token=abc&x=1",)
    >>> record = logging.LogRecord("uvicorn.error", 20, "", 0, '"WebSocket %s" 1', path, None)
    >>> RedactTokens().filter(record), record.getMessage()
    (True, '"WebSocket /s?token=[redacted]&x=1" 1')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_tokens_in_logs() -> None:
    """Attach `RedactTokens` to the loggers that print request paths (once per process)."""
    for name in ("uvicorn.error", "uvicorn.access", "uvicorn", "websockets", "websockets.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def install_security(app: FastAPI, settings: WorkloadSettings, services: Services) -> Guard:
    """Add the middlewares (call before the metrics middleware, which stays outermost)."""
    redact_tokens_in_logs()
    guard = Guard(services, settings)
    app.state.guard = guard
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.api_max_body_bytes,
        telemetry_max_bytes=settings.api_telemetry_max_bytes,
        refusals=guard.refusals,
    )
    app.add_middleware(
        AuditedCORSMiddleware, refusals=guard.refusals, origin=settings.api_console_origin
    )
    app.add_middleware(SecurityMiddleware)
    return guard
