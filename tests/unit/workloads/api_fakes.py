"""In-memory stand-ins for the command API's adapters (Kafka, InfluxDB, the Kubernetes API), and
the settings and `Services` the API's unit tests build from them.

The behaviour they stand in for is tested against the real servers in
tests/integration/workloads/test_api_live.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from mpcs.core.commands import Command
from mpcs.workloads.api.kafka import KafkaUnavailable
from mpcs.workloads.api.kube import Directory
from mpcs.workloads.api.services import Services, tokens_of
from mpcs.workloads.settings import WorkloadSettings

L1 = "1 63201U 25042A   25152.50000000  .00001240  00000-0  62170-4 0  9992"
L2 = "2 63201  97.4512 213.2841 0011250  92.6713  10.0000 15.15312845 12043"
VIEWER, OPERATOR, ADMIN = "viewer-token", "operator-token", "admin-token"


def satellite_manifest(name: str, mission: str = "wildfire") -> dict[str, Any]:
    return {
        "apiVersion": "mpcs.io/v1alpha1",
        "kind": "Satellite",
        "metadata": {"name": name},
        "spec": {
            "missionRef": {"name": mission},
            "noradId": 63201,
            "tle": {"line1": L1, "line2": L2},
            "telemetryIntervalSeconds": 10,
        },
        "status": {"phase": "Ready", "orbit": {"periodMinutes": 95.0}},
    }


class FakeSource:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.reads = 0

    async def list(self, plural: str) -> list[dict[str, Any]]:
        self.reads += 1
        return list(self.objects.get(plural, []))

    async def get(self, plural: str, name: str) -> dict[str, Any] | None:
        return next(
            (o for o in self.objects.get(plural, []) if o["metadata"]["name"] == name), None
        )


class FakeBus:
    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.events: list[dict[str, Any]] = []
        self.fail: str | None = None

    async def send_command(self, command: Command) -> datetime:
        if self.fail:
            raise KafkaUnavailable(self.fail)
        self.commands.append(command)
        return datetime.now(UTC)

    def send_event(self, key: str, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def check(self) -> None:
        if self.fail:
            raise KafkaUnavailable(self.fail)


class FakeInflux:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.latest_rows: list[dict[str, Any]] = []
        self.series_calls: list[dict[str, Any]] = []
        self.down: str | None = None

    async def ping(self) -> None:
        if self.down:
            raise RuntimeError(self.down)

    async def write(self, lines: list[str]) -> None:
        self.lines += lines

    async def latest(self, satellite: str) -> list[dict[str, Any]]:
        return self.latest_rows

    async def series(
        self, satellite: str, channel: str, *, start: str, stop: str, every: str, fn: str
    ) -> list[dict[str, Any]]:
        self.series_calls.append(
            {"channel": channel, "start": start, "stop": stop, "every": every, "fn": fn}
        )
        return [{"_time": "2025-06-01T12:00:00Z", "_value": 50.0}]

    async def commands(self, *, start: str, command_id: str | None = None) -> list[dict[str, Any]]:
        return []


def make_settings(**extra: Any) -> WorkloadSettings:
    values: dict[str, Any] = {
        "namespace": "ops",
        "mission": "wildfire",
        "kafka_bootstrap": "127.0.0.1:1",
        "influx_url": "http://127.0.0.1:1",
        "influx_org": "mpcs",
        "influx_token": "t",
        "api_token_viewer": VIEWER,
        "api_token_operator": OPERATOR,
        "api_token_admin": ADMIN,
    }
    values.update(extra)
    return WorkloadSettings(**values)


#: What the Kubernetes API holds for `make_services` unless a test gives its own objects.
DEFAULT_OBJECTS: dict[str, list[dict[str, Any]]] = {
    "satellites": [
        satellite_manifest("firewatch-1"),
        satellite_manifest("other-sat", mission="other"),
    ],
    "missions": [{"metadata": {"name": "wildfire"}, "spec": {"groundStations": ["svalbard"]}}],
    "groundstations": [
        {
            "metadata": {"name": "svalbard"},
            "spec": {"latitudeDeg": 78.2297, "longitudeDeg": 15.4077, "altitudeM": 500},
        }
    ],
}


def make_services(
    settings: WorkloadSettings | None = None,
    *,
    objects: dict[str, list[dict[str, Any]]] | None = None,
) -> Services:
    """The API's services on in-memory adapters; `objects` by plural replace DEFAULT_OBJECTS."""
    settings = settings or make_settings()
    source = FakeSource(copy.deepcopy(DEFAULT_OBJECTS) if objects is None else objects)
    return Services(
        settings=settings,
        tokens=tokens_of(settings),
        directory=Directory(source, mission=settings.mission, ttl_s=60),
        influx=FakeInflux(),
        bus=FakeBus(),
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bus(services: Services) -> FakeBus:
    assert isinstance(services.bus, FakeBus)
    return services.bus


def influx(services: Services) -> FakeInflux:
    assert isinstance(services.influx, FakeInflux)
    return services.influx


def audit_lines(services: Services) -> list[str]:
    assert services.audit is not None
    return list(services.audit._lines)
