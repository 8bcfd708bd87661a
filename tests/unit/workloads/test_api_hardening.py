"""The command API under abuse, on in-memory adapters (api_fakes): body limits, security headers,
CORS, rate limits, the ingest role, telemetry posted over HTTP, and the audit of every refusal.

The same refusals against the real stack (Kafka, the API as a process, token rotation through
a tokens folder) are in tests/integration/workloads/test_api_hardening_live.py.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cramjam
import httpx
import orjson
import pytest
from api_fakes import ADMIN, OPERATOR, VIEWER, auth, bus, make_services, make_settings
from utils.waiting import eventually_async

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import decode, encode
from mpcs.simulator import Spacecraft
from mpcs.workloads.api import create_app
from mpcs.workloads.api.auth import watch_tokens
from mpcs.workloads.api.ingest_http import SinkUnavailable
from mpcs.workloads.api.models import Role
from mpcs.workloads.api.services import Services

INGEST = "ingest-token"
SAT = "firewatch-1"
POST = f"/api/v1/satellites/{SAT}/telemetry"
L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def messages(count: int, satellite: str = SAT) -> list[dict[str, Any]]:
    """`count` successive samples of a simulated spacecraft (what a ground station relays)."""
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "wildfire"}, "tle": {"line1": L1, "line2": L2}}
    )
    craft = Spacecraft(satellite, spec, start=1_750_000_000_000_000_000)
    out = []
    for _ in range(count):
        craft.advance(10.0)
        out.append(decode(encode(craft.telemetry())))
    return out


class FakeSink:
    """The telemetry topic as a list; `fail` makes Kafka unavailable."""

    topic = "mpcs.ops.wildfire.telemetry"

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail = False

    async def send(self, key: str, values: list[bytes]) -> None:
        if self.fail:
            raise SinkUnavailable("Kafka is not reachable yet; nothing was taken, retry later")
        self.sent += [(key, value) for value in values]


def _services(**settings: Any) -> Services:
    return make_services(make_settings(api_token_ingest=INGEST, **settings))


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def services() -> Services:
    return _services(api_max_body_bytes=4096, api_telemetry_max_bytes=200_000)


@pytest.fixture
async def client(services: Services, sink: FakeSink) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services, sink=sink)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


def refusals(services: Services) -> list[dict[str, Any]]:
    return [e for e in bus(services).events if e.get("type") == "request"]


def refusal_count(services: Services, reason: str) -> float:
    return services.metrics.refusals.labels(reason)._value.get()


# --- body limits --------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient, services: Services
) -> None:
    body = b'{"name": "PING", "args": {"pad": "' + b"x" * 5000 + b'"}}'
    response = await client.post(
        f"/api/v1/satellites/{SAT}/commands",
        content=body,
        headers={**auth(OPERATOR), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.json()["detail"]
    assert bus(services).commands == []
    (event,) = refusals(services)
    assert (event["status"], event["reason"], event["who"]) == (413, "too_large", "anonymous")
    assert event["path"] == f"/api/v1/satellites/{SAT}/commands"
    assert refusal_count(services, "too_large") == 1


async def test_a_chunked_body_over_the_limit_is_413_too(
    client: httpx.AsyncClient, services: Services
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000  # no Content-Length: counted as it is read

    response = await client.post(
        f"/api/v1/satellites/{SAT}/commands",
        content=chunks(),
        headers={**auth(OPERATOR), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert bus(services).commands == []
    assert [e["status"] for e in refusals(services)] == [413]


async def test_the_telemetry_post_has_its_own_larger_limit(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    batch = orjson.dumps(messages(5))
    assert 4096 < len(batch) < 200_000
    response = await client.post(
        POST, content=batch, headers={**auth(INGEST), "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    too_big = b"[" + b" " * 200_001 + b"]"
    response = await client.post(
        POST, content=too_big, headers={**auth(INGEST), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "200000 bytes" in response.json()["detail"]


# --- headers and CORS ---------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/satellites", headers=auth(VIEWER)),
        await client.get("/api/v1/satellites"),  # a 401
        await client.get("/healthz"),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers  # plain HTTP here
    https = await client.get("https://api/healthz")
    assert https.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_allows_only_the_console_origin(sink: FakeSink) -> None:
    services = _services(api_console_origin="https://console.example.org")
    app = create_app(services.settings, services=services, sink=sink)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        preflight = {"Access-Control-Request-Method": "POST"}
        good = await c.options(
            "/api/v1/satellites",
            headers={**preflight, "Origin": "https://console.example.org"},
        )
        assert good.status_code == 200
        assert good.headers["access-control-allow-origin"] == "https://console.example.org"
        bad = await c.options(
            "/api/v1/satellites", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
        simple = await c.get(
            "/api/v1/satellites", headers={**auth(VIEWER), "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in simple.headers
    (event,) = refusals(services)
    assert (event["reason"], event["status"]) == ("cors_origin", 400)
    assert "https://evil.example" in event["detail"]


async def test_without_a_console_origin_no_origin_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/api/v1/satellites",
        headers={"Access-Control-Request-Method": "GET", "Origin": "http://localhost:5173"},
    )
    assert response.status_code == 400


# --- authentication refusals and rate limits ---------------------------------------------------


async def test_every_auth_refusal_is_audited_without_the_token(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert (await client.get("/api/v1/satellites")).status_code == 401
    assert (await client.get("/api/v1/satellites", headers=auth("guess-me"))).status_code == 401
    assert (
        await client.post(
            f"/api/v1/satellites/{SAT}/commands", json={"name": "PING"}, headers=auth(VIEWER)
        )
    ).status_code == 403
    events = refusals(services)
    assert [(e["status"], e["who"]) for e in events] == [
        (401, "anonymous"),
        (401, "anonymous"),
        (403, "viewer"),
    ]
    assert "needs the operator role" in events[2]["detail"]
    text = orjson.dumps(bus(services).events).decode()
    for token in ("guess-me", VIEWER):
        assert token not in text
    assert refusal_count(services, "unauthenticated") == 2


async def test_a_token_over_its_rate_is_429_with_retry_after(sink: FakeSink) -> None:
    # A refill this slow makes the test independent of how fast it runs.
    services = _services(api_rate_limit_per_s=0.001, api_rate_limit_burst=3)
    app = create_app(services.settings, services=services, sink=sink)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        codes = [
            (await c.get("/api/v1/satellites", headers=auth(VIEWER))).status_code for _ in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        limited = await c.get("/api/v1/satellites", headers=auth(VIEWER))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "viewer token is over its rate limit" in limited.json()["detail"]
        # Another token has its own budget.
        assert (await c.get("/api/v1/satellites", headers=auth(OPERATOR))).status_code == 200
        # Guessing tokens: the address's budget for invalid tokens runs out as well.
        guesses = [
            (await c.get("/api/v1/satellites", headers=auth(f"g{i}"))).status_code for i in range(5)
        ]
        assert guesses == [401, 401, 401, 429, 429]
    events = refusals(services)
    limited_events = [e for e in events if e["status"] == 429]
    # 429s of one caller are audited once a second, the others counted in the next event.
    assert [e["who"] for e in limited_events] == ["viewer", "anonymous"]
    assert refusal_count(services, "rate_limited") == 5


async def test_rate_limiting_off_lets_everything_through(sink: FakeSink) -> None:
    services = _services(api_rate_limit_per_s=0, api_rate_limit_burst=1)
    app = create_app(services.settings, services=services, sink=sink)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        for _ in range(5):
            assert (await c.get("/api/v1/satellites", headers=auth(VIEWER))).status_code == 200


# --- the ingest role ----------------------------------------------------------------------------


async def test_the_ingest_role_can_neither_read_nor_command(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await client.get("/api/v1/satellites", headers=auth(INGEST))
    assert response.status_code == 403
    assert response.json()["detail"] == "role ingest may not read; it needs the viewer role"
    response = await client.post(
        f"/api/v1/satellites/{SAT}/commands", json={"name": "PING"}, headers=auth(INGEST)
    )
    assert response.status_code == 403
    assert bus(services).commands == []


@pytest.mark.parametrize("token", [VIEWER, OPERATOR])
async def test_only_ingest_and_admin_may_post_telemetry(
    client: httpx.AsyncClient, sink: FakeSink, token: str
) -> None:
    response = await client.post(POST, json=messages(1), headers=auth(token))
    assert response.status_code == 403
    assert "needs the ingest role" in response.json()["detail"]
    assert sink.sent == []
    response = await client.post(POST, json=messages(1), headers=auth(ADMIN))
    assert response.status_code == 202


# --- telemetry over HTTP ------------------------------------------------------------------------


async def test_one_message_is_produced_keyed_by_satellite(
    client: httpx.AsyncClient, services: Services, sink: FakeSink
) -> None:
    (message,) = messages(1)
    response = await client.post(POST, json=message, headers=auth(INGEST))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "satellite": SAT,
        "received": 1,
        "accepted": 1,
        "topic": "mpcs.ops.wildfire.telemetry",
    }
    assert sink.sent == [(SAT, orjson.dumps(message))]
    assert services.metrics.telemetry_posted._value.get() == 1


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/json", None),
        ("application/x-ndjson", None),
        ("application/json", "gzip"),
        ("application/x-ndjson", "zstd"),
        ("application/json; charset=utf-8", "identity"),
    ],
)
async def test_a_batch_in_every_form_is_produced_in_order(
    client: httpx.AsyncClient, sink: FakeSink, content_type: str, encoding: str | None
) -> None:
    batch = messages(4)
    if content_type.startswith("application/x-ndjson"):
        body = b"".join(orjson.dumps(m) + b"\n" for m in batch) + b"\n"
    else:
        body = orjson.dumps(batch)
    headers = {**auth(INGEST), "Content-Type": content_type}
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "zstd":
        body = bytes(cramjam.zstd.compress(body))
    if encoding:
        headers["Content-Encoding"] = encoding
    response = await client.post(POST, content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 4
    assert [orjson.loads(value)["seq"] for _, value in sink.sent] == [m["seq"] for m in batch]


async def test_one_bad_message_refuses_the_whole_batch_naming_index_and_field(
    client: httpx.AsyncClient, services: Services, sink: FakeSink
) -> None:
    batch = messages(5)
    batch[1]["power"]["battery_soc_pct"] = 140.0
    batch[3]["satellite"] = "firewatch-9"
    del batch[4]["thermal"]["heater_fault"]
    response = await client.post(POST, json=batch, headers=auth(INGEST))
    assert response.status_code == 422
    body = response.json()
    assert (body["received"], body["invalid"], body["accepted"]) == (5, 3, 0)
    assert [e["loc"] for e in body["detail"]] == [
        ["body", 1, "power", "battery_soc_pct"],
        ["body", 3, "satellite"],
        ["body", 4, "thermal", "heater_fault"],
    ]
    assert "outside 0..100" in body["detail"][0]["msg"]
    assert "not the satellite of the path" in body["detail"][1]["msg"]
    assert sink.sent == []  # the good ones (0 and 2) are not taken either
    (event,) = refusals(services)
    assert (event["status"], event["who"], event["reason"]) == (422, "ingest", "invalid")
    assert "3 of 5 telemetry messages invalid (none taken)" in event["detail"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"NaN", 400, "not JSON"),
        (b'{"version": 1e309}', 400, "not JSON"),
        (b"[]", 422, "no telemetry message"),
        (b"42", 422, "expected a telemetry message"),
        (b'[{"version": 1}, 7]', 422, '"loc":["body",1],"msg":"message must be a JSON object"'),
    ],
)
async def test_bodies_that_are_not_telemetry(
    client: httpx.AsyncClient, sink: FakeSink, body: bytes, status: int, words: str
) -> None:
    response = await client.post(
        POST, content=body, headers={**auth(INGEST), "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert words in response.text
    assert sink.sent == []


async def test_a_non_finite_channel_in_ndjson_names_its_line(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    good = orjson.dumps(messages(1)[0])
    bad = good.replace(b'"battery_soc_pct":', b'"battery_soc_pct":1e309,"x":', 1)
    response = await client.post(
        POST,
        content=good + b"\n" + bad + b"\n",
        headers={**auth(INGEST), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", 1]
    assert "infinity" in error["msg"]
    assert sink.sent == []


async def test_media_types_and_encodings_not_accepted_are_415(
    client: httpx.AsyncClient, services: Services, sink: FakeSink
) -> None:
    body = orjson.dumps(messages(1))
    response = await client.post(
        POST, content=body, headers={**auth(INGEST), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type: 'text/plain'" in response.json()["detail"]
    response = await client.post(
        POST,
        content=body,
        headers={**auth(INGEST), "Content-Type": "application/json", "Content-Encoding": "br"},
    )
    assert response.status_code == 415
    assert "Content-Encoding: 'br'" in response.json()["detail"]
    response = await client.post(
        POST,
        content=b"not gzip",
        headers={**auth(INGEST), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert "not valid gzip" in response.json()["detail"]
    assert sink.sent == []
    assert [e["status"] for e in refusals(services)] == [415, 415, 400]


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
async def test_a_compression_bomb_is_413_without_inflating_it(
    client: httpx.AsyncClient, sink: FakeSink, encoding: str
) -> None:
    inflated = b"[" + b" " * 50_000_000 + b"]"  # 50 MB of blanks, ~50 kB compressed
    codec = cramjam.gzip if encoding == "gzip" else cramjam.zstd
    body = bytes(codec.compress(inflated))
    assert len(body) < 200_000
    response = await client.post(
        POST,
        content=body,
        headers={**auth(INGEST), "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 413
    assert "once decoded" in response.json()["detail"]
    assert sink.sent == []


async def test_kafka_unavailable_is_503_and_the_batch_can_be_sent_again(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    sink.fail = True
    batch = messages(2)
    response = await client.post(POST, json=batch, headers=auth(INGEST))
    assert response.status_code == 503
    sink.fail = False
    response = await client.post(POST, json=batch, headers=auth(INGEST))
    assert response.status_code == 202
    assert len(sink.sent) == 2


async def test_an_unknown_satellite_is_404_after_auth(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    for sat in ("no-such-sat", "other-sat"):
        response = await client.post(
            f"/api/v1/satellites/{sat}/telemetry", json=messages(1, sat), headers=auth(INGEST)
        )
        assert response.status_code == 404
    assert (await client.post(POST, json=messages(1))).status_code == 401
    assert sink.sent == []


# --- token rotation -----------------------------------------------------------------------------


async def test_tokens_are_rotated_from_the_folder_without_a_restart(
    tmp_path: Path, sink: FakeSink
) -> None:
    (tmp_path / "viewer").write_text("view-1\n")
    (tmp_path / "operator").write_text("op-1")
    services = _services(api_tokens_dir=str(tmp_path), api_tokens_reload_s=0.01)
    app = create_app(services.settings, services=services, sink=sink)
    assert services.tokens.role_of(VIEWER) is None  # the folder wins over the variables
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        assert (await c.get("/api/v1/satellites", headers=auth("view-1"))).status_code == 200
        # Rotation, as a Secret update reaches the mount: new token beside the old, then alone.
        (tmp_path / "viewer").write_text("view-1\nview-2\n")
        watcher = asyncio.create_task(
            watch_tokens(tmp_path, interval_s=0.01, apply=app.state.guard.apply_tokens)
        )
        try:
            await _until(lambda: services.tokens.role_of("view-2") is Role.VIEWER)
            assert (await c.get("/api/v1/satellites", headers=auth("view-1"))).status_code == 200
            (tmp_path / "viewer").write_text("view-2\n")
            await _until(lambda: services.tokens.role_of("view-1") is None)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert (await c.get("/api/v1/satellites", headers=auth("view-1"))).status_code == 401
        assert (await c.get("/api/v1/satellites", headers=auth("view-2"))).status_code == 200
        assert (await c.get("/api/v1/satellites", headers=auth("op-1"))).status_code == 200
    assert services.metrics.token_reloads._value.get() == 2


async def _until(check: Any, *, timeout_s: float = 10.0) -> None:
    async def poll() -> bool:
        return bool(check())

    await eventually_async(poll, timeout_s=timeout_s, what="the rotated tokens in force")
