"""One spacecraft: the model the runtime and the CLI drive (an `Engine` of one satellite).

>>> from mpcs.core.resources import SatelliteSpec
>>> from mpcs.simulator import Spacecraft
>>> spec = SatelliteSpec.model_validate({"missionRef": {"name": "demo"}, "tle": {
...     "line1": "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
...     "line2": "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"}})
>>> sc = Spacecraft("demo-1", spec, start="2008-09-20T12:00:00Z")
>>> sc.advance(10.0)
>>> msg = sc.telemetry()
>>> msg["time"], msg["seq"], msg["mode"]
('2008-09-20T12:00:10.000000000Z', 1, 'NOMINAL')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mpcs.core.commands import Ack, Command, Mode
from mpcs.core.products import Product
from mpcs.core.resources.satellite import SatelliteSpec
from mpcs.core.resources.simulation import SimulatorConfig
from mpcs.orbit.passes import Station
from mpcs.orbit.timeutil import ns_from_datetime, parse_time

from .commanding import execute, take_downlinked
from .engine import MODES, Engine, SatelliteConfig
from .imaging import render_product


class Spacecraft:
    """A simulated spacecraft: advance it, read its telemetry, send it commands."""

    def __init__(
        self,
        name: str,
        spec: SatelliteSpec,
        *,
        start: datetime | int | str | None = None,
        stations: Sequence[Station] = (),
    ) -> None:
        """`start` (UTC) defaults to the spec's simulator.startTime, else the TLE epoch.

        `stations` are the ground stations it can talk to (none: never in contact).
        """
        self.spec = spec
        self.name = name
        self.engine = Engine(
            [SatelliteConfig(name=name, spec=spec)],
            start_ns=_start_ns(start, spec, name),
            stations=stations,
        )

    @classmethod
    def from_config(
        cls, config: SimulatorConfig, *, start: datetime | int | str | None = None
    ) -> Spacecraft:
        """The spacecraft a simulator process flies: its Satellite over its mission's stations."""
        return cls(config.satellite, config.spec, start=start, stations=config.stations())

    @property
    def time_ns(self) -> int:
        """Spacecraft clock (UTC ns)."""
        return self.engine.time_ns

    @property
    def mode(self) -> Mode:
        """Current operating mode."""
        return MODES[int(self.engine.mode[0])]

    def advance(self, dt_s: float) -> None:
        """Advance the simulated time by dt_s seconds."""
        self.engine.advance(dt_s)

    def telemetry(self) -> dict[str, Any]:
        """The current telemetry message (schema v1)."""
        return self.engine.telemetry()[0]

    def execute(self, command: Command) -> list[Ack]:
        """Execute a validated command now; returns accepted+executed/failed, or rejected."""
        return execute(self.engine, 0, command)

    def take_products(self) -> list[Product]:
        """The images downlinked since the last call, rendered (each is returned once)."""
        key = int(self.engine.seed_keys[0])
        return [
            render_product(self.name, item, seed_key=key)
            for item in take_downlinked(self.engine, 0)
        ]


def _start_ns(start: datetime | int | str | None, spec: SatelliteSpec, name: str) -> int:
    if isinstance(start, int):
        return start
    if isinstance(start, str):
        return parse_time(start)
    if isinstance(start, datetime):
        return ns_from_datetime(start)
    if spec.simulator.start_time is not None:
        return ns_from_datetime(spec.simulator.start_time)
    return spec.tle.parsed(name).epoch_ns
