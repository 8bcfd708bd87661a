"""Names are defined once; these pin the contract other components rely on."""

from __future__ import annotations

from utils.doctests import run_doctests

from mpcs.core import names


def test_doctests() -> None:
    run_doctests(names)


def test_every_topic_kind_is_distinct_and_prefixed() -> None:
    topics = names.mission_topics("ops", "wildfire")
    assert len(set(topics.values())) == 6
    assert all(t.startswith("mpcs.ops.wildfire.") for t in topics.values())


def test_child_name_is_a_dns_label_and_stable() -> None:
    long_owner = "a" * 70
    name = names.child_name(long_owner, "simulator")
    assert len(name) <= 63
    assert name == names.child_name(long_owner, "simulator")
    assert name != names.child_name(long_owner, "ingest")


def test_labels_carry_standard_keys() -> None:
    labels = names.labels(
        name="mpcs-simulator",
        instance="sat-1",
        component="simulator",
        mission="wildfire",
        satellite="sat-1",
    )
    assert labels["app.kubernetes.io/part-of"] == "mpcs"
    assert labels["app.kubernetes.io/managed-by"] == "mpcs-operator"
    assert labels["mpcs.io/mission"] == "wildfire"
    assert labels["mpcs.io/satellite"] == "sat-1"
