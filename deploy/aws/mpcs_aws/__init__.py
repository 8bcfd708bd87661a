"""MPCS on AWS as a CDK app: one Stack (`MpcsStack`) built from one Construct per concern.

`app.py` beside this package is what `cdk synth`/`cdk deploy` run; `tests/deploy/` synthesizes the
same stack with `aws_cdk.assertions.Template`. deploy/aws/README.md documents the parameters.
"""

from .config import DeploymentConfig
from .stack import MpcsStack

__all__ = ["DeploymentConfig", "MpcsStack"]
