"""`mpcs lambdas package` builds a zip that runs on its own: unpacked into an empty directory, the
handler is imported and called by a bare interpreter (`-I -S`: no site-packages, no PYTHON*
variables) against moto's server, and loads nothing from outside the zip and the standard library,
and none of the other components' libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from alert_samples import record
from test_alerts_moto import RULES, SOC, TOPIC, Aws

from mpcs.dev import tools
from mpcs.lambdas.alerts.events import build_kafka_event

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
#: What the handler must never drag in: the operator's, the API's and the ingest's libraries.
FORBIDDEN = ("kopf", "kubernetes", "fastapi", "uvicorn", "aiokafka", "influxdb_client", "typer")

_RUN = r"""
import json, sys
root = sys.argv[1]
sys.path.insert(0, root)
from mpcs.lambdas.alerts.handler import handler
with open(sys.argv[2]) as f:
    event = json.load(f)
first = handler(event, None)
second = handler(event, None)
files = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}
print(json.dumps({"first": first, "second": second, "files": files}))
"""


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zip") / "mpcs-alerts-lambda.zip"
    result = subprocess.run(
        [str(REPO_ROOT / ".venv/bin/mpcs"), "lambdas", "package", "--out", str(out)],
        env={**os.environ, "MPCS_UV": str(tools.uv())},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mpcs.lambdas.alerts.handler.handler" in result.stdout
    return out


def test_zip_is_small_and_holds_only_what_the_handler_needs(lambda_zip: Path) -> None:
    names = zipfile.ZipFile(lambda_zip).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert "mpcs" in tops
    assert not tops & {*FORBIDDEN, "grafana_foundation_sdk"}
    assert not [n for n in names if n.startswith(("mpcs/operator/", "mpcs/workloads/"))]
    services = {
        n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 3
    }
    assert services == {"dynamodb", "sns", "sts"}
    assert lambda_zip.stat().st_size < 50_000_000  # Lambda's limit for a direct upload


def test_unpacked_zip_runs_the_handler_in_a_bare_interpreter(
    lambda_zip: Path, tmp_path: Path, moto_endpoint: str, unique: str
) -> None:
    aws = Aws(moto_endpoint, unique)
    root = tmp_path / "task"
    root.mkdir()
    zipfile.ZipFile(lambda_zip).extractall(root)
    batch = [record(TOPIC, i, "sat-z", i + 1, **{SOC: v}) for i, v in enumerate([50.0, 10.0])]
    event_file = tmp_path / "event.json"
    event = build_kafka_event(
        batch,
        source="aws:kafka",
        event_source_arn="arn:aws:kafka:us-east-1:000000000000:cluster/ops/abc-1",
        bootstrap_servers="b-1:9092",
    )
    event_file.write_text(json.dumps(event))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "MPCS_ALERTS_TABLE": aws.table,
        "MPCS_ALERTS_TOPIC_ARN": aws.topic_arn,
        "MPCS_ALERTS_MISSIONS": json.dumps({"ops/wildfire": {"rules": RULES}}),
        "MPCS_AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    python = getattr(sys, "_base_executable", sys.executable)
    result = subprocess.run(
        [python, "-I", "-S", "-c", _RUN, str(root), str(event_file)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["first"] == {"batchItemFailures": []}
    assert out["second"] == {"batchItemFailures": []}
    bodies = [json.loads(m["Message"]) for m in aws.messages(1)]
    assert [(b["satellite"], b["transition"]) for b in bodies] == [("sat-z", "firing")]

    stdlib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    allowed = (str(root), stdlib["stdlib"], stdlib["platstdlib"])
    outside = {n: f for n, f in out["files"].items() if f and not f.startswith(allowed)}
    assert outside == {}
    assert not [n for n in out["files"] if n.split(".")[0] in FORBIDDEN]
