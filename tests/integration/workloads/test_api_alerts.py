"""`GET /api/v1/alerts` and `POST /api/v1/alerts/{id}/acknowledge` against moto's server (HTTP).

The alerts are made by the real handler (`AlertsProcessor`) from telemetry records, so the API
reads the items exactly as the handler writes them; the API builds its own DynamoDB client from
its settings (MPCS_AWS_ENDPOINT_URL, MPCS_AWS_REGION, MPCS_ALERTS_TABLE). Kafka and the
Kubernetes API are the unit tests' in-memory stand-ins: the audit event is read from there.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3
import httpx
import pytest
from unit.workloads.api_fakes import (
    ADMIN,
    OPERATOR,
    VIEWER,
    auth,
    bus,
    make_services,
    make_settings,
)

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import encode
from mpcs.kit.alerts_table import AlertTable, ensure_table
from mpcs.lambdas.alerts.events import KafkaRecord
from mpcs.lambdas.alerts.handler import AlertsProcessor
from mpcs.lambdas.settings import AlertsSettings
from mpcs.orbit.timeutil import format_time_ns
from mpcs.simulator import Spacecraft
from mpcs.workloads.api import create_app
from mpcs.workloads.api.services import Services

pytestmark = pytest.mark.integration

MISSION = "ops/wildfire"
TOPIC = "mpcs.ops.wildfire.telemetry"
S = 1_000_000_000
T0 = 1_764_000_000 * S
RULES = [
    {
        "name": "battery-low",
        "channel": "power.battery_soc_pct",
        "operator": "<",
        "threshold": 25,
        "clearThreshold": 30,
        "severity": "critical",
    }
]


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@functools.cache
def _telemetry() -> dict[str, Any]:
    spec = SatelliteSpec.model_validate(
        {
            "missionRef": {"name": "wildfire"},
            "tle": {
                "line1": "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
                "line2": "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537",
            },
        }
    )
    return Spacecraft("sat-a", spec, start=T0).telemetry()


def _record(offset: int, satellite: str, t_s: int, soc: float) -> KafkaRecord:
    msg = copy.deepcopy(_telemetry())
    msg["satellite"] = satellite
    msg["time"] = format_time_ns(T0 + t_s * S)
    msg["power"]["battery_soc_pct"] = soc
    return KafkaRecord(
        topic=TOPIC,
        partition=0,
        offset=offset,
        key=satellite.encode(),
        value=encode(msg),
        timestamp_ms=int(time.time() * 1000),
    )


@pytest.fixture
def table_name(moto_endpoint: str, unique: str) -> str:
    """A table holding a firing alert of sat-a and a resolved one of sat-b, made by the handler."""
    name = f"api-alerts-{unique}"
    ddb = _client("dynamodb", moto_endpoint)
    ensure_table(ddb, name)
    sns = _client("sns", moto_endpoint)
    topic_arn = sns.create_topic(Name=f"api-alerts-{unique}")["TopicArn"]
    settings = AlertsSettings(
        alerts_table=name,
        alerts_topic_arn=topic_arn,
        alerts_missions={MISSION: {"rules": RULES}},
    )
    processor = AlertsProcessor(settings, dynamodb=ddb, sns=sns)
    result = processor.process(
        [
            _record(0, "sat-a", 0, 50.0),
            _record(1, "sat-a", 1, 10.0),
            _record(2, "sat-b", 0, 12.0),
            _record(3, "sat-b", 1, 80.0),
        ],
        now=time.time(),
    )
    assert sorted((t.satellite, t.transition) for t in result.transitions) == [
        ("sat-a", "firing"),
        ("sat-b", "firing"),
        ("sat-b", "resolved"),
    ]
    return name


@pytest.fixture
def services(moto_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return make_services(
        make_settings(
            alerts_table=table_name, aws_region="us-east-1", aws_endpoint_url=moto_endpoint
        )
    )


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


async def test_viewers_list_alerts_filtered_by_status_and_satellite(
    client: httpx.AsyncClient,
) -> None:
    every = (await client.get("/api/v1/alerts", headers=auth(VIEWER))).json()
    assert every["count"] == 2
    by_satellite = {a["satellite"]: a for a in every["data"]}
    assert by_satellite["sat-a"]["status"] == "firing"
    assert by_satellite["sat-a"]["value"] == 10.0
    assert by_satellite["sat-a"]["threshold"] == 25.0
    assert by_satellite["sat-a"]["severity"] == "critical"
    assert by_satellite["sat-a"]["firedAt"] == format_time_ns(T0 + S)
    assert by_satellite["sat-a"]["acknowledgedBy"] is None
    assert by_satellite["sat-b"]["status"] == "resolved"
    assert by_satellite["sat-b"]["resolvedAt"] == format_time_ns(T0 + S)

    firing = (await client.get("/api/v1/alerts?status=firing", headers=auth(VIEWER))).json()
    assert [a["satellite"] for a in firing["data"]] == ["sat-a"]
    resolved = (await client.get("/api/v1/alerts?status=resolved", headers=auth(VIEWER))).json()
    assert [a["satellite"] for a in resolved["data"]] == ["sat-b"]
    one = (await client.get("/api/v1/alerts?satellite=sat-b", headers=auth(VIEWER))).json()
    assert (one["count"], one["data"][0]["satellite"]) == (1, "sat-b")

    assert (await client.get("/api/v1/alerts")).status_code == 401
    bad = await client.get("/api/v1/alerts?status=burning", headers=auth(VIEWER))
    assert bad.status_code == 422


async def test_operators_acknowledge_once_and_the_audit_says_who(
    client: httpx.AsyncClient, services: Services, moto_endpoint: str, table_name: str
) -> None:
    listed = (await client.get("/api/v1/alerts?status=firing", headers=auth(VIEWER))).json()
    alert_id = listed["data"][0]["id"]
    url = f"/api/v1/alerts/{alert_id}/acknowledge"

    assert (await client.post(url)).status_code == 401
    refused = await client.post(url, headers=auth(VIEWER))
    assert refused.status_code == 403
    assert "operator" in refused.json()["detail"]
    unknown = await client.post(
        "/api/v1/alerts/00000000-0000-5000-8000-000000000000/acknowledge", headers=auth(OPERATOR)
    )
    assert unknown.status_code == 404

    acked = await client.post(url, headers=auth(OPERATOR))
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert (body["id"], body["acknowledgedBy"]) == (alert_id, "operator")
    assert body["acknowledgedAt"]
    # Recorded in DynamoDB, read back by a client of the test's own.
    (stored,) = AlertTable(_client("dynamodb", moto_endpoint), table_name).list_alerts(
        MISSION, status="firing"
    )
    assert (stored["acknowledged_by"], stored["acknowledged_at"]) == (
        "operator",
        body["acknowledgedAt"],
    )
    # Audited on the events topic.
    (event,) = [e for e in bus(services).events if e["type"] == "alert_acknowledged"]
    assert (event["who"], event["alert"]["id"], event["time"]) == (
        "operator",
        alert_id,
        body["acknowledgedAt"],
    )

    again = await client.post(url, headers=auth(ADMIN))
    assert again.status_code == 409
    assert "operator" in again.json()["detail"]
    assert len([e for e in bus(services).events if e["type"] == "alert_acknowledged"]) == 1


async def test_a_missing_table_is_503_not_500(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    services = make_services(
        make_settings(
            alerts_table="no-such-table", aws_region="us-east-1", aws_endpoint_url=moto_endpoint
        )
    )
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        answer = await http.get("/api/v1/alerts", headers=auth(VIEWER))
    assert answer.status_code == 503
    assert "alerts table" in answer.json()["detail"]
