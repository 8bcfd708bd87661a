"""SNS notifications: one message per transition (firing, resolved), filterable by attributes.

The body is the transition's JSON (`Transition.to_dict`, with `link` to the satellite in the
mission's API); `Subject` is a one-line summary for e-mail subscribers; the message attributes
`severity`, `mission` and `transition` let a subscription filter (e.g. only critical firings).
On a FIFO topic (name ending `.fifo`) the transition id is the deduplication id and the
satellite's mission/name the group, so SNS drops the duplicate a crash between publishing and
clearing the pending marker can cause (docs/alerts.md#exactly-once). Transitions go out with
PublishBatch, ten a call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .model import Transition

_SUBJECT_MAX = 100
_BATCH_MAX = 10  # PublishBatch's limit

log = logging.getLogger(__name__)


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


def _entry(topic_arn: str, t: Transition) -> dict[str, Any]:
    """One PublishBatch entry (without its `Id`) for a transition."""
    entry: dict[str, Any] = {
        "Message": t.to_json(),
        "Subject": subject(t),
        "MessageAttributes": {
            "severity": {"DataType": "String", "StringValue": t.severity},
            "mission": {"DataType": "String", "StringValue": t.mission},
            "transition": {"DataType": "String", "StringValue": t.transition},
        },
    }
    if topic_arn.endswith(".fifo"):
        entry["MessageDeduplicationId"] = t.id[:128]
        entry["MessageGroupId"] = f"{t.mission}/{t.satellite}"[:128]
    return entry


class Notifier:
    """Publishes transitions to one SNS topic through a boto3 SNS client."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish_all(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Publish in order with PublishBatch (up to 10 a call); returns those not published.

        Once a transition of a satellite is not published, its later ones are not sent either
        (they are returned too), so a subscriber never hears a satellite's transitions out of
        order because a batch entry failed.
        """
        failed: list[Transition] = []
        stopped: set[tuple[str, str]] = set()
        todo = list(transitions)
        while todo:
            chunk: list[Transition] = []
            rest: list[Transition] = []
            for t in todo:
                if (t.mission, t.satellite) in stopped:
                    failed.append(t)
                elif len(chunk) < _BATCH_MAX:
                    chunk.append(t)
                else:
                    rest.append(t)
            todo = rest
            if not chunk:
                break
            entries = [{"Id": str(i), **_entry(self.topic_arn, t)} for i, t in enumerate(chunk)]
            try:
                response = self.client.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
                refused = {str(f.get("Id")) for f in response.get("Failed") or []}
            except Exception:
                log.exception("cannot publish alert transitions", extra={"count": len(chunk)})
                refused = {str(i) for i in range(len(chunk))}
            for i, t in enumerate(chunk):
                if str(i) in refused:
                    failed.append(t)
                    stopped.add((t.mission, t.satellite))
        return failed
