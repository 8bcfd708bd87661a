"""helm lints and renders a chart; kubectl server-side-applies it into the test apiserver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from mpcs.dev import tools

pytestmark = pytest.mark.integration

CHART = Path(__file__).parents[2] / "fixtures" / "charts" / "smoke"


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, f"{argv[0]} failed: {result.stderr}"
    return result.stdout


def test_helm_lint_template_and_server_side_apply(
    kube_client: ApiClient, kubeconfig: Path, namespace: str
) -> None:
    helm = str(tools.binary("helm"))
    kubectl = str(tools.binary("kubectl"))
    assert "1 chart(s) linted, 0 chart(s) failed" in _run(helm, "lint", str(CHART))
    rendered = _run(helm, "template", "demo", str(CHART), "--set", "satellites=7")
    assert "name: demo-smoke" in rendered

    manifest = Path(kubeconfig).parent / f"rendered-{namespace}.yaml"
    manifest.write_text(rendered)
    out = _run(
        kubectl,
        "--kubeconfig",
        str(kubeconfig),
        "apply",
        "--server-side",
        "--field-manager=mpcs-test",
        "-n",
        namespace,
        "-f",
        str(manifest),
    )
    assert "configmap/demo-smoke serverside-applied" in out

    cm = k8s.CoreV1Api(kube_client).read_namespaced_config_map("demo-smoke", namespace)
    assert cm.data == {"satellites": "7"}
    managers = {entry.manager for entry in cm.metadata.managed_fields}
    assert "mpcs-test" in managers
