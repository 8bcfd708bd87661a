"""Valid telemetry messages for the alerts tests and bench: one simulated sample, re-stamped."""

from __future__ import annotations

import copy
import functools
from typing import Any

from mpcs.core.resources import SatelliteSpec
from mpcs.core.telemetry import encode
from mpcs.lambdas.alerts.events import KafkaRecord
from mpcs.orbit.timeutil import format_time_ns
from mpcs.simulator import Spacecraft

ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
S = 1_000_000_000
#: Spacecraft time 0 of the tests (2023-11-14T22:13:20Z).
T0_NS = 1_700_000_000 * S


@functools.cache
def _template() -> dict[str, Any]:
    spec = SatelliteSpec.model_validate(
        {"missionRef": {"name": "m"}, "tle": {"line1": ISS_L1, "line2": ISS_L2}}
    )
    return Spacecraft("sat-a", spec, start=T0_NS).telemetry()


def message(satellite: str, t_s: float, **channels: float | bool) -> dict[str, Any]:
    """A valid message of `satellite` at T0 + t_s with `subsystem__name=value` overrides."""
    out = copy.deepcopy(_template())
    out["satellite"] = satellite
    out["time"] = format_time_ns(T0_NS + int(t_s * S))
    for name, value in channels.items():
        sub, _, channel = name.partition("__")
        out[sub][channel] = value
    return out


def record(
    topic: str,
    offset: int,
    satellite: str,
    t_s: float,
    *,
    partition: int = 0,
    seen_ms: int | None = None,
    **channels: float | bool,
) -> KafkaRecord:
    """A Kafka record carrying `message(...)`; its timestamp is `seen_ms` (default: the sample's
    own time, i.e. produced as it was sampled)."""
    stamp = (T0_NS // 1_000_000 + int(t_s * 1000)) if seen_ms is None else seen_ms
    return KafkaRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        key=satellite.encode(),
        value=encode(message(satellite, t_s, **channels)),
        timestamp_ms=stamp,
    )
