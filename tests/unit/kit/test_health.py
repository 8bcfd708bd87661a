"""The probe/metrics server every MPCS process serves, over a real loopback socket."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CollectorRegistry, Counter

from mpcs.kit.health import HealthServer, Readiness


async def _get(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


async def test_healthz_readyz_metrics() -> None:
    registry = CollectorRegistry()
    Counter("mpcs_test_things", "Things.", registry=registry).inc(3)
    state = {"ready": Readiness(ready=False, reason="InfluxDB unreachable", detail={"x": 1})}
    server = HealthServer(
        readiness=lambda: state["ready"], registry=registry, port=0, host="127.0.0.1"
    )
    await server.start()
    try:
        port = server.port
        status, _, body = await _get(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (status, orjson.loads(body)) == (200, {"status": "ok"})

        status, headers, body = await _get(port, b"GET /readyz HTTP/1.1\r\n\r\n")
        assert status == 503
        assert headers["Content-Type"] == "application/json"
        assert orjson.loads(body) == {
            "status": "unready",
            "reason": "InfluxDB unreachable",
            "x": 1,
        }
        state["ready"] = Readiness(ready=True)
        status, _, body = await _get(port, b"GET /readyz?verbose=1 HTTP/1.1\r\n\r\n")
        assert (status, orjson.loads(body)) == (200, {"status": "ready"})

        status, headers, body = await _get(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        assert b"mpcs_test_things_total 3.0" in body

        status, _, body = await _get(port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
        assert (status, body) == (200, b"")
        status, _, body = await _get(port, b"GET /nope HTTP/1.1\r\n\r\n")
        assert status == 404
        assert b"/readyz" in body
        status, _, _ = await _get(port, b"POST /healthz HTTP/1.1\r\n\r\n")
        assert status == 405
        status, _, _ = await _get(port, b"garbage\r\n\r\n")
        assert status == 400
    finally:
        await server.stop()
