"""Alerts flow back into the mission: SNS → a per-mission SQS queue → Kafka, InfluxDB, Kubernetes.

The alerts handler tells the world about a transition only through SNS (as it does in AWS). The
in-cluster runner subscribes one SQS queue per mission to that topic, filtered on the `mission`
message attribute the handler sets, and turns each transition it receives into:

a. an event on the mission's `events` topic, keyed by satellite
   (`{"version": 1, "type": "alert", …the transition}`);
b. a point in the mission bucket's `alerts` measurement at the transition's spacecraft time
   (tags satellite, rule, severity, transition; fields value, threshold, message, alert_id) —
   what dashboards annotate;
c. the Satellite's `Alerting` condition, recomputed from the alerts table (the firing alerts of
   that satellite), so it is level-based: a lost, repeated or reordered message cannot leave it
   wrong, and `resync_conditions` re-asserts it periodically;
d. a Kubernetes Event on the Satellite (AlertFiring/Warning, AlertResolved/Normal), named after
   the transition so a repeat is a 409, not a second Event.

The message is deleted only after all four succeeded; otherwise it comes back after the queue's
visibility timeout (at least once). (a) may repeat on such a retry — the event carries the
transition `id` to deduplicate on; (b), (c) and (d) are idempotent by construction.

The pure pieces (names, policies, the event, the line, the condition merge) are unit-tested
without any server; `FlowBack` does the I/O with blocking boto3 and Kubernetes clients in worker
threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from mpcs.core.names import ALERTS_MEASUREMENT, API_VERSION, SATELLITE_TAG
from mpcs.core.resources.common import set_condition
from mpcs.kit.alerts_table import AlertTable, queue_name
from mpcs.kit.influx import InfluxRejected
from mpcs.kit.lineprotocol import clean_tag, escape_tag, format_string
from mpcs.orbit.timeutil import parse_time_ns

from .alerts.model import Transition

log = logging.getLogger("mpcs.lambdas.flowback")

ALERTING = "Alerting"
#: SQS limits a queue name to 80 characters of `[A-Za-z0-9_-]` (plus `.fifo` for a FIFO queue).
#: Seconds a received message stays invisible: how soon a failed one is tried again.
VISIBILITY_TIMEOUT_S = 30


# -- names and policies ---------------------------------------------------------------------------


def filter_policy(mission: str) -> str:
    """The subscription's filter policy: only this mission's transitions (`<ns>/<mission>`).

    >>> filter_policy("ops/wildfire")
    '{"mission":["ops/wildfire"]}'
    """
    return orjson.dumps({"mission": [mission]}).decode()


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    """The queue's access policy: the topic may send to it, nobody else."""
    return orjson.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "mpcs-alerts-topic",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    ).decode()


# -- messages -------------------------------------------------------------------------------------


def transition_of_message(body: str) -> Transition:
    """The transition an SQS message carries: the raw SNS message (raw delivery, as subscribed)
    or, from a subscription without it, the SNS envelope's `Message`."""
    data = orjson.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        data = orjson.loads(data["Message"])
    if not isinstance(data, dict):
        raise ValueError(f"SQS message body: expected a transition object, got {type(data)}")
    return Transition.from_dict(data)


def alert_event(t: Transition) -> dict[str, Any]:
    """The `events` topic message of a transition (version 1, type alert)."""
    return {"version": 1, "type": "alert", **t.to_dict()}


def alert_line(t: Transition) -> str:
    """The `alerts` point of a transition: same series and time on a retry (no duplicate).

    >>> t = Transition(id="a:firing", alert_id="a", mission="ops/w", satellite="sat-a",
    ...     rule="battery-low", kind="threshold", channel="power.battery_soc_pct",
    ...     transition="firing", value=12.5, threshold=25.0, unit="%", severity="critical",
    ...     spacecraft_time="2026-12-02T14:00:00.000000001Z", message="low")
    >>> alert_line(t)  # doctest: +NORMALIZE_WHITESPACE
    'alerts,satellite=sat-a,rule=battery-low,severity=critical,transition=firing
     value=12.5,threshold=25.0,message="low",alert_id="a" 1796220000000000001'
    """
    tags = (
        f"{ALERTS_MEASUREMENT},{SATELLITE_TAG}={escape_tag(clean_tag(t.satellite))},"
        f"rule={escape_tag(clean_tag(t.rule))},severity={escape_tag(clean_tag(t.severity))},"
        f"transition={escape_tag(clean_tag(t.transition))}"
    )
    fields: list[str] = []
    if t.value is not None:
        fields.append(f"value={float(t.value)!r}")
    if t.threshold is not None:
        fields.append(f"threshold={float(t.threshold)!r}")
    fields.append(f"message={format_string(t.message)}")
    fields.append(f"alert_id={format_string(t.alert_id)}")
    return f"{tags} {','.join(fields)} {parse_time_ns(t.spacecraft_time)}"


