"""The flow-back without servers: names and policies, the condition merge, and the rule that a
queue message is deleted only after all four forwards succeeded (in-memory stand-ins)."""

from __future__ import annotations

import asyncio
import datetime as dt
import doctest
from typing import Any

import orjson
import pytest
from utils.doctests import run_doctests

from mpcs.kit.influx import InfluxRejected
from mpcs.lambdas import flowback
from mpcs.lambdas.alerts.model import Transition
from mpcs.lambdas.flowback import (
    FlowBack,
    StatusConflict,
    merge_alerting,
    queue_name,
    transition_of_message,
)

DAY1 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)


def _transition(kind: str = "firing", **changes: Any) -> Transition:
    values: dict[str, Any] = {
        "id": f"a1:{kind}",
        "alert_id": "a1",
        "mission": "ops/wildfire",
        "satellite": "sat-a",
        "rule": "battery-low",
        "kind": "threshold",
        "channel": "power.battery_soc_pct",
        "transition": kind,
        "value": 12.5,
        "threshold": 25.0,
        "unit": "%",
        "severity": "critical",
        "spacecraft_time": "2026-12-02T14:00:00.000000001Z",
        "message": f"battery-low {kind} on sat-a",
    }
    return Transition(**{**values, **changes})


def test_doctests() -> None:
    run_doctests(flowback, optionflags=doctest.ELLIPSIS)


def test_queue_names_are_valid_sqs_names_of_at_most_80_characters() -> None:
    long = queue_name("a" * 63, "b" * 63, fifo=True)
    assert len(long) <= 80
    assert long.endswith(".fifo")
    assert long != queue_name("a" * 63, "b" * 62 + "c", fifo=True)
    assert queue_name("ops", "wildfire", fifo=False) == "mpcs-alerts-ops-wildfire"


def test_both_sqs_body_shapes_give_the_transition() -> None:
    t = _transition()
    assert transition_of_message(t.to_json()) == t
    envelope = {"Type": "Notification", "MessageId": "m", "Message": t.to_json()}
    assert transition_of_message(orjson.dumps(envelope).decode()) == t
    with pytest.raises(ValueError, match="expected a transition object"):
        transition_of_message("[1, 2]")


def test_the_alert_event_carries_the_transition_and_its_type() -> None:
    event = flowback.alert_event(_transition())
    assert event["version"] == 1
    assert event["type"] == "alert"
    assert event["id"] == "a1:firing"
    assert event["satellite"] == "sat-a"


def test_the_alerts_point_escapes_tags_and_omits_missing_numbers() -> None:
    line = flowback.alert_line(
        _transition(rule="low power", value=None, threshold=None, message='say "hi"')
    )
    assert line.startswith(
        "alerts,satellite=sat-a,rule=low\\ power,severity=critical,transition=firing "
    )
    assert "value=" not in line
    assert "threshold=" not in line
    assert 'message="say \\"hi\\""' in line
    assert line.endswith(" 1796220000000000001")


def test_the_merge_sets_alerting_and_keeps_every_other_condition() -> None:
    operator_conditions = [
        {"type": "SimulatorReady", "status": "True", "reason": "Running", "message": "ok"},
        {"type": "Ready", "status": "True", "reason": "Running", "message": "ok"},
    ]
    firing = [{"rule": "battery-low", "severity": "critical"}]
    merged = merge_alerting(operator_conditions, firing, generation=4, now=DAY1)
    assert [c["type"] for c in merged] == ["SimulatorReady", "Ready", "Alerting"]
    assert merged[:2] == operator_conditions
    alerting = merged[2]
    assert (alerting["status"], alerting["reason"]) == ("True", "AlertsFiring")
    assert "battery-low (critical)" in alerting["message"]
    assert alerting["observedGeneration"] == 4
    # Same state a day later: lastTransitionTime stays; resolved: it moves.
    again = merge_alerting(merged, firing, generation=4, now=DAY2)
    assert again[2]["lastTransitionTime"] == alerting["lastTransitionTime"]
    cleared = merge_alerting(again, [], generation=4, now=DAY2)
    assert (cleared[2]["status"], cleared[2]["reason"]) == ("False", "NoAlerts")
    assert cleared[2]["lastTransitionTime"] != alerting["lastTransitionTime"]
    assert cleared[:2] == operator_conditions


