"""The Timestream flavour's token function (deploy/aws/mpcs_aws/influx_token/index.py) against a
real InfluxDB 2 (the bootstrap's influxd), onboarded as Timestream onboards an instance: an
organisation, a bucket, an admin with a password, and no token anyone is told.

The function signs in as that admin, creates MPCS's all-access token and writes it to the token
secret; the token must then do what the operator does with it (mission buckets, their
bucket-scoped tokens). Secrets Manager is a recording stand-in: only its two calls matter here.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mpcs_aws.influx_token import index

from mpcs.dev.servers import InfluxDB
from mpcs.operator.influx_buckets import InfluxBuckets

ADMIN = {"username": "admin", "password": "mpcs-dev-password"}  # mpcs.dev.servers.InfluxDB's


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB("influxdb", root=tmp_path_factory.mktemp("influxd"), die_with_parent=True)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class Secrets:
    """Secrets Manager's get_secret_value/put_secret_value, in memory."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)

    def get_secret_value(self, *, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.values[SecretId]}

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> None:
        self.values[SecretId] = SecretString


def event(kind: str, influxd: InfluxDB, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResourceProperties": {
            "Endpoint": influxd.url,
            "DbIdentifier": "abcdefghij",
            "Org": influxd.org,
            "AdminSecretArn": "admin",
            "TokenSecretArn": "token",
        },
        **extra,
    }


def status_with(url: str, path: str, token: str) -> int:
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_token_does_what_the_operator_does_and_is_revoked_on_delete(
    influxd: InfluxDB, unique: str
) -> None:
    secrets = Secrets({"admin": json.dumps(ADMIN), "token": "placeholder"})
    authorization_id, data = index.apply(event("Create", influxd), secrets)
    assert data == {"AuthorizationId": authorization_id}  # the token is never in the response
    stored = json.loads(secrets.values["token"])
    assert stored["engine"] == "timestream-influxdb"
    assert stored["type"] == "allAccess"
    assert stored["org"] == influxd.org
    assert stored["authorizationId"] == authorization_id
    token = stored["token"]
    assert token
    assert token != influxd.token

    # What the operator does with its token: a mission bucket and its bucket-scoped tokens.
    async def operator() -> tuple[str, str]:
        buckets = InfluxBuckets(url=influxd.url, org=influxd.org, token=token)
        try:
            state = await buckets.ensure_bucket(f"mission-{unique}", retention_seconds=86400)
            now_ns = time.time_ns()
            await buckets.write_lines(state.name, [f"power,satellite=s1 battery_v=7.9 {now_ns}"])
            return state.token, await buckets.ensure_read_token(state.name)
        finally:
            await buckets.close()

    write_token, read_token = asyncio.run(operator())
    assert write_token
    assert read_token
    assert write_token != read_token

    # An update (or a retried create) finds the same token instead of minting another.
    again, _ = index.apply(event("Update", influxd, PhysicalResourceId=authorization_id), secrets)
    assert again == authorization_id
    assert json.loads(secrets.values["token"])["token"] == token

    assert status_with(influxd.url, "/api/v2/buckets", token) == 200
    gone, _ = index.apply(event("Delete", influxd, PhysicalResourceId=authorization_id), secrets)
    assert gone == authorization_id
    assert status_with(influxd.url, "/api/v2/buckets", token) == 401


def test_a_delete_never_fails_when_the_instance_is_gone(influxd: InfluxDB) -> None:
    secrets = Secrets({"admin": json.dumps(ADMIN)})
    gone = event("Delete", influxd, PhysicalResourceId="0123456789abcdef")
    gone["ResourceProperties"]["Endpoint"] = "http://127.0.0.1:9"  # closed
    assert index.apply(gone, secrets) == ("0123456789abcdef", {})


def test_wrong_admin_credentials_fail_naming_the_request(influxd: InfluxDB) -> None:
    secrets = Secrets({"admin": json.dumps({**ADMIN, "password": "not-it"}), "token": "x"})
    with pytest.raises(index.InfluxError, match=r"POST /api/v2/signin: 401"):
        index.apply(event("Create", influxd), secrets)
    assert secrets.values["token"] == "x"


def test_the_handler_answers_cloudformation_without_the_token(
    influxd: InfluxDB, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """handler(): SUCCESS or FAILED to the pre-signed URL, NoEcho, never the token."""
    sent: list[dict[str, Any]] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    real_urlopen = urllib.request.urlopen

    def urlopen(request: Any, timeout: float = 0) -> Any:
        if isinstance(request, urllib.request.Request) and request.full_url.startswith(
            "https://cloudformation-custom-resource-response"
        ):
            assert request.get_method() == "PUT"
            sent.append(json.loads(request.data))
            return Response()
        return real_urlopen(request, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    secrets = Secrets({"admin": json.dumps(ADMIN), "token": "placeholder"})

    class Boto3:
        @staticmethod
        def client(name: str) -> Secrets:
            assert name == "secretsmanager"
            return secrets

    monkeypatch.setitem(__import__("sys").modules, "boto3", Boto3)
    common = {
        "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/Mpcs/1",
        "RequestId": "r-1",
        "LogicalResourceId": "ClusterTimestreamMpcsToken",
    }
    index.handler(event("Create", influxd, **common), None)
    (answer,) = sent
    assert answer["Status"] == "SUCCESS"
    assert answer["NoEcho"] is True
    token = json.loads(secrets.values["token"])["token"]
    assert token not in json.dumps(answer)
    # Clean up the token this test created.
    index.apply(event("Delete", influxd, PhysicalResourceId=answer["PhysicalResourceId"]), secrets)

    secrets.values["admin"] = json.dumps({**ADMIN, "password": "not-it"})
    index.handler(event("Create", influxd, **common), None)
    assert sent[-1]["Status"] == "FAILED"
    assert "401" in sent[-1]["Reason"]
