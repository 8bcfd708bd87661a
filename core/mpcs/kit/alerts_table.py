"""The alerts table as its readers see it: list a mission's alerts, acknowledge one.

The alerts handler (`mpcs.lambdas.alerts.store.AlertStore`, which extends `AlertTable` with the
state writes) owns the item layout (docs/alerts.md#dynamodb); the command API lists and
acknowledges alerts, and the in-cluster runner recomputes a Satellite's `Alerting` condition from
the same list. Those two may not import the Lambda's package (the components stay independent),
so the read side and the acknowledgement live here, below all three.

Items: partition key `mission` (`<namespace>/<mission>`), sort key `key` — `<satellite>#<rule>`
for a rule item, which carries its latest alert (`alert_id`, `alert_status`, times, value…), and
`<satellite>` for a satellite's watermark. Either may carry `expires_at` (epoch seconds), the
table's TTL attribute: DynamoDB deletes the item some time after it (docs/alerts.md#expiry).
The client is a boto3 DynamoDB client (low-level API, typed attributes); every call blocks, so
async callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_TABLE = "mpcs-alerts"
#: The TTL attribute of the table (epoch seconds), as the AWS app (deploy/aws) enables it too.
TTL_ATTRIBUTE = "expires_at"
_MAX_QUEUE_NAME = 80
_QUEUE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_BATCH_WRITE_MAX = 25


class Conflict(Exception):
    """Another writer changed the item since it was read (the conditional check failed)."""


class AlreadyAcknowledged(Exception):
    """The alert was acknowledged before; `alert` is it, with who and when."""

    def __init__(self, alert: dict[str, Any]) -> None:
        self.alert = alert
        super().__init__(
            f"alert {alert['id']} was already acknowledged by {alert.get('acknowledged_by')} "
            f"at {alert.get('acknowledged_at')}"
        )


def rule_key(satellite: str, rule: str) -> str:
    """Sort key of a (satellite, rule) item.

    >>> rule_key("sat-a", "battery-low")
    'sat-a#battery-low'
    """
    return f"{satellite}#{rule}"


def queue_name(namespace: str, mission: str, *, fifo: bool) -> str:
    """The mission's SQS queue (`.fifo` when the topic is FIFO: SNS FIFO delivers only there).

    >>> queue_name("ops", "wild.fire", fifo=False)
    'mpcs-alerts-ops-wild_fire'
    >>> queue_name("ops", "wildfire", fifo=True)
    'mpcs-alerts-ops-wildfire.fifo'
    """
    suffix = ".fifo" if fifo else ""
    name = _QUEUE_UNSAFE.sub("_", f"mpcs-alerts-{namespace}-{mission}")
    room = _MAX_QUEUE_NAME - len(suffix)
    if len(name) > room:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: room - 9]}-{digest}"
    return name + suffix


def is_conditional_failure(exc: Exception) -> bool:
    """Whether a botocore error is a failed condition (not an outage or a bad request)."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def unmarshal(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Plain values of a typed DynamoDB item (numbers as int when integral text, else float).

    >>> unmarshal({"key": {"S": "sat-a"}, "version": {"N": "3"}, "value": {"N": "2.5"}})
    {'key': 'sat-a', 'version': 3, 'value': 2.5}
    """
    out: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, raw),) = typed.items()
        if kind == "N":
            out[name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = raw
    return out


def alert_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The alert a rule item describes, as `list_alerts` gives it."""
    return {
        "id": data["alert_id"],
        "key": data["key"],
        "satellite": data.get("satellite"),
        "rule": data.get("rule"),
        "status": data.get("alert_status"),
        "fired_at": data.get("fired_at"),
        "resolved_at": data.get("resolved_at"),
        "value": data.get("value"),
        "threshold": data.get("threshold"),
        "channel": data.get("channel"),
        "unit": data.get("unit"),
        "severity": data.get("severity"),
        "acknowledged_by": data.get("acknowledged_by"),
        "acknowledged_at": data.get("acknowledged_at"),
    }


