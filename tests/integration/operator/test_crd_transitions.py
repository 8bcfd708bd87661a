"""The generated CRDs in a real kube-apiserver: changes refused by rules on `oldSelf`, and the
integer inputs a fractional bound lets through without its CEL rule.

The invalid-manifest catalogue (`crd_cases.py`) creates objects, so it cannot hold a rule about a
change; these tests update a stored object instead.
"""

from __future__ import annotations

import json

import pytest
from crd_cases import example
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.kube import Custom

pytestmark = pytest.mark.integration


def test_mission_partitions_can_grow_but_not_shrink(
    kube_client: ApiClient, crds: None, namespace: str
) -> None:
    custom = Custom(kube_client, namespace)
    mission = example("Mission")
    mission["spec"].setdefault("kafka", {})["partitions"] = 6
    name = custom.create(mission)["metadata"]["name"]

    with pytest.raises(ApiException) as exc:
        custom.patch("missions", name, {"spec": {"kafka": {"partitions": 5}}})
    assert exc.value.status == 422, exc.value.body
    body = json.loads(exc.value.body)
    assert "spec.kafka.partitions" in body["message"]
    assert "partitions can only grow" in body["message"]
    stored = custom.get("missions", name)
    assert stored is not None
    assert stored["spec"]["kafka"]["partitions"] == 6

    # Growing is accepted, and so is an unrelated change with the partitions left alone.
    custom.patch("missions", name, {"spec": {"kafka": {"partitions": 8}}})
    custom.patch("missions", name, {"spec": {"description": "partitions unchanged"}})
    stored = custom.get("missions", name)
    assert stored is not None
    assert stored["spec"]["kafka"]["partitions"] == 8
    assert stored["spec"]["description"] == "partitions unchanged"


@pytest.mark.parametrize("interval", [1, 3600], ids=["1", "3600"])
def test_integer_telemetry_interval_inside_the_bounds_is_accepted(
    kube_client: ApiClient, crds: None, namespace: str, interval: int
) -> None:
    """The CEL rule that backs `minimum: 0.1` accepts integers on the right side of it."""
    sat = example("Satellite")
    sat["spec"]["telemetryIntervalSeconds"] = interval
    stored = Custom(kube_client, namespace).create(sat)
    assert stored["spec"]["telemetryIntervalSeconds"] == interval
