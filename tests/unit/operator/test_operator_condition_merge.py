"""The operator writes its own Satellite condition types and keeps every other writer's."""

from __future__ import annotations

from mpcs.operator.conditions import merge_owned, owned_of
from mpcs.operator.reconcile.satellite import OWNED_CONDITIONS


def _c(kind: str, status: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": "R", "message": "m"}


def test_only_owned_types_change_others_stay_in_place() -> None:
    server = [_c("SimulatorReady", "True"), _c("Alerting", "True"), _c("Ready", "False")]
    ours = [_c("Ready", "True"), _c("TelemetryFlowing", "True"), _c("Alerting", "False")]
    merged = merge_owned(server, ours, owned=OWNED_CONDITIONS)
    # Alerting is the runner's: kept as the server has it, whatever our stale copy says;
    # SimulatorReady is absent from our list: kept (newer than our read); TelemetryFlowing is
    # new: appended.
    assert [(c["type"], c["status"]) for c in merged] == [
        ("SimulatorReady", "True"),
        ("Alerting", "True"),
        ("Ready", "True"),
        ("TelemetryFlowing", "True"),
    ]


def test_nothing_on_the_server_yet() -> None:
    merged = merge_owned(None, [_c("Ready", "False"), _c("Alerting", "True")], owned={"Ready"})
    assert merged == [_c("Ready", "False")]


def test_owned_of_compares_only_our_types() -> None:
    read = [_c("Ready", "True"), _c("Alerting", "True")]
    now = [_c("Alerting", "False"), _c("Ready", "True")]
    assert owned_of(read, OWNED_CONDITIONS) == owned_of(now, OWNED_CONDITIONS)
    assert "Alerting" not in OWNED_CONDITIONS