def test_the_event_names_the_transition_and_its_kind() -> None:
    satellite = {"apiVersion": "mpcs.io/v1alpha1", "metadata": {"uid": "u", "resourceVersion": "9"}}
    fired = flowback.kube_event(namespace="ops", satellite=satellite, t=_transition(), now=DAY1)
    resolved = flowback.kube_event(
        namespace="ops", satellite=satellite, t=_transition("resolved"), now=DAY1
    )
    assert (fired["reason"], fired["type"]) == ("AlertFiring", "Warning")
    assert (resolved["reason"], resolved["type"]) == ("AlertResolved", "Normal")
    assert fired["metadata"]["name"] != resolved["metadata"]["name"]
    assert fired["involvedObject"]["kind"] == "Satellite"
    assert fired["involvedObject"]["uid"] == "u"


# -- FlowBack.deliver with stand-ins ----------------------------------------------------------


class Table:
    def __init__(self, alerts: list[dict[str, Any]]) -> None:
        self.alerts = alerts

    def list_alerts(
        self, mission: str, status: str | None = None, satellite: str | None = None
    ) -> list[dict[str, Any]]:
        assert mission == "ops/wildfire"
        return [
            a
            for a in self.alerts
            if (status is None or a["status"] == status)
            and (satellite is None or a["satellite"] == satellite)
        ]


