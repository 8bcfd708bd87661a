"""SNS notifications: one message per transition (firing, resolved), filterable by attributes.

The body is the transition's JSON (`Transition.to_dict`, with `link` to the satellite in the
mission's API); `Subject` is a one-line summary for e-mail subscribers; the message attributes
`severity`, `mission` and `transition` let a subscription filter (e.g. only critical firings).
On a FIFO topic (name ending `.fifo`) the transition id is the deduplication id and the
satellite's mission/name the group, so SNS drops the duplicate a crash between publishing and
clearing the pending marker can cause (docs/alerts.md#exactly-once).
"""

from __future__ import annotations

from typing import Any

from .model import Transition

_SUBJECT_MAX = 100


def satellite_link(api_url: str | None, satellite: str) -> str | None:
    """`<api base url>/api/v1/satellites/<satellite>` (None without an API URL).

    >>> satellite_link("https://ops.example/", "sat-a")
    'https://ops.example/api/v1/satellites/sat-a'
    """
    if not api_url:
        return None
    return f"{api_url.rstrip('/')}/api/v1/satellites/{satellite}"


def subject(t: Transition) -> str:
    """`[CRITICAL] battery-low firing on sat-a`, cut to SNS's 100 characters."""
    return f"[{t.severity.upper()}] {t.rule} {t.transition} on {t.satellite}"[:_SUBJECT_MAX]


def publish_request(topic_arn: str, t: Transition) -> dict[str, Any]:
    """The keyword arguments of `sns.publish` for one transition."""
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Message": t.to_json(),
        "Subject": subject(t),
        "MessageAttributes": {
            "severity": {"DataType": "String", "StringValue": t.severity},
            "mission": {"DataType": "String", "StringValue": t.mission},
            "transition": {"DataType": "String", "StringValue": t.transition},
        },
    }
    if topic_arn.endswith(".fifo"):
        request["MessageDeduplicationId"] = t.id[:128]
        request["MessageGroupId"] = f"{t.mission}/{t.satellite}"[:128]
    return request


class Notifier:
    """Publishes transitions to one SNS topic through a boto3 SNS client."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, t: Transition) -> str:
        """Publish one transition; returns SNS's message id."""
        response = self.client.publish(**publish_request(self.topic_arn, t))
        return str(response["MessageId"])
