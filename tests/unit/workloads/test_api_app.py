"""The command API's reads, health and lifecycle, on in-memory adapters (api_fakes).

Satellites and passes, the latest-value cache and telemetry series, the WebSocket stream,
`/readyz`, the OpenAPI document, the executor inside the service and the history restored after a
restart. Sending commands is in test_api_commands.py; the same behaviour against the real servers
is in tests/integration/workloads/test_api_live.py.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_fakes import (
    L1,
    OPERATOR,
    VIEWER,
    FakeInflux,
    auth,
    bus,
    influx,
    make_services,
    make_settings,
)
from starlette.websockets import WebSocketDisconnect

from mpcs.core.commands import Command
from mpcs.workloads.api import create_app
from mpcs.workloads.api import services as services_module
from mpcs.workloads.api.services import Services
from mpcs.workloads.settings import WorkloadSettings

# --- satellites and passes ----------------------------------------------------------------------


async def test_satellites_of_the_mission_only(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/satellites", headers=auth(VIEWER))).json()
    assert body["count"] == 1
    assert body["data"][0]["name"] == "firewatch-1"
    detail = (await client.get("/api/v1/satellites/firewatch-1", headers=auth(VIEWER))).json()
    assert detail["tle"]["line1"] == L1
    assert detail["orbit"] == {"periodMinutes": 95.0}
    assert detail["phase"] == "Ready"


async def test_satellite_name_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/satellites/Not_A_Name", headers=auth(VIEWER))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "sat"]


async def test_passes_over_the_mission_stations(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/satellites/firewatch-1/passes", params={"hours": 12}, headers=auth(VIEWER)
    )
    assert response.status_code == 200
    passes = response.json()["data"]
    # A 97.5° sun-synchronous orbit passes over Svalbard (78° N) on most revolutions.
    assert len(passes) >= 4
    assert {p["station"] for p in passes} == {"svalbard"}
    assert all(p["aos"] < p["tca"] < p["los"] for p in passes if not p["clipped"])
    bad = await client.get(
        "/api/v1/satellites/firewatch-1/passes", params={"hours": 1000}, headers=auth(VIEWER)
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "hours"]


# --- telemetry ----------------------------------------------------------------------------------


def _telemetry(seq: int = 1, soc: float = 77.5) -> dict[str, Any]:
    from mpcs.core.telemetry import CHANNELS

    sample: dict[str, Any] = {
        "version": 1,
        "satellite": "firewatch-1",
        "time": f"2025-06-01T12:00:{seq:02d}.000000000Z",
        "seq": seq,
        "mode": "NOMINAL",
    }
    defaults = {"float": 1.0, "int": 1, "bool": False, "str": ""}
    for channel in CHANNELS:
        sample.setdefault(channel.subsystem, {})[channel.name] = defaults[channel.type]
    sample["power"]["battery_soc_pct"] = soc
    return sample


async def test_latest_comes_from_the_live_cache(
    client: httpx.AsyncClient, services: Services
) -> None:
    import orjson

    services.on_telemetry(_telemetry(2, 70.0), orjson.dumps(_telemetry(2, 70.0)))
    services.on_telemetry(_telemetry(1, 60.0), orjson.dumps(_telemetry(1, 60.0)))  # older: ignored
    body = (
        await client.get("/api/v1/satellites/firewatch-1/telemetry/latest", headers=auth(VIEWER))
    ).json()
    assert body["source"] == "stream"
    assert body["seq"] == 2
    assert body["mode"] == "NOMINAL"
    assert body["channels"]["power.battery_soc_pct"] == 70.0


async def test_latest_falls_back_to_influxdb(client: httpx.AsyncClient, services: Services) -> None:
    url = "/api/v1/satellites/firewatch-1/telemetry/latest"
    response = await client.get(url, headers=auth(VIEWER))
    assert response.status_code == 404
    assert "no telemetry" in response.json()["detail"]
    influx(services).latest_rows = [
        {
            "_time": "2025-06-01T12:00:00Z",
            "_measurement": "power",
            "_field": "battery_soc_pct",
            "_value": 55.0,
        },
        {
            "_time": "2025-06-01T12:00:00Z",
            "_measurement": "obc",
            "_field": "mode",
            "_value": "SAFE",
        },
        {"_time": "2025-06-01T12:00:00Z", "_measurement": "obc", "_field": "seq", "_value": 9},
    ]
    body = (await client.get(url, headers=auth(VIEWER))).json()
    assert body == {
        "satellite": "firewatch-1",
        "time": "2025-06-01T12:00:00Z",
        "seq": 9,
        "mode": "SAFE",
        "source": "influxdb",
        "channels": {"power.battery_soc_pct": 55.0},
    }


async def test_series_validates_channels_and_windows(
    client: httpx.AsyncClient, services: Services
) -> None:
    url = "/api/v1/satellites/firewatch-1/telemetry"
    response = await client.get(
        url,
        params={"channel": ["power.battery_soc_pct", "power.nope"]},
        headers=auth(VIEWER),
    )
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", "channel", 1]
    assert "'power.nope' is not a telemetry channel" in error["msg"]
    for params, field in [
        ({"every": "0s"}, "every"),
        ({"every": "soon"}, "every"),
        ({"every": "1ms", "start": "-1d"}, "every"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2025-01-01T00:00:00"}, "start"),
        ({"start": "-1h", "stop": "-2h"}, "stop"),
        ({"fn": "average"}, "fn"),
    ]:
        response = await client.get(
            url, params={"channel": "power.battery_soc_pct", **params}, headers=auth(VIEWER)
        )
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", field]
    response = await client.get(
        url,
        params={"channel": ["power.battery_soc_pct", "obc.fdir_latched"], "every": "1m"},
        headers=auth(VIEWER),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["data"][0]["points"] == [{"time": "2025-06-01T12:00:00Z", "value": 50.0}]
    assert [c["fn"] for c in influx(services).series_calls] == ["mean", "last"]  # bool → last


def test_websocket_needs_a_token_and_sends_the_latest_first(services: Services) -> None:
    import orjson

    services.on_telemetry(_telemetry(3), orjson.dumps(_telemetry(3)))
    import warnings

    with warnings.catch_warnings():
        # Starlette 1.x asks for `httpx2` for its TestClient; httpx works the same for this.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = create_app(services.settings, services=services)
    with TestClient(app) as test_client:
        url = "/api/v1/satellites/firewatch-1/telemetry/stream"
        with pytest.raises(WebSocketDisconnect), test_client.websocket_connect(url):
            pass
        with test_client.websocket_connect(f"{url}?token={VIEWER}") as ws:
            assert ws.receive_json()["seq"] == 3
        with test_client.websocket_connect(url, headers=auth(VIEWER)) as ws:
            assert ws.receive_json()["seq"] == 3
        with (
            pytest.raises(WebSocketDisconnect),
            test_client.websocket_connect(
                f"/api/v1/satellites/nope/telemetry/stream?token={VIEWER}"
            ),
        ):
            pass


# --- health, OpenAPI, executor ------------------------------------------------------------------


async def test_readyz_names_what_is_down(client: httpx.AsyncClient, services: Services) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    influx(services).down = "InfluxDB unreachable"
    await services.probe()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "not ready: influxdb: InfluxDB unreachable"
    influx(services).down = None
    await services.probe()
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"kafka": "ok", "influxdb": "ok"}
    metrics = (await client.get("/metrics")).text
    assert 'mpcs_api_requests_total{method="GET",route="/readyz",status="503"} 1.0' in metrics


async def test_openapi_declares_bearer_auth_and_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {
        "/api/v1/satellites",
        "/api/v1/satellites/{sat}",
        "/api/v1/satellites/{sat}/telemetry/latest",
        "/api/v1/satellites/{sat}/telemetry",
        "/api/v1/satellites/{sat}/passes",
        "/api/v1/satellites/{sat}/commands",
        "/api/v1/commands/dictionary",
        "/api/v1/commands/{command_id}",
        "/api/v1/commands",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    assert (await client.get("/docs")).status_code == 200


async def test_the_executor_runs_inside_the_service_and_stops_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def run_executor(settings: WorkloadSettings, *, stop: Any) -> None:
        calls.append(f"start {settings.mission}")
        await stop.wait()
        calls.append("stopped")

    module = types.ModuleType("fake_mpcs_executor")
    module.__spec__ = importlib.machinery.ModuleSpec("fake_mpcs_executor", None)
    module.run_executor = run_executor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_mpcs_executor", module)
    monkeypatch.setattr(services_module, "EXECUTOR_MODULE", "fake_mpcs_executor")

    services = make_services()
    await services.start()
    await __import__("asyncio").sleep(0.05)
    await services.stop()
    assert calls == ["start wildfire", "stopped"]

    disabled = make_services(make_settings(executor_enabled=False))
    await disabled.start()
    await disabled.stop()
    assert calls == ["start wildfire", "stopped"]


async def test_restart_restores_history_from_the_audit_points(services: Services) -> None:
    command = Command(satellite="firewatch-1", name="PING", issued_by="operator")
    services.on_command(command, 1_748_779_200_000)
    record = services.store.get(command.id)
    assert record is not None

    class Replay(FakeInflux):
        async def commands(
            self, *, start: str, command_id: str | None = None
        ) -> list[dict[str, Any]]:
            return [
                {
                    "_time": "2025-06-01T12:00:00Z",
                    "satellite": "firewatch-1",
                    "command": "PING",
                    "state": "sent",
                    "id": str(command.id),
                    "who": "operator",
                    "args": "{}",
                    "issued_at": "2025-06-01T12:00:00Z",
                    "idempotency_key": "k9",
                    "fingerprint": "fp",
                },
                {
                    "_time": "2025-06-01T12:00:01Z",
                    "satellite": "firewatch-1",
                    "command": "PING",
                    "state": "executed",
                    "id": str(command.id),
                    "who": "operator",
                },
            ]

    fresh = make_services()
    fresh.influx = Replay()
    assert await fresh.restore() == 1
    restored = fresh.store.get(command.id)
    assert restored is not None
    assert restored.state == "executed"
    assert await fresh.idempotency.begin("k9", "fp") == command.id
    assert restored.history[0].time == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def test_hostile_strings_are_refused_not_crashed_on(
    client: httpx.AsyncClient, services: Services
) -> None:
    # Lone surrogates are valid JSON escapes but cannot be encoded as UTF-8 (found by schemathesis).
    body = (
        b'{"name": "\\udbcd\\udf3e", "args": {"\\ud87c": ["x\\ud898"], "n": 1' + b"0" * 30 + b"}}"
    )
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        content=body,
        headers={**auth(OPERATOR), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert bus(services).events[-1]["result"] == "refused"