# -- the Alerting condition -----------------------------------------------------------------------


def alerting(firing: Iterable[Mapping[str, Any]]) -> tuple[bool, str, str]:
    """(status, reason, message) of `Alerting` from a satellite's firing alerts.

    >>> alerting([])
    (False, 'NoAlerts', 'no alert rule is firing')
    >>> alerting([{"rule": "temp-high", "severity": "warning"},
    ...           {"rule": "battery-low", "severity": "critical"}])
    (True, 'AlertsFiring', 'firing: battery-low (critical), temp-high (warning)')
    """
    rules = sorted({(str(a.get("rule")), str(a.get("severity"))) for a in firing})
    if not rules:
        return False, "NoAlerts", "no alert rule is firing"
    return True, "AlertsFiring", "firing: " + ", ".join(f"{r} ({s})" for r, s in rules)


def merge_alerting(
    conditions: Sequence[Mapping[str, Any]] | None,
    firing: Iterable[Mapping[str, Any]],
    *,
    generation: int,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The Satellite's conditions with `Alerting` set from `firing`; every other condition is
    kept as it is (the operator owns those), and lastTransitionTime moves only on a change."""
    status, reason, message = alerting(firing)
    return set_condition(
        conditions,
        type=ALERTING,
        status=status,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def event_name(satellite: str, transition_id: str) -> str:
    """A Kubernetes Event name unique to one transition (a retry creates nothing new).

    >>> event_name("sat-a", "6f1d…:firing")
    'sat-a.alert-...'
    """
    digest = hashlib.sha256(transition_id.encode()).hexdigest()[:16]
    return f"{satellite[:200]}.alert-{digest}"


def kube_event(
    *, namespace: str, satellite: Mapping[str, Any], t: Transition, now: dt.datetime
) -> dict[str, Any]:
    """The core/v1 Event about a transition, involving the Satellite."""
    firing = t.transition == "firing"
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = satellite.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(t.satellite, t.id), "namespace": namespace},
        "involvedObject": {
            "apiVersion": satellite.get("apiVersion", API_VERSION),
            "kind": "Satellite",
            "name": t.satellite,
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": "AlertFiring" if firing else "AlertResolved",
        "type": "Warning" if firing else "Normal",
        "message": t.message[:1024],
        "source": {"component": "mpcs-alerts"},
        "reportingComponent": "mpcs-alerts",
        "reportingInstance": "mpcs-alerts",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


# -- I/O ------------------------------------------------------------------------------------------


class Satellites(Protocol):
    """The Kubernetes calls the flow-back makes (blocking; `FlowBack` runs them in threads)."""

    def get(self, name: str) -> dict[str, Any] | None: ...

    def list_names(self) -> list[str]: ...

    def patch_conditions(
        self, name: str, *, resource_version: str, conditions: list[dict[str, Any]]
    ) -> None: ...

    def create_event(self, event: dict[str, Any]) -> None: ...


class StatusConflict(Exception):
    """The Satellite changed between its read and the status patch (409): read it again."""


class EventSink(Protocol):
    async def send(self, key: str, event: dict[str, Any]) -> None: ...


class LineSink(Protocol):
    async def write(self, body: bytes) -> None: ...


@dataclass
class Delivered:
    """What one received message did (counted by the runner's metrics)."""

    transition: Transition | None
    deleted: bool
    failed_step: str | None = None


class FlowBack:
    """Receives the mission's transitions from SQS and forwards them (see the module docstring)."""

    def __init__(
        self,
        *,
        namespace: str,
        mission: str,
        topic_arn: str,
        sqs: Any,
        sns: Any,
        table: AlertTable,
        satellites: Satellites,
        events: EventSink,
        lines: LineSink,
        wait_s: int = 10,
    ) -> None:
        self.namespace = namespace
        self.mission = mission
        self.mission_key = f"{namespace}/{mission}"
        self.topic_arn = topic_arn
        self.sqs = sqs
        self.sns = sns
        self.table = table
        self.satellites = satellites
        self.events = events
        self.lines = lines
        self.wait_s = wait_s
        self.queue_url: str | None = None

    # -- the queue -------------------------------------------------------------------------------

    def ensure_queue(self) -> str:
        """Create the queue, its policy and the filtered subscription unless they exist
        (every call converges them; blocking)."""
        fifo = self.topic_arn.endswith(".fifo")
        name = queue_name(self.namespace, self.mission, fifo=fifo)
        attributes = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
        if fifo:
            attributes["FifoQueue"] = "true"
        url = str(self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        arn = str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        self.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": queue_policy(arn, self.topic_arn)}
        )
        subscription = self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "FilterPolicy": filter_policy(self.mission_key),
                "RawMessageDelivery": "true",
            },
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        # An existing subscription keeps the attributes it was created with: converge them.
        self.sns.set_subscription_attributes(
            SubscriptionArn=subscription,
            AttributeName="FilterPolicy",
            AttributeValue=filter_policy(self.mission_key),
        )
        self.queue_url = url
        log.info("alerts queue %s subscribed to %s", name, self.topic_arn)
        return url

    def receive(self) -> list[dict[str, Any]]:
        """One long poll (blocking, at most `wait_s`)."""
        assert self.queue_url is not None
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_s,
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    # -- one message -----------------------------------------------------------------------------

    async def deliver(self, message: Mapping[str, Any]) -> Delivered:
        """Forward one message; delete it only when every step succeeded."""
        try:
            t = transition_of_message(str(message["Body"]))
        except (ValueError, TypeError, KeyError) as exc:
            # Not ours to fix by retrying: leave it to the queue's redrive (or expiry) and say so.
            log.error("unreadable alerts message %s: %s", message.get("MessageId"), exc)
            return Delivered(None, deleted=False, failed_step="parse")
        if t.mission != self.mission_key:
            log.warning("transition of mission %s on %s's queue", t.mission, self.mission_key)
            await asyncio.to_thread(self._delete, message)
            return Delivered(t, deleted=True)
        step = "events"
        try:
            await self.events.send(t.satellite, alert_event(t))
            step = "influxdb"
            try:
                await self.lines.write(alert_line(t).encode())
            except InfluxRejected as exc:
                # The data itself is refused (e.g. a spacecraft time outside the bucket's
                # retention): sending it again cannot help, and the other steps still matter.
                log.warning("alerts point of %s refused by InfluxDB: %s", t.id, exc)
            step = "condition"
            satellite = await self.assert_condition(t.satellite)
            step = "event"
            if satellite is not None:
                await asyncio.to_thread(self._create_event, satellite, t)
            step = "delete"
            await asyncio.to_thread(self._delete, message)
        except Exception as exc:
            log.warning(
                "alert %s not forwarded (step %s): %s; it comes back in %d s",
                t.id,
                step,
                exc,
                VISIBILITY_TIMEOUT_S,
                extra={"satellite": t.satellite, "rule": t.rule, "step": step},
            )
            return Delivered(t, deleted=False, failed_step=step)
        log.info(
            "alert %s %s forwarded",
            t.rule,
            t.transition,
            extra={"satellite": t.satellite, "alert_id": t.alert_id, "transition_id": t.id},
        )
        return Delivered(t, deleted=True)

    def _delete(self, message: Mapping[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _create_event(self, satellite: Mapping[str, Any], t: Transition) -> None:
        self.satellites.create_event(
            kube_event(
                namespace=self.namespace, satellite=satellite, t=t, now=dt.datetime.now(dt.UTC)
            )
        )

    # -- the condition ---------------------------------------------------------------------------

    async def assert_condition(
        self, satellite: str, firing: list[dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        """Set `Alerting` on a Satellite from the table (or from `firing`, the mission's firing
        alerts read just before); the Satellite as read (None: gone)."""
        return await asyncio.to_thread(self._assert_condition, satellite, firing)

    def _assert_condition(
        self, satellite: str, mission_firing: list[dict[str, Any]] | None, *, attempts: int = 5
    ) -> dict[str, Any] | None:
        if mission_firing is None:
            mission_firing = self.table.list_alerts(
                self.mission_key, status="firing", satellite=satellite
            )
        firing = [a for a in mission_firing if a.get("satellite") == satellite]
        for _ in range(attempts):
            obj = self.satellites.get(satellite)
            if obj is None:
                return None
            status = obj.get("status") or {}
            before = status.get("conditions") or []
            after = merge_alerting(
                before,
                firing,
                generation=int(obj["metadata"].get("generation") or 0),
                now=dt.datetime.now(dt.UTC),
            )
            if _same(before, after):
                return obj
            try:
                self.satellites.patch_conditions(
                    satellite,
                    resource_version=str(obj["metadata"]["resourceVersion"]),
                    conditions=after,
                )
            except StatusConflict:
                continue  # the operator wrote its status meanwhile: merge into the new one
            return obj
        raise StatusConflict(f"satellite {satellite}: status kept changing; will retry")

    async def resync_conditions(self) -> int:
        """Re-assert `Alerting` on every Satellite of the mission; how many were checked."""
        names = await asyncio.to_thread(self.satellites.list_names)
        firing = await asyncio.to_thread(self.table.list_alerts, self.mission_key, "firing")
        for name in names:
            await self.assert_condition(name, firing)
        return len(names)


def _same(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a patch would change nothing but timestamps (it would not: skip it)."""

    def key(conditions: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (
                c.get("type"),
                c.get("status"),
                c.get("reason"),
                c.get("message"),
                c.get("observedGeneration"),
            )
            for c in conditions
        ]

    return key(before) == key(after)