class Satellites:
    def __init__(self, conflicts: int = 0) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {"name": "sat-a", "generation": 2, "resourceVersion": "1", "uid": "u"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "R"}]},
        }
        self.conflicts = conflicts
        self.events: list[dict[str, Any]] = []
        self.patches = 0

    def get(self, name: str) -> dict[str, Any] | None:
        return self.obj if name == "sat-a" else None

    def list_names(self) -> list[str]:
        return ["sat-a"]

    def patch_conditions(
        self, name: str, *, resource_version: str, conditions: list[dict[str, Any]]
    ) -> None:
        if self.conflicts:
            self.conflicts -= 1
            # The operator wrote meanwhile: a new condition and a new version.
            written = f"OperatorWrite{self.conflicts}"
            self.obj["status"]["conditions"].append({"type": written, "status": "True"})
            self.obj["metadata"]["resourceVersion"] = str(int(resource_version) + 1)
            raise StatusConflict("changed")
        assert resource_version == self.obj["metadata"]["resourceVersion"]
        self.obj["status"]["conditions"] = conditions
        self.patches += 1

    def create_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[Any] = []

    async def send(self, key: str, event: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append((key, event))

    async def write(self, body: bytes) -> None:
        if self.fail:
            raise ConnectionError("influxdb away")
        self.sent.append(body)


class Sqs:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


def _flow(
    *, satellites: Satellites, events: Sink, lines: Sink, firing: bool = True
) -> tuple[FlowBack, Sqs]:
    sqs = Sqs()
    alerts = [
        {"satellite": "sat-a", "rule": "battery-low", "severity": "critical", "status": "firing"}
    ]
    flow = FlowBack(
        namespace="ops",
        mission="wildfire",
        topic_arn="arn:aws:sns:us-east-1:0:t.fifo",
        sqs=sqs,
        sns=None,
        table=Table(alerts if firing else []),  # type: ignore[arg-type]
        satellites=satellites,
        events=events,
        lines=lines,
    )
    flow.queue_url = "q"
    return flow, sqs


def _message(t: Transition) -> dict[str, Any]:
    return {"MessageId": "m1", "ReceiptHandle": "r1", "Body": t.to_json()}


def test_a_delivered_transition_reaches_all_four_and_is_deleted() -> None:
    satellites, events, lines = Satellites(), Sink(), Sink()
    flow, sqs = _flow(satellites=satellites, events=events, lines=lines)
    done = asyncio.run(flow.deliver(_message(_transition())))
    assert done.deleted
    assert done.failed_step is None
    assert events.sent[0][0] == "sat-a"
    assert events.sent[0][1]["type"] == "alert"
    assert lines.sent[0].startswith(b"alerts,")
    conditions = {c["type"]: c for c in satellites.obj["status"]["conditions"]}
    assert conditions["Alerting"]["status"] == "True"
    assert "Ready" in conditions
    assert [e["reason"] for e in satellites.events] == ["AlertFiring"]
    assert sqs.deleted == ["r1"]
    # The same message again: same condition (no patch), and the Event has the same name.
    asyncio.run(flow.deliver(_message(_transition())))
    assert satellites.patches == 1
    assert satellites.events[0]["metadata"]["name"] == satellites.events[1]["metadata"]["name"]


@pytest.mark.parametrize("failing", ["events", "influxdb"])
def test_a_failed_forward_keeps_the_message(failing: str) -> None:
    satellites = Satellites()
    flow, sqs = _flow(
        satellites=satellites,
        events=Sink(fail=failing == "events"),
        lines=Sink(fail=failing == "influxdb"),
    )
    done = asyncio.run(flow.deliver(_message(_transition())))
    assert not done.deleted
    assert done.failed_step == failing
    assert sqs.deleted == []
    assert satellites.events == []


def test_the_condition_is_merged_again_when_the_operator_wrote_meanwhile() -> None:
    satellites = Satellites(conflicts=2)
    flow, _sqs = _flow(satellites=satellites, events=Sink(), lines=Sink())
    done = asyncio.run(flow.deliver(_message(_transition())))
    assert done.deleted
    types = [c["type"] for c in satellites.obj["status"]["conditions"]]
    assert "OperatorWrite1" in types  # both of the operator's writes survived
    assert "OperatorWrite0" in types
    assert "Alerting" in types
    assert "Ready" in types


def test_the_condition_follows_the_table_not_the_message() -> None:
    """A stale `firing` message arriving after the alert resolved leaves Alerting False."""
    satellites = Satellites()
    flow, _ = _flow(satellites=satellites, events=Sink(), lines=Sink(), firing=False)
    asyncio.run(flow.deliver(_message(_transition("firing"))))
    (alerting,) = [c for c in satellites.obj["status"]["conditions"] if c["type"] == "Alerting"]
    assert (alerting["status"], alerting["reason"]) == ("False", "NoAlerts")


def test_a_message_of_another_mission_is_dropped_without_forwarding() -> None:
    events = Sink()
    flow, sqs = _flow(satellites=Satellites(), events=events, lines=Sink())
    done = asyncio.run(flow.deliver(_message(_transition(mission="ops/other"))))
    assert done.deleted
    assert sqs.deleted == ["r1"]
    assert events.sent == []


def test_a_point_influxdb_refuses_does_not_hold_the_other_forwards_back() -> None:
    class Refusing(Sink):
        async def write(self, body: bytes) -> None:
            raise InfluxRejected(422, "points beyond retention policy dropped")

    satellites = Satellites()
    flow, sqs = _flow(satellites=satellites, events=Sink(), lines=Refusing())
    done = asyncio.run(flow.deliver(_message(_transition())))
    assert done.deleted
    assert sqs.deleted == ["r1"]
    assert [e["reason"] for e in satellites.events] == ["AlertFiring"]


def test_the_periodic_resync_reads_the_table_once_for_all_satellites() -> None:
    satellites = Satellites()
    flow, _ = _flow(satellites=satellites, events=Sink(), lines=Sink())
    calls: list[str | None] = []
    table = flow.table
    original = table.list_alerts

    def counted(mission: str, status: str | None = None) -> list[dict[str, Any]]:
        calls.append(status)
        return original(mission, status)

    table.list_alerts = counted  # type: ignore[method-assign]
    assert asyncio.run(flow.resync_conditions()) == 1
    assert calls == ["firing"]
    (alerting,) = [c for c in satellites.obj["status"]["conditions"] if c["type"] == "Alerting"]
    assert alerting["status"] == "True"
