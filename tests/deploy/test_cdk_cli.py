"""`cdk synth` by the pinned CLI, offline, and checkov over what it wrote.

checkov must find nothing: a check that does not apply is skipped on its resource with the reason
(deploy/aws/mpcs_aws/checks.py), and only CDK's own custom-resource handlers get the blanket
provider skips.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mpcs.dev import tools
from mpcs.lambdas.package import HANDLER

#: Where CDK puts the Lambda functions of its custom-resource providers in this stack: the default
#: security group lock-down, AwsCustomResource's singleton (the MSK bootstrap-broker lookup), and
#: the EKS kubectl/Helm provider.
CDK_PROVIDERS = (
    "Mpcs/Custom::VpcRestrictDefaultSGCustomResourceProvider/",
    "Mpcs/AWS679f53fac002430cb0da5b7982bd2287/",
    "Mpcs/Cluster/Eks/KubectlProvider/",
)
#: Our own custom-resource function (timestream flavour): MPCS's InfluxDB token, with its skips.
TOKEN_FUNCTION = "Mpcs/Cluster/Timestream/TokenFunction/"
TOKEN_FUNCTION_SKIPS = {"CKV_AWS_115", "CKV_AWS_116"}


def stack_template(cdk_out: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((cdk_out / "Mpcs.template.json").read_text())
    return template


def test_cdk_synth_writes_the_stack_and_its_assets(cdk_out: Path) -> None:
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    assert manifest["artifacts"]["Mpcs"]["type"] == "aws:cloudformation:stack"
    template = stack_template(cdk_out)
    assert {"KubeconfigCommand", "ArchiveBucket", "AlertsTable"} <= set(template["Outputs"])
    assets = json.loads((cdk_out / "Mpcs.assets.json").read_text())["files"]
    packaging = {entry["source"].get("packaging") for entry in assets.values()}
    assert {"file", "zip"} <= packaging  # the Lambda's zip as is, charts/mpcs zipped
    handlers = [
        r for r in template["Resources"].values() if r["Properties"].get("Handler") == HANDLER
    ]
    assert len(handlers) == 1


def test_cdk_synth_takes_the_timestream_flavour_from_the_context(
    cdk_out_timestream: Path,
) -> None:
    resources = stack_template(cdk_out_timestream)["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    assert kinds.count("AWS::Timestream::InfluxDBInstance") == 1
    assert kinds.count("Custom::MpcsInfluxToken") == 1
    releases = [
        r["Properties"]["Release"]
        for r in resources.values()
        if r["Type"] == "Custom::AWSCDK-EKS-HelmChart"
    ]
    assert releases == ["mpcs"]  # no influxdb2 chart
    # The token function ships index.py alone (no bytecode the tests left beside it).
    (function,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Metadata"]["aws:cdk:path"].startswith(TOKEN_FUNCTION)
    ]
    asset = function["Metadata"]["aws:asset:path"]
    assert sorted(p.name for p in (cdk_out_timestream / asset).iterdir()) == ["index.py"]


@pytest.mark.parametrize("assembly", ["cdk_out", "cdk_out_timestream"])
def test_checkov_finds_nothing_unjustified(assembly: str, request: pytest.FixtureRequest) -> None:
    cdk_out: Path = request.getfixturevalue(assembly)
    checkov = tools.binary("checkov")
    started = time.monotonic()
    result = subprocess.run(
        [
            str(checkov),
            "--file",
            str(cdk_out / "Mpcs.template.json"),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    print(f"checkov: {time.monotonic() - started:.1f} s, {summary}")
    failed = [
        (c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary["passed"] > 100
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the template's checkov skips were not read"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 30, check
    # The blanket skips for custom-resource handlers land on CDK's handlers only.
    resources = stack_template(cdk_out)["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        ids = {s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        path = resource["Metadata"]["aws:cdk:path"]
        if resource["Properties"].get("Handler") == HANDLER:
            assert ids == {"CKV_AWS_116"}, logical_id
        elif path.startswith(TOKEN_FUNCTION):
            assert ids == TOKEN_FUNCTION_SKIPS, logical_id
        else:
            assert path.startswith(CDK_PROVIDERS), path
