"""The operator's readiness: a dependency is down only once a reconcile saw it fail."""

from __future__ import annotations

from mpcs.operator.metrics import Health


def test_a_replica_that_has_reconciled_nothing_is_ready() -> None:
    """A standby (Kopf peering) reconciles nothing until it takes over; it must stay ready."""
    readiness = Health().readiness()
    assert readiness.ready
    assert readiness.detail == {"dependencies": {"kafka": None, "influxdb": None}}


def test_a_failed_dependency_makes_it_unready_until_it_answers_again() -> None:
    health = Health()
    health.mark("kafka", True)
    health.mark("influxdb", False)
    readiness = health.readiness()
    assert not readiness.ready
    assert readiness.reason == "unreachable at the last reconcile: influxdb"
    health.mark("influxdb", True)
    assert health.readiness().ready
