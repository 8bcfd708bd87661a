"""The local runner's Secret volumes, without a server: the command API's mounted tokens Secret
becomes a folder of files that follows the Secret, as a kubelet keeps a mounted Secret current
(token rotation without a restart)."""

from __future__ import annotations

import base64
import types
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from utils.owners import mission_owner

from mpcs.core import resources
from mpcs.dev.runner import LocalRunner
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

_DEPLOYMENT = types.SimpleNamespace(metadata=types.SimpleNamespace(namespace="ops"))


class _SecretApi:
    """`read_namespaced_secret` over a dict of Secrets (name → string data)."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        if name not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        data = {k: base64.b64encode(v.encode()).decode() for k, v in self.secrets[name].items()}
        return types.SimpleNamespace(data=data)


def _api_template() -> dict[str, Any]:
    objects = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=mission_owner(),
        spec=resources.MissionSpec.model_validate({}),
        settings=OperatorSettings(kafka_bootstrap="k:9092", image="mpcs:t"),
    )
    (api,) = (
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "wildfire-command-api"
    )
    template: dict[str, Any] = api["spec"]["template"]
    return template


def _local(tmp_path: Path, secrets: _SecretApi, monkeypatch: pytest.MonkeyPatch) -> LocalRunner:
    local = LocalRunner(api=ApiClient(), kubeconfig=tmp_path / "admin", log_dir=tmp_path / "logs")
    monkeypatch.setattr(local, "_env_value", lambda namespace, var: var.get("value", "x"))
    local.core = secrets  # type: ignore[assignment]
    return local


def test_the_tokens_secret_is_a_folder_that_follows_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = _SecretApi({"wildfire-api-tokens": {"viewer": "v1", "operator": "o1"}})
    local = _local(tmp_path, secrets, monkeypatch)
    replica = local._replica("ops/wildfire-command-api/0", _DEPLOYMENT, _api_template(), "h")
    folder = Path(replica.env["MPCS_API_TOKENS_DIR"])
    assert folder.is_relative_to(tmp_path)  # the mount path, remapped to a local folder
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"viewer": "v1", "operator": "o1"}
    # The Secret is updated (a rotation): the next pass rewrites the files in place.
    secrets.secrets["wildfire-api-tokens"] = {"viewer": "v1\nv2", "admin": "a1"}
    local._sync_volumes(replica, initial=False)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"viewer": "v1\nv2", "admin": "a1"}
    # The Secret unreadable for a while: the files stay as they were.
    del secrets.secrets["wildfire-api-tokens"]
    local._sync_volumes(replica, initial=False)
    assert (folder / "viewer").read_text() == "v1\nv2"


def test_a_replica_waits_for_its_tokens_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _local(tmp_path, _SecretApi({}), monkeypatch)
    with pytest.raises(ApiException):
        local._replica("ops/wildfire-command-api/0", _DEPLOYMENT, _api_template(), "h")
