"""How the dev stack's Prometheus learns what to scrape: one file-discovery file per process.

The pipeline dashboard filters on the labels these files carry, so what is checked here is the
contract with it: the address, exactly `PROMETHEUS_LABELS` taken from the pod labels the operator
sets, a file for as long as the process runs, and no half-written file Prometheus could read.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from utils.doctests import run_doctests
from utils.owners import mission_owner

from mpcs.core import names, resources
from mpcs.dev import runner as runner_module
from mpcs.dev.runner import LocalRunner, scrape_labels
from mpcs.dev.servers import Prometheus, ScrapeTargets
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

OWNER = mission_owner()


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_publish_writes_one_group_with_the_loopback_address_and_the_labels(
    tmp_path: Path,
) -> None:
    targets = ScrapeTargets(tmp_path / "targets")
    path = targets.publish(
        "ops/wildfire-ingest/0",
        port=41234,
        labels={"namespace": "ops", "mission": "wildfire", "component": "ingest"},
    )
    assert path == tmp_path / "targets" / "ops_wildfire-ingest_0.json"
    assert _read(path) == [
        {
            "targets": ["127.0.0.1:41234"],
            "labels": {"component": "ingest", "mission": "wildfire", "namespace": "ops"},
        }
    ]


def test_publish_again_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    targets = ScrapeTargets(tmp_path)
    targets.publish("ops/api/0", port=1000, labels={"component": "command-api"})
    targets.publish("ops/api/0", port=2000, labels={"component": "command-api"})
    assert [p.name for p in tmp_path.iterdir()] == ["ops_api_0.json"]
    assert _read(tmp_path / "ops_api_0.json")[0]["targets"] == ["127.0.0.1:2000"]


def test_withdraw_removes_the_file_and_tolerates_a_key_never_published(tmp_path: Path) -> None:
    targets = ScrapeTargets(tmp_path)
    targets.publish("a/b/0", port=1000, labels={})
    targets.withdraw("a/b/0")
    targets.withdraw("never/published/0")
    assert list(tmp_path.iterdir()) == []


def test_a_label_outside_the_contract_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\['satellite'\].*namespace.*mission.*component"):
        ScrapeTargets(tmp_path).publish("k", port=1, labels={"satellite": "firewatch-1"})
    assert list(tmp_path.iterdir()) == []


def test_scrape_labels_come_from_the_pod_labels() -> None:
    run_doctests(runner_module)
    pod = names.labels(name="mpcs-simulator", instance="sat", component="simulator")
    # A pod without a mission label gets no (empty) mission label.
    assert scrape_labels("ops", pod) == {"namespace": "ops", "component": "simulator"}


def test_prometheus_reads_published_files_but_not_temporary_ones(tmp_path: Path) -> None:
    server = Prometheus("prometheus", root=tmp_path, die_with_parent=True)
    server.prepare()
    config = json.loads((tmp_path / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (discovery,) = job["file_sd_configs"]
    (pattern,) = discovery["files"]
    published = ScrapeTargets(server.targets_dir).publish("ops/x/0", port=1, labels={})
    assert fnmatch.fnmatch(str(published), pattern)
    assert not fnmatch.fnmatch(str(server.targets_dir / ".ops_x_0.json.abc123.tmp"), pattern)
    # Two scrapes within a few seconds: what lets a test's rate() have data quickly.
    assert config["global"]["scrape_interval"] == "2s"


def test_a_replica_of_the_operators_ingest_deployment_is_announced_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ingest,) = (
        obj
        for obj in builders.mission_workloads(
            namespace="ops",
            mission="wildfire",
            owner=OWNER,
            spec=resources.MissionSpec.model_validate({}),
            settings=OperatorSettings(kafka_bootstrap="k:9092", image="mpcs:t"),
        )
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "wildfire-ingest"
    )
    local = LocalRunner(
        api=ApiClient(),
        kubeconfig=tmp_path / "kubeconfig",
        log_dir=tmp_path / "logs",
        targets_dir=tmp_path / "targets",
    )
    # Secrets are the apiserver's business, not this test's: every reference resolves to "x".
    monkeypatch.setattr(local, "_env_value", lambda namespace, var: var.get("value", "x"))
    deployment = types.SimpleNamespace(metadata=types.SimpleNamespace(namespace="ops"))
    replica = local._replica(
        "ops/wildfire-ingest/0", deployment, ingest["spec"]["template"], "hash"
    )
    # The same replica, with a process that only sleeps instead of a real ingest.
    replica = dataclasses.replace(
        replica, argv=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    path = tmp_path / "targets" / "ops_wildfire-ingest_0.json"
    assert not path.exists()
    replica.start()
    try:
        assert _read(path) == [
            {
                "targets": [f"127.0.0.1:{replica.ports['metrics']}"],
                "labels": {"namespace": "ops", "mission": "wildfire", "component": "ingest"},
            }
        ]
        assert replica.env["MPCS_METRICS_PORT"] == str(replica.ports["metrics"])
    finally:
        replica.stop()
    assert not path.exists()


def test_a_runner_without_a_targets_directory_announces_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = LocalRunner(api=ApiClient(), kubeconfig=tmp_path / "k", log_dir=tmp_path / "logs")
    monkeypatch.setattr(local, "_env_value", lambda namespace, var: var.get("value", "x"))
    template = {
        "metadata": {"labels": {"app.kubernetes.io/component": "ingest"}},
        "spec": {
            "containers": [
                {
                    "command": ["mpcs"],
                    "args": ["ingest", "run"],
                    "env": [{"name": "MPCS_METRICS_PORT", "value": "9090"}],
                }
            ]
        },
    }
    deployment = types.SimpleNamespace(metadata=types.SimpleNamespace(namespace="ops"))
    replica = local._replica("ops/i/0", deployment, template, "hash")
    assert replica.scrape is None
    assert "metrics" in replica.ports
