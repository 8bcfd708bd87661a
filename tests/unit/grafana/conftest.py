"""Contexts the dashboard tests render: the example mission, and edge cases around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpcs.core.resources import AlertRule
from mpcs.grafana.cli import example_context
from mpcs.grafana.context import MissionContext

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples"


def every_operator_context() -> MissionContext:
    """The example mission with a rule of every operator, two on one channel, and rules on a
    boolean and a text channel (so every threshold path of the dashboards is rendered)."""
    example = example_context(EXAMPLES)
    extra = (
        AlertRule(
            name="soc-very-low", channel="power.battery_soc_pct", operator="<=", threshold=10
        ),
        AlertRule(name="wheel-fast", channel="adcs.wheel_x_rpm", operator=">", threshold=6000),
        AlertRule(name="cold", channel="thermal.payload_temp_c", operator="<", threshold=-20),
        AlertRule(name="radio-down", channel="comms.radio_ok", operator="==", threshold=0),
        AlertRule(name="reason", channel="obc.fdir_reason", operator="==", threshold=1),
    )
    return MissionContext(
        namespace="ops",
        mission="wildfire",
        stations=example.stations,
        alerts=example.alerts + extra,
    )


CONTEXTS = {
    "example": lambda: example_context(EXAMPLES),
    "bare": lambda: MissionContext(namespace="default", mission="bare"),
    "every-operator": every_operator_context,
}


@pytest.fixture(params=sorted(CONTEXTS))
def context(request: pytest.FixtureRequest) -> MissionContext:
    return CONTEXTS[request.param]()
