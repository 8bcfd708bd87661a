"""moto runs in server mode on loopback: S3 and DynamoDB over real HTTP."""

from __future__ import annotations

import boto3
import pytest

pytestmark = pytest.mark.integration


def _client(service: str, endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_s3_put_get(moto_endpoint: str, unique: str) -> None:
    s3 = _client("s3", moto_endpoint)
    s3.create_bucket(Bucket=f"smoke-{unique}")
    s3.put_object(Bucket=f"smoke-{unique}", Key="pass/aos.json", Body=b'{"station":"svalbard"}')
    body = s3.get_object(Bucket=f"smoke-{unique}", Key="pass/aos.json")["Body"].read()
    assert body == b'{"station":"svalbard"}'


def test_dynamodb_put_get(moto_endpoint: str, unique: str) -> None:
    ddb = _client("dynamodb", moto_endpoint)
    table = f"alerts-{unique}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"id": {"S": "a1"}, "level": {"S": "critical"}})
    item = ddb.get_item(TableName=table, Key={"id": {"S": "a1"}})["Item"]
    assert item["level"] == {"S": "critical"}
