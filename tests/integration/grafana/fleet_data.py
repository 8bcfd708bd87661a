"""A mission bucket filled the way production fills it, for running dashboard queries against.

Telemetry comes from the simulator's engine (the physics every `mpcs sim run` uses) and is encoded
by the ingest's own line-protocol code; command audit points by the command API's `command_line`;
contact windows by the operator's `pass_lines` from the orbit library's pass predictions. Nothing
is hand-written, so a dashboard query that works here reads the fields, tags and types the real
pipeline stores.

Shared by tests/integration/grafana/test_flux_panel_queries.py and bench/dashboard_queries.py
(which puts this directory on its path).
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from mpcs.core.commands import CommandState
from mpcs.core.resources import GroundStationSpec, SatelliteSpec
from mpcs.operator.pass_points import pass_lines
from mpcs.orbit.passes import Station, predict_passes
from mpcs.orbit.timeutil import ns_from_datetime
from mpcs.orbit.tle import tle_checksum
from mpcs.simulator import Engine, SatelliteConfig
from mpcs.workloads.api.audit import command_line
from mpcs.workloads.api.store import CommandRecord
from mpcs.workloads.ingest.lineprotocol import encode_message

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
#: The example satellites' TLE epoch: the simulated fleet flies from there.
EPOCH = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NS_PER_S = 1_000_000_000


def _manifests(name: str, kind: str) -> list[dict[str, Any]]:
    with (EXAMPLES / name).open(encoding="utf-8") as stream:
        return [d for d in yaml.safe_load_all(stream) if isinstance(d, dict) and d["kind"] == kind]


def example_stations() -> list[Station]:
    return [
        GroundStationSpec.model_validate(doc["spec"]).station(doc["metadata"]["name"])
        for doc in _manifests("00-groundstations.yaml", "GroundStation")
    ]


def fleet(n: int) -> list[SatelliteConfig]:
    """`n` satellites: the example mission's spacecraft, spread over planes and phases.

    Satellite i is the example's firewatch-(i mod 3 + 1) with its right ascension and mean
    anomaly turned, so the fleet covers the globe; names are `fw-000`, `fw-001`, ….
    """
    examples = _manifests("20-satellites.yaml", "Satellite")
    configs = []
    for i in range(n):
        spec = dict(examples[i % len(examples)]["spec"])
        line1, line2 = spec["tle"]["line1"], spec["tle"]["line2"]
        raan = (float(line2[17:25]) + 360.0 * (i // 12) / max(1, (n + 11) // 12)) % 360.0
        anomaly = (float(line2[43:51]) + 30.0 * i) % 360.0
        body2 = f"{line2[:17]}{raan:8.4f}{line2[25:43]}{anomaly:8.4f}{line2[51:68]}"
        spec["tle"] = {"line1": line1, "line2": body2 + str(tle_checksum(body2))}
        spec["simulator"] = {**spec.get("simulator", {}), "seed": i + 1}
        configs.append(SatelliteConfig(name=f"fw-{i:03d}", spec=SatelliteSpec.model_validate(spec)))
    return configs


def telemetry(
    configs: Sequence[SatelliteConfig],
    *,
    start: datetime,
    duration_s: float,
    step_s: float = 10.0,
    batch_samples: int = 200,
) -> Iterator[bytes]:
    """Line protocol of every sample of every satellite, `batch_samples` engine steps a batch."""
    engine = Engine(configs, start_ns=ns_from_datetime(start), stations=example_stations())
    steps = int(duration_s // step_s)
    batch: list[bytes] = []
    for k in range(steps):
        engine.advance(step_s)
        batch += [encode_message(message) for message in engine.telemetry()]
        if (k + 1) % batch_samples == 0 or k + 1 == steps:
            yield b"".join(batch)
            batch = []


def passes(configs: Sequence[SatelliteConfig], *, start: datetime, duration_s: float) -> list[str]:
    """The operator's `passes` points for every satellite over every example station."""
    lines: list[str] = []
    for config in configs:
        for station in example_stations():
            found = predict_passes(config.tle, station, start, duration_s)
            lines += pass_lines(config.name, station.name, found)
    return lines


#: States the simulated commands end in, in turn: a history with every outcome.
_ENDINGS = (
    (CommandState.SENT, CommandState.ACCEPTED, CommandState.EXECUTED),
    (CommandState.SENT, CommandState.ACCEPTED, CommandState.FAILED),
    (CommandState.SENT, CommandState.REJECTED),
)


def commands(
    satellites: Sequence[str], *, start: datetime, duration_s: float, every_s: float = 600.0
) -> list[str]:
    """The command API's audit points of a command to each satellite every `every_s` seconds."""
    lines: list[str] = []
    count = int(duration_s // every_s)
    for i, satellite in enumerate(satellites):
        for k in range(count):
            issued = start + timedelta(seconds=k * every_s + i)
            record = CommandRecord(
                id=uuid.UUID(int=(i << 32) + k + 1),
                satellite=satellite,
                name="CAPTURE_IMAGE" if k % 2 else "PING",
                args={"target": "fire-front"} if k % 2 else {},
                issued_by="operator",
                issued_at=issued,
                valid_until=issued + timedelta(minutes=30),
            )
            for j, state in enumerate(_ENDINGS[(i + k) % len(_ENDINGS)]):
                lines.append(
                    command_line(
                        record=record,
                        state=state.value,
                        time_ns=ns_from_datetime(issued) + j * 2 * NS_PER_S,
                        who="operator",
                        reason="wheel saturated" if state == CommandState.FAILED else None,
                    )
                )
    return lines


class Bucket:
    """A bucket of the dev stack's InfluxDB, written through the plain HTTP API."""

    def __init__(self, *, url: str, org: str, token: str, name: str) -> None:
        self.url, self.org, self.name = url, org, name
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=120.0
        )

    def create(self) -> Bucket:
        orgs = self._client.get("/api/v2/orgs", params={"org": self.org})
        orgs.raise_for_status()
        org_id = orgs.json()["orgs"][0]["id"]
        response = self._client.post(
            "/api/v2/buckets", json={"orgID": org_id, "name": self.name, "retentionRules": []}
        )
        response.raise_for_status()
        return self

    def write(self, lines: bytes | str) -> None:
        body = lines.encode() if isinstance(lines, str) else lines
        response = self._client.post(
            "/api/v2/write",
            params={"org": self.org, "bucket": self.name, "precision": "ns"},
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
            content=gzip.compress(body, compresslevel=1),
        )
        if response.status_code != 204:
            raise RuntimeError(f"write to {self.name}: {response.status_code} {response.text}")

    def query(self, flux: str, *, timeout_s: float = 60.0) -> str:
        """Annotated CSV with the column types (what Grafana's InfluxDB backend reads too)."""
        response = self._client.post(
            "/api/v2/query",
            params={"org": self.org},
            headers={"Accept": "application/csv"},
            json={"query": flux, "dialect": {"annotations": ["datatype", "group", "default"]}},
            timeout=timeout_s,
        )
        if response.status_code != 200:
            raise RuntimeError(f"query failed: {response.status_code} {response.text}\n{flux}")
        return response.text

    def close(self) -> None:
        self._client.close()
