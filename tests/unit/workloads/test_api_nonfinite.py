"""Non-finite JSON numbers (`NaN`, `Infinity`, `1e309`) sent to the command API, on in-memory
adapters (api_fakes).

Python's JSON parser, which FastAPI uses for request bodies, reads all three (`1e309` overflows
to infinity); strict JSON has none of them, so echoing one back in a 422 once failed as a 500.
Each must be a 422 naming the argument, audited as a refusal, with nothing sent.
"""

from __future__ import annotations

import re

import httpx
import pytest
from api_fakes import ADMIN, OPERATOR, audit_lines, auth, bus

from mpcs.workloads.api.services import Services

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e309", "-1e309")


async def _post(client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post(
        "/api/v1/satellites/firewatch-1/commands",
        content=body.encode(),
        headers={**auth(OPERATOR), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("template", "argument"),
    [
        # a float argument, an int argument, an enum argument, an argument that does not exist
        (
            '{{"name": "SET_HEATER", "args": {{"heater": "battery", "state": "AUTO", '
            '"setpoint_c": {n}}}}}',
            "setpoint_c",
        ),
        ('{{"name": "CAPTURE_IMAGE", "args": {{"count": {n}}}}}', "count"),
        ('{{"name": "SET_MODE", "args": {{"mode": {n}}}}}', "mode"),
        ('{{"name": "PING", "args": {{"gain": {n}}}}}', "gain"),
        (
            '{{"name": "SET_ATTITUDE", "args": {{"mode": "TARGET", "target_lat_deg": {n}, '
            '"target_lon_deg": 0}}}}',
            "target_lat_deg",
        ),
    ],
)
async def test_a_non_finite_argument_is_422_naming_it(
    client: httpx.AsyncClient, services: Services, number: str, template: str, argument: str
) -> None:
    response = await _post(client, template.format(n=number))
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "args", argument]
    assert error["input"] in ("NaN", "Infinity", "-Infinity")
    assert bus(services).commands == []
    event = bus(services).events[-1]
    assert (event["result"], event["status"]) == ("refused", 422)
    assert argument in event["reason"]
    assert ",state=refused," in audit_lines(services)[-1]


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_non_finite_valid_until_or_confirm_is_422_naming_it(
    client: httpx.AsyncClient, services: Services, number: str
) -> None:
    for field in ("validUntil", "confirm"):
        response = await _post(client, f'{{"name": "PING", "{field}": {number}}}')
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field]
    assert bus(services).commands == []


@pytest.mark.parametrize(
    "body",
    [
        "NaN",
        '{"name": "PING", "args": {"x": 1e309}, "confirm": NaN, "takeover": Infinity}',
        '{"a": [-Infinity, {"b": NaN}]}',
    ],
)
async def test_no_route_answers_500_to_a_non_finite_number(
    client: httpx.AsyncClient, services: Services, body: str
) -> None:
    """Every route of the app that reads a JSON body (those added later too)."""
    schema = (await client.get("/openapi.json")).json()
    samples = {"sat": "firewatch-1", "command_id": "00000000-0000-4000-8000-000000000000"}
    posted = []
    for template, operations in schema["paths"].items():
        if "requestBody" not in operations.get("post", {}):
            continue  # no body, no JSON number to read
        path = re.sub(r"\{(\w+)\}", lambda m: samples.get(m.group(1), "0"), template)
        response = await client.post(
            path,
            content=body.encode(),
            headers={**auth(ADMIN), "Content-Type": "application/json"},
        )
        assert response.status_code != 500, (template, response.text)
        posted.append(template)
    assert {"/api/v1/satellites/{sat}/commands", "/api/v1/satellites/{sat}/telemetry"} <= set(
        posted
    )
    assert bus(services).commands == []
