"""The command API's routes with in-memory stand-ins for Kafka, InfluxDB and the Kubernetes API.

Auth, role checks, validation (422 naming the field), critical-command confirmation, idempotency,
the command state history and the latest-value cache — everything that needs no server. The same
behaviour against the real servers is in tests/integration/workloads/test_api_live.py.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from mpcs.core.commands import Ack, AckState, Command
from mpcs.workloads.api import create_app
from mpcs.workloads.api import services as services_module
from mpcs.workloads.api.kafka import KafkaUnavailable
from mpcs.workloads.api.kube import Directory
from mpcs.workloads.api.services import Services, tokens_of
from mpcs.workloads.settings import WorkloadSettings

L1 = "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992"
L2 = "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043"
VIEWER, OPERATOR, ADMIN = "viewer-token", "operator-token", "admin-token"


def _satellite(name: str, mission: str = "wildfire") -> dict[str, Any]:
    return {
        "apiVersion": "mpcs.io/v1alpha1",
        "kind": "Satellite",
        "metadata": {"name": name},
        "spec": {
            "missionRef": {"name": mission},
            "noradId": 63201,
            "tle": {"line1": L1, "line2": L2},
            "telemetryIntervalSeconds": 10,
        },
        "status": {"phase": "Ready", "orbit": {"periodMinutes": 95.0}},
    }


class FakeSource:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.reads = 0

    async def list(self, plural: str) -> list[dict[str, Any]]:
        self.reads += 1
        return list(self.objects.get(plural, []))

    async def get(self, plural: str, name: str) -> dict[str, Any] | None:
        return next(
            (o for o in self.objects.get(plural, []) if o["metadata"]["name"] == name), None
        )


class FakeBus:
    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.events: list[dict[str, Any]] = []
        self.fail: str | None = None

    async def send_command(self, command: Command) -> datetime:
        if self.fail:
            raise KafkaUnavailable(self.fail)
        self.commands.append(command)
        return datetime.now(UTC)

    def send_event(self, key: str, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def check(self) -> None:
        if self.fail:
            raise KafkaUnavailable(self.fail)


class FakeInflux:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.latest_rows: list[dict[str, Any]] = []
        self.series_calls: list[dict[str, Any]] = []
        self.down: str | None = None

    async def ping(self) -> None:
        if self.down:
            raise RuntimeError(self.down)

    async def write(self, lines: list[str]) -> None:
        self.lines += lines

    async def latest(self, satellite: str) -> list[dict[str, Any]]:
        return self.latest_rows

    async def series(
        self, satellite: str, channel: str, *, start: str, stop: str, every: str, fn: str
    ) -> list[dict[str, Any]]:
        self.series_calls.append(
            {"channel": channel, "start": start, "stop": stop, "every": every, "fn": fn}
        )
        return [{"_time": "2025-06-01T12:00:00Z", "_value": 50.0}]

    async def commands(self, *, start: str, command_id: str | None = None) -> list[dict[str, Any]]:
        return []


def _settings(**extra: Any) -> WorkloadSettings:
    values: dict[str, Any] = {
        "namespace": "ops",
        "mission": "wildfire",
        "kafka_bootstrap": "127.0.0.1:1",
        "influx_url": "http://127.0.0.1:1",
        "influx_org": "mpcs",
        "influx_token": "t",
        "api_token_viewer": VIEWER,
        "api_token_operator": OPERATOR,
        "api_token_admin": ADMIN,
    }
    values.update(extra)
    return WorkloadSettings(**values)


def _services(settings: WorkloadSettings | None = None) -> Services:
    settings = settings or _settings()
    source = FakeSource(
        {
            "satellites": [_satellite("firewatch-1"), _satellite("other-sat", mission="other")],
            "missions": [
                {"metadata": {"name": "wildfire"}, "spec": {"groundStations": ["svalbard"]}}
            ],
            "groundstations": [
                {
                    "metadata": {"name": "svalbard"},
                    "spec": {"latitudeDeg": 78.2297, "longitudeDeg": 15.4077, "altitudeM": 500},
                }
            ],
        }
    )
    return Services(
        settings=settings,
        tokens=tokens_of(settings),
        directory=Directory(source, mission=settings.mission, ttl_s=60),
        influx=FakeInflux(),
        bus=FakeBus(),
    )


@pytest.fixture
def services() -> Services:
    return _services()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bus(services: Services) -> FakeBus:
    assert isinstance(services.bus, FakeBus)
    return services.bus


def influx(services: Services) -> FakeInflux:
    assert isinstance(services.influx, FakeInflux)
    return services.influx


def audit_lines(services: Services) -> list[str]:
    assert services.audit is not None
    return list(services.audit._lines)


# --- auth ---------------------------------------------------------------------------------------


async def test_no_token_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/satellites")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token is required" in response.json()["detail"]


async def test_bad_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/satellites", headers=auth("guess"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unauthenticated_request_learns_nothing_about_satellites(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/satellites/no-such-sat")
    assert response.status_code == 401


async def test_viewer_may_read_but_not_command(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/satellites", headers=auth(VIEWER))).status_code == 200
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands", json={"name": "PING"}, headers=auth(VIEWER)
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "role viewer may not send commands; it needs the operator role"
    )


async def test_operator_may_not_send_a_critical_command(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "RESET_SUBSYSTEM", "args": {"subsystem": "obc"}, "confirm": True},
        headers=auth(OPERATOR),
    )
    assert response.status_code == 403
    assert "RESET_SUBSYSTEM is a critical command" in response.json()["detail"]
    assert "admin" in response.json()["detail"]
    assert bus(services).commands == []
    # Refusals are audited too: who, what, result.
    assert bus(services).events[-1]["result"] == "refused"
    assert bus(services).events[-1]["status"] == 403
    assert ",state=refused," in audit_lines(services)[-1]


async def test_critical_command_needs_confirm(
    client: httpx.AsyncClient, services: Services
) -> None:
    body: dict[str, Any] = {"name": "RESET_SUBSYSTEM", "args": {"subsystem": "obc"}}
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands", json=body, headers=auth(ADMIN)
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("confirm: RESET_SUBSYSTEM is a critical command")
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={**body, "confirm": True},
        headers=auth(ADMIN),
    )
    assert response.status_code == 202
    assert bus(services).commands[0].issued_by == "admin"


# --- validation ---------------------------------------------------------------------------------


async def test_unknown_satellite_is_404(client: httpx.AsyncClient) -> None:
    for sat in ("no-such-sat", "other-sat"):  # other-sat belongs to another mission
        response = await client.post(
            f"/api/v1/satellites/{sat}/commands", json={"name": "PING"}, headers=auth(OPERATOR)
        )
        assert response.status_code == 404
        assert sat in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"name": "FLY"}, ["body", "name"], "'FLY' is not a command"),
        ({"name": "SET_MODE", "args": {"mode": "SLEEP"}}, ["body", "args", "mode"], "'SLEEP'"),
        ({"name": "SET_MODE"}, ["body", "args", "mode"], "is required"),
        ({"name": "PING", "args": {"loud": True}}, ["body", "args", "loud"], "unknown argument"),
        (
            {"name": "CAPTURE_IMAGE", "args": {"count": 1000}},
            ["body", "args", "count"],
            "1..100",
        ),
        (
            {"name": "PING", "validUntil": "2000-01-01T00:00:00Z"},
            ["body", "validUntil"],
            "in the past",
        ),
        ({"name": "PING", "validUntil": "2099-01-01T00:00:00"}, ["body", "validUntil"], "timezone"),
        ({"name": "PING", "colour": "red"}, ["body", "colour"], "Extra inputs"),
        ({"args": {}}, ["body", "name"], "Field required"),
    ],
)
async def test_bad_commands_are_422_naming_the_field(
    client: httpx.AsyncClient, services: Services, body: dict[str, Any], loc: list[str], words: str
) -> None:
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands", json=body, headers=auth(OPERATOR)
    )
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == loc
    assert words in error["msg"]
    assert bus(services).commands == []


async def test_a_command_is_sent_keyed_by_satellite_and_audited(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "SET_MODE", "args": {"mode": "SAFE"}, "validUntil": "2099-01-01T00:00:00Z"},
        headers=auth(OPERATOR),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "sent"
    assert body["issuedBy"] == "operator"
    assert [e["state"] for e in body["history"]] == ["sent"]
    (command,) = bus(services).commands
    assert str(command.id) == body["id"]
    assert command.satellite == "firewatch-1"
    assert command.args == {"mode": "SAFE"}
    assert command.valid_until == datetime(2099, 1, 1, tzinfo=UTC)
    event = bus(services).events[-1]
    assert (event["who"], event["result"], event["command"]["name"]) == (
        "operator",
        "sent",
        "SET_MODE",
    )
    line = audit_lines(services)[-1]
    assert line.startswith(
        f"commands,satellite=firewatch-1,command=SET_MODE,state=sent,id={command.id} "
    )
    assert 'who="operator"' in line


async def test_defaults_are_filled_in(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "CAPTURE_IMAGE"},
        headers=auth(OPERATOR),
    )
    assert response.status_code == 202
    assert response.json()["args"] == {"count": 1, "exposure_ms": 10.0}


# --- idempotency --------------------------------------------------------------------------------


async def test_idempotency_key_returns_the_first_command(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = {**auth(OPERATOR), "Idempotency-Key": "abc-123"}
    body = {"name": "PING"}
    first = await client.post("/api/v1/satellites/firewatch-1/commands", json=body, headers=headers)
    again = await client.post("/api/v1/satellites/firewatch-1/commands", json=body, headers=headers)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(bus(services).commands) == 1
    other = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "SET_MODE", "args": {"mode": "SAFE"}},
        headers=headers,
    )
    assert other.status_code == 409
    assert "Idempotency-Key 'abc-123' was already used" in other.json()["detail"]


async def test_without_a_key_a_retry_is_a_second_command(
    client: httpx.AsyncClient, services: Services
) -> None:
    for _ in range(2):
        await client.post(
            "/api/v1/satellites/firewatch-1/commands", json={"name": "PING"}, headers=auth(OPERATOR)
        )
    assert len(bus(services).commands) == 2


async def test_kafka_down_is_503_and_the_key_stays_usable(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = {**auth(OPERATOR), "Idempotency-Key": "retry-me"}
    bus(services).fail = "broker unreachable"
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands", json={"name": "PING"}, headers=headers
    )
    assert response.status_code == 503
    assert "broker unreachable" in response.json()["detail"]
    assert bus(services).events[-1]["result"] == "send_failed"
    bus(services).fail = None
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands", json={"name": "PING"}, headers=headers
    )
    assert response.status_code == 202
    assert len(bus(services).commands) == 1


# --- command state ------------------------------------------------------------------------------


async def test_acks_build_the_state_history(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        json={"name": "SET_MODE", "args": {"mode": "SAFE"}},
        headers=auth(OPERATOR),
    )
    cid = uuid.UUID(response.json()["id"])
    sc_time = datetime(2025, 6, 1, 12, tzinfo=UTC)
    for state in (AckState.ACCEPTED, AckState.EXECUTED):
        ack = Ack(
            command_id=cid, satellite="firewatch-1", name="SET_MODE", state=state, time=sc_time
        )
        services.on_ack(ack, 0)
        services.on_ack(ack, 0)  # a re-delivered ack changes nothing
    response = await client.get(f"/api/v1/commands/{cid}", headers=auth(VIEWER))
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "executed"
    assert [e["state"] for e in body["history"]] == ["sent", "accepted", "executed"]
    assert body["history"][2]["spacecraftTime"] == "2025-06-01T12:00:00Z"
    # One audit point per state, ack points stamped with the spacecraft time.
    states = [line.split(",state=")[1].split(",")[0] for line in audit_lines(services)]
    assert states == ["sent", "accepted", "executed"]
    listed = await client.get(
        "/api/v1/commands", params={"satellite": "firewatch-1"}, headers=auth(VIEWER)
    )
    assert listed.json()["count"] == 1
    assert listed.json()["data"][0]["id"] == str(cid)


async def test_commands_of_others_are_followed_too(
    client: httpx.AsyncClient, services: Services
) -> None:
    command = Command(
        satellite="firewatch-1", name="PING", issued_by="executor", plan="p", step="1"
    )
    services.on_command(command, 1_748_779_200_000)
    body = (await client.get(f"/api/v1/commands/{command.id}", headers=auth(VIEWER))).json()
    assert (body["state"], body["plan"], body["issuedBy"]) == ("sent", "p", "executor")


async def test_unknown_command_is_404_and_a_bad_id_422(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/commands/{uuid.uuid4()}", headers=auth(VIEWER))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("command_id: no command")
    response = await client.get("/api/v1/commands/not-a-uuid", headers=auth(VIEWER))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "command_id"]


async def test_list_rejects_an_unknown_state(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/commands", params={"state": "x"}, headers=auth(VIEWER))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "state"]


async def test_dictionary(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/commands/dictionary", headers=auth(VIEWER))).json()
    by_name = {c["name"]: c for c in body["data"]}
    assert body["count"] == len(by_name) == 11
    assert by_name["RESET_SUBSYSTEM"]["criticality"] == "critical"
    assert by_name["SET_MODE"]["args"][0]["choices"] == ["SAFE", "NOMINAL", "PAYLOAD", "DOWNLINK"]


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

    services = _services()
    await services.start()
    await __import__("asyncio").sleep(0.05)
    await services.stop()
    assert calls == ["start wildfire", "stopped"]

    disabled = _services(_settings(executor_enabled=False))
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

    fresh = _services()
    fresh.influx = Replay()
    assert await fresh.restore() == 1
    restored = fresh.store.get(command.id)
    assert restored is not None
    assert restored.state == "executed"
    assert await fresh.idempotency.begin("k9", "fp") == command.id
    assert timedelta(0) <= datetime.now(UTC) - restored.history[0].time or True


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
