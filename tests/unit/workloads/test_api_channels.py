"""`GET /api/v1/telemetry/channels`: the catalogue from mpcs.core.telemetry, cacheable, viewer+."""

from __future__ import annotations

import httpx
import pytest
from api_fakes import ADMIN, OPERATOR, VIEWER, auth, make_services, make_settings

from mpcs.core.commands import Mode
from mpcs.core.telemetry import CHANNELS, SCHEMA_VERSION
from mpcs.workloads.api import create_app
from mpcs.workloads.api.routes.channels import CACHE_CONTROL, ETAG

URL = "/api/v1/telemetry/channels"
INGEST = "ingest-token"


async def test_the_catalogue_is_every_channel_of_core_in_wire_order(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(URL, headers=auth(VIEWER))
    assert response.status_code == 200
    body = response.json()
    assert body["schemaVersion"] == SCHEMA_VERSION
    assert body["modes"] == [m.value for m in Mode]
    assert body["subsystems"] == list(dict.fromkeys(c.subsystem for c in CHANNELS))
    assert body["count"] == len(CHANNELS) == len(body["data"])
    for got, channel in zip(body["data"], CHANNELS, strict=True):
        assert got == {
            "key": channel.key,
            "subsystem": channel.subsystem,
            "name": channel.name,
            "type": channel.type,
            "unit": channel.unit,
            "minimum": channel.minimum,
            "maximum": channel.maximum,
            "description": channel.description,
        }
    soc = next(c for c in body["data"] if c["key"] == "power.battery_soc_pct")
    assert (soc["unit"], soc["minimum"], soc["maximum"]) == ("%", 0, 100)


async def test_the_catalogue_is_cacheable_and_revalidated_by_etag(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get(URL, headers=auth(VIEWER))
    assert first.headers["etag"] == ETAG
    assert first.headers["cache-control"] == CACHE_CONTROL
    again = await client.get(URL, headers={**auth(VIEWER), "If-None-Match": ETAG})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == ETAG
    stale = await client.get(URL, headers={**auth(VIEWER), "If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


@pytest.mark.parametrize("token", [VIEWER, OPERATOR, ADMIN])
async def test_every_reading_role_may_read_the_catalogue(
    client: httpx.AsyncClient, token: str
) -> None:
    assert (await client.get(URL, headers=auth(token))).status_code == 200


async def test_anonymous_and_unknown_tokens_get_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers=auth("no-such-token"))).status_code == 401


async def test_the_ingest_role_may_not_read_the_catalogue() -> None:
    services = make_services(make_settings(api_token_ingest=INGEST))
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get(URL, headers=auth(INGEST))
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]


async def test_the_route_is_documented_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"][URL]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TelemetryCatalogPublic"
    }
    assert {"304", "401", "403"} <= set(operation["responses"])
