"""The probe and metrics server of every MPCS process: `/healthz`, `/readyz`, `/metrics`.

The simulator, the ingest and the command API (beside its own FastAPI routes, on
`MPCS_METRICS_PORT`) serve their Kubernetes probes and Prometheus metrics with this one server, on
the container port named "metrics" (`mpcs.core.names.METRICS_PORT`). It is plain
`asyncio.start_server` (HTTP/1.1, one request per connection, `GET`/`HEAD` only) so a probe never
waits behind the service's own work, and a process needs no web framework to be probed.

- `/healthz`: 200 `{"status": "ok"}` while the event loop answers (liveness);
- `/readyz`: 200 `{"status": "ready", ...}` or 503 `{"status": "unready", "reason": ...}` from the
  service's `readiness()` callback (e.g. Kafka or InfluxDB unreachable);
- `/metrics`: the Prometheus text exposition of the service's registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
_MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Readiness:
    """The answer of a readiness check: ready or not, why, and any detail worth showing."""

    ready: bool
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class HealthServer:
    """Serves the probes and metrics of one process on `host:port` until `stop()`."""

    def __init__(
        self,
        *,
        readiness: Callable[[], Readiness],
        registry: CollectorRegistry,
        port: int,
        host: str = "0.0.0.0",
    ) -> None:
        self._readiness = readiness
        self._registry = registry
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("serving /healthz /readyz /metrics on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10.0)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        try:
            status, content_type, body = self._respond(head[:_MAX_HEADER_BYTES])
            method = head.split(b" ", 1)[0]
            writer.write(
                (
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                    f"Content-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
                + (b"" if method == b"HEAD" else body)
            )
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, str, bytes]:
        json_type = "application/json"
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return 400, json_type, orjson.dumps({"error": "malformed request line"})
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return 405, json_type, orjson.dumps({"error": f"method {method.decode()} not allowed"})
        if target == b"/healthz":
            return 200, json_type, orjson.dumps({"status": "ok"})
        if target == b"/readyz":
            state = self._readiness()
            body: dict[str, Any] = {"status": "ready" if state.ready else "unready"}
            if state.reason:
                body["reason"] = state.reason
            body.update(state.detail)
            return (200 if state.ready else 503), json_type, orjson.dumps(body)
        if target == b"/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        paths = ["/healthz", "/readyz", "/metrics"]
        return 404, json_type, orjson.dumps({"error": f"no such path; try one of {paths}"})