class AlertTable:
    """Reads and acknowledgements on the alerts table through a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str = DEFAULT_TABLE) -> None:
        self.client = client
        self.table = table

    def ensure_table(self) -> None:
        """Create the table (on-demand billing) unless it exists, and wait until it is active."""
        ensure_table(self.client, self.table)

    def query(self, mission: str, prefix: str | None = None) -> list[dict[str, Any]]:
        """Every item of a mission, plain values (strongly consistent)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "mission = :m",
            "ExpressionAttributeValues": {":m": {"S": mission}},
            "ConsistentRead": True,
        }
        if prefix is not None:
            kwargs["KeyConditionExpression"] = "mission = :m AND begins_with(#k, :p)"
            kwargs["ExpressionAttributeNames"] = {"#k": "key"}
            kwargs["ExpressionAttributeValues"][":p"] = {"S": prefix}
        while True:
            response = self.client.query(**kwargs)
            items += [unmarshal(raw) for raw in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_mission(self, mission: str) -> int:
        """Delete every item of a mission (the Mission is gone; idempotent: a second call finds
        nothing). Returns how many items were deleted."""
        keys = [
            {"mission": {"S": mission}, "key": {"S": str(item["key"])}}
            for item in self.query(mission)
        ]
        for start in range(0, len(keys), _BATCH_WRITE_MAX):
            request: dict[str, Any] = {
                self.table: [
                    {"DeleteRequest": {"Key": key}}
                    for key in keys[start : start + _BATCH_WRITE_MAX]
                ]
            }
            for attempt in range(8):
                unprocessed = self.client.batch_write_item(RequestItems=request).get(
                    "UnprocessedItems"
                )
                if not unprocessed:
                    break
                request = unprocessed
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise RuntimeError(f"DynamoDB left items of {mission} unprocessed (throttled)")
        return len(keys)

    def list_alerts(
        self, mission: str, status: str | None = None, satellite: str | None = None
    ) -> list[dict[str, Any]]:
        """The latest alert of each (satellite, rule) of `mission` that ever fired, optionally
        only `firing` or `resolved` ones: id, satellite, rule, status, times, value, threshold,
        channel, unit, severity, acknowledged_by/at."""
        out = []
        for data in self.query(mission, None if satellite is None else f"{satellite}#"):
            if "#" not in data["key"] or "alert_id" not in data:
                continue
            if status is not None and data.get("alert_status") != status:
                continue
            out.append(alert_of(data))
        return out

    def acknowledge(
        self, mission: str, key: str, who: str, at: str, *, once: bool = False
    ) -> dict[str, Any]:
        """Record who acknowledged an alert and when (`at`: RFC 3339). `key` is the alert id or
        the `<satellite>#<rule>` key; the update only applies while that alert is the item's
        latest. Returns the alert (as `list_alerts` gives it); KeyError if there is none.

        With `once`, an alert already acknowledged keeps its first acknowledgement and
        `AlreadyAcknowledged` is raised (the condition is part of the write, so of two people
        acknowledging at once exactly one succeeds).
        """
        if "#" in key:
            item_key, condition = key, "attribute_exists(alert_id)"
            values: dict[str, Any] = {}
        else:
            found = [a for a in self.list_alerts(mission) if a["id"] == key]
            if not found:
                raise KeyError(f"no alert {key!r} in mission {mission!r}")
            item_key, condition = found[0]["key"], "alert_id = :id"
            values = {":id": {"S": key}}
        if once:
            condition += " AND attribute_not_exists(acknowledged_at)"
        try:
            self._conditional(
                self.client.update_item,
                TableName=self.table,
                Key={"mission": {"S": mission}, "key": {"S": item_key}},
                UpdateExpression="SET acknowledged_by = :who, acknowledged_at = :at",
                ConditionExpression=condition,
                ExpressionAttributeValues={":who": {"S": who}, ":at": {"S": at}, **values},
            )
        except Conflict:
            current = next((a for a in self.list_alerts(mission) if a["key"] == item_key), None)
            still_this = current is not None and ("#" in key or current["id"] == key)
            if once and still_this and current and current.get("acknowledged_at"):
                raise AlreadyAcknowledged(current) from None
            raise KeyError(f"no alert {key!r} in mission {mission!r}") from None
        return next(a for a in self.list_alerts(mission) if a["key"] == item_key)

    def _conditional(self, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(str(exc)) from None
            raise


def remove_queue(sqs: Any, sns: Any, *, topic_arn: str, namespace: str, mission: str) -> list[str]:
    """Remove what the mission's alerts runner set up on the topic: the subscriptions of its
    queue, then the queue (docs/alerts.md#in-the-cluster). Idempotent: what is already gone is
    skipped. Returns what was removed (subscription and queue ARNs)."""
    removed: list[str] = []
    name = queue_name(namespace, mission, fifo=topic_arn.endswith(".fifo"))
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if "NonExistentQueue" not in code and "QueueDoesNotExist" not in code:
            raise
        # The queue is gone; a subscription may outlive it: found by the ARN's queue name.
        url = arn = None
    kwargs: dict[str, Any] = {"TopicArn": topic_arn}
    while True:
        page = sns.list_subscriptions_by_topic(**kwargs)
        for sub in page.get("Subscriptions", []):
            endpoint = str(sub.get("Endpoint", ""))
            mine = endpoint == arn if arn else endpoint.endswith(f":{name}")
            confirmed = str(sub.get("SubscriptionArn", "")).startswith("arn:")
            if sub.get("Protocol") == "sqs" and mine and confirmed:
                sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
                removed.append(str(sub["SubscriptionArn"]))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    if url is not None:
        sqs.delete_queue(QueueUrl=url)
        removed.append(str(arn))
    return removed


def ensure_table(client: Any, name: str = DEFAULT_TABLE) -> None:
    """Create the alerts table unless it exists (idempotent), wait for it to be active, and
    enable TTL on `expires_at` unless TTL is already on (or being turned on)."""
    try:
        client.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "mission", "KeyType": "HASH"},
                {"AttributeName": "key", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "mission", "AttributeType": "S"},
                {"AttributeName": "key", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ensure_ttl(client, name)


def ensure_ttl(client: Any, name: str = DEFAULT_TABLE) -> None:
    """Enable TTL on `TTL_ATTRIBUTE` (idempotent: DynamoDB refuses to enable it twice, so an
    enabled or enabling TTL is left as it is, on whatever attribute someone chose)."""
    described = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
