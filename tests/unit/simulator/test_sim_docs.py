"""Generated documents stay in step with the code, and the telemetry schema rejects bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpcs.core import commands, telemetry
from mpcs.core.names import SUBSYSTEM_MEASUREMENTS
from mpcs.core.telemetry import CHANNELS, TelemetryError, decode, encode, validate_message

DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.mark.parametrize(
    ("name", "render"),
    [("commands.md", commands.render_markdown), ("telemetry.md", telemetry.render_markdown)],
)
def test_generated_doc_is_current(name: str, render: object) -> None:
    assert callable(render)
    current = (DOCS / name).read_text(encoding="utf-8")
    assert current == render(), (
        f"docs/{name} is stale: run `python -m mpcs.core.{name.removesuffix('.md')} > docs/{name}`"
    )


def test_catalogue_covers_every_measurement_with_unique_channels() -> None:
    assert {c.subsystem for c in CHANNELS} == set(SUBSYSTEM_MEASUREMENTS)
    assert len({c.key for c in CHANNELS}) == len(CHANNELS)
    for c in CHANNELS:
        if c.type in ("float", "int"):
            assert c.minimum is not None, c.key
            assert c.unit, c.key


def _message() -> dict:
    from simdata import make_craft

    craft = make_craft()
    craft.advance(10)
    return craft.telemetry()


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda m: m.update(version=2), "version"),
        (lambda m: m.update(time="2025-01-01 00:00:00"), "time"),
        (lambda m: m.update(seq=-1), "seq"),
        (lambda m: m.update(mode="ASLEEP"), "mode"),
        (lambda m: m.update(extra=1), "extra"),
        (lambda m: m["power"].update(battery_soc_pct=101.0), "power.battery_soc_pct"),
        (lambda m: m["power"].pop("battery_soc_pct"), "power.battery_soc_pct"),
        (lambda m: m["orbit"].update(sunlit=1), "orbit.sunlit"),
        (lambda m: m["obc"].update(uptime_s=True), "obc.uptime_s"),
        (lambda m: m["comms"].update(warp=9), "comms.warp"),
        (lambda m: m.pop("adcs"), "adcs"),
        (lambda m: m["thermal"].update(battery_temp_c=float("nan")), "thermal.battery_temp_c"),
    ],
)
def test_invalid_telemetry_is_rejected_naming_the_field(mutate: object, path: str) -> None:
    message = _message()
    assert callable(mutate)
    mutate(message)
    with pytest.raises(TelemetryError) as caught:
        validate_message(message)
    assert caught.value.path == path


def test_encode_decode_round_trip() -> None:
    message = _message()
    assert decode(encode(message)) == message
    with pytest.raises(TelemetryError, match="not JSON"):
        decode(b"{nope")
