"""Sending and following commands through the command API, on in-memory adapters (api_fakes).

Auth and role checks, validation (422 naming the field), critical-command confirmation,
idempotency keys and the command state history. The same behaviour against the real servers is
in tests/integration/workloads/test_api_live.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_fakes import ADMIN, OPERATOR, VIEWER, audit_lines, auth, bus

from mpcs.core.commands import Ack, AckState, Command
from mpcs.workloads.api.services import Services

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
