"""The deploy tier: the AWS CDK app of deploy/aws, synthesized offline and asserted.

`synth_stack` builds one App per call (each test its own); the jsii kernel behind aws-cdk-lib is
one Node process per Python process, so the tests share it. `cdk_out` (the defaults) and
`cdk_out_timestream` (`-c influxFlavour=timestream`) run the pinned CDK CLI's `cdk synth` once per
test run each, with every proxy pointed at a closed port so any network access would fail, and
checkov reads their output.

The Lambda's code is a stand-in zip: synthesis only hashes and copies the asset, and building the
real one (`mpcs lambdas package`) downloads Lambda-platform wheels from the index, which the
alerts tests cover.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mpcs.dev import tools

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "aws"
sys.path.insert(0, str(DEPLOY_DIR))

#: What the CDK CLI and jsii need to run quietly and offline (the issue's "no network").
OFFLINE_ENV = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    # Port 9 (discard) is closed here: any HTTP(S) request the synth made would fail.
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}
os.environ.update({k: v for k, v in OFFLINE_ENV.items() if k.startswith(("CDK_", "JSII_"))})


@pytest.fixture(scope="session")
def stand_in_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny zip in place of `mpcs lambdas package`'s (see the module docstring)."""
    path = tmp_path_factory.mktemp("lambda") / "mpcs-alerts-lambda.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mpcs/lambdas/alerts/handler.py", "def handler(event, context): ...\n")
    return path


@pytest.fixture
def synth_stack(stand_in_zip: Path, tmp_path: Path) -> Any:
    """`synth_stack(**config)` → the stack's `Template`, from a fresh App."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from mpcs_aws import DeploymentConfig, MpcsStack

    def synth(**overrides: Any) -> Template:
        config = DeploymentConfig(**{"alerts_zip": str(stand_in_zip), **overrides})
        app = cdk.App(outdir=str(tmp_path / "cdk.out"))
        stack = MpcsStack(app, "Mpcs", config=config)
        return Template.from_stack(stack)

    return synth


def cdk_synth(out: Path, zip_path: Path, context: dict[str, str]) -> Path:
    """`cdk synth` of deploy/aws by the pinned CLI, offline, with `context`: the assembly dir."""
    cdk = tools.binary("aws-cdk", "cdk")
    started = time.monotonic()
    contexts = [f"--context={key}={value}" for key, value in context.items()]
    result = subprocess.run(
        [
            str(cdk),
            "synth",
            "--app",
            f"{sys.executable} app.py",
            "--output",
            str(out),
            "--context",
            f"alertsZip={zip_path}",
            *contexts,
            "--no-notices",
            "--no-version-reporting",
            "--quiet",
        ],
        cwd=DEPLOY_DIR,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    print(f"cdk synth {context}: {time.monotonic() - started:.1f} s")
    return out


@pytest.fixture(scope="session")
def cdk_out(stand_in_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth` of the defaults (the chart flavour of InfluxDB)."""
    return cdk_synth(tmp_path_factory.mktemp("cdk") / "cdk.out", stand_in_zip, {})


@pytest.fixture(scope="session")
def cdk_out_timestream(stand_in_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth -c influxFlavour=timestream` (the context key as a user passes it)."""
    out = tmp_path_factory.mktemp("cdk-timestream") / "cdk.out"
    return cdk_synth(out, stand_in_zip, {"influxFlavour": "timestream"})
