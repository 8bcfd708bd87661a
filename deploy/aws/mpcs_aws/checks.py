"""checkov's findings that do not apply, skipped in the template with the reason beside them.

checkov reads `Metadata.checkov.skip` of a CloudFormation resource (`id` + `comment`), so each
skip travels with the resource it concerns and a reviewer of the template sees why. Every skip
here is named by check and by what it is attached to; tests/deploy runs checkov over the
synthesized template and fails on any finding not skipped here.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource, Stack
from constructs import IConstruct

#: Why the Lambda functions that CDK generates to run custom resources (the kubectl/Helm
#: provider, the MSK bootstrap-broker lookup, the default security group lock-down) skip the
#: checks written for application functions.
_PROVIDER_SKIPS = {
    "CKV_AWS_115": "CDK custom-resource handler, invoked only by CloudFormation during a "
    "deploy: no concurrency to cap",
    "CKV_AWS_116": "CDK custom-resource handler, invoked synchronously by CloudFormation, "
    "which reports the failure itself: a DLQ would never receive anything",
    "CKV_AWS_117": "CDK custom-resource handler that only calls AWS APIs during a deploy; it "
    "reaches no resource inside the VPC",
    "CKV_AWS_173": "CDK custom-resource handler whose environment holds no secret (resource "
    "names and ARNs only)",
}


def skip(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Skip `reasons` (check id → why) on the CloudFormation resource of `construct`."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to annotate")
    existing = resource.get_metadata("checkov") or {"skip": []}
    known = {entry["id"] for entry in existing["skip"]}
    existing["skip"] += [
        {"id": check, "comment": why}
        for check, why in sorted(reasons.items())
        if check not in known
    ]
    resource.add_metadata("checkov", existing)


def skip_provider_functions(stack: Stack, *, ours: set[str]) -> list[str]:
    """Annotate every Lambda function of `stack` except `ours` (node paths) as a CDK provider.

    Returns the paths annotated, so a test can check that only CDK's own handlers were.
    """
    annotated = []
    for node in stack.node.find_all():
        if not isinstance(node, CfnResource) or node.cfn_resource_type != "AWS::Lambda::Function":
            continue
        if node.node.path in ours:
            continue
        skip(node, _PROVIDER_SKIPS)
        annotated.append(node.node.path)
    return annotated
