"""The CDK app `cdk synth` / `cdk deploy` run (cdk.json): one MpcsStack from the context.

Parameters are context values (`cdk deploy -c kafkaFlavour=serverless`); README.md lists them.
The account and region come from the CLI's environment (`CDK_DEFAULT_ACCOUNT`/`_REGION`, set from
your AWS profile), so the template names no account.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aws_cdk as cdk
from mpcs_aws import DeploymentConfig, MpcsStack


def main() -> None:
    app = cdk.App()
    context = {
        key: app.node.try_get_context(key)
        for key in DeploymentConfig.context_keys()
        if app.node.try_get_context(key) is not None
    }
    config = DeploymentConfig.from_context(context)
    MpcsStack(
        app,
        app.node.try_get_context("stackName") or "Mpcs",
        config=config,
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
        description="MPCS: Mission Planning & Control System on EKS, MSK, Lambda, DynamoDB, S3",
    )
    app.synth()


if __name__ == "__main__":
    main()
