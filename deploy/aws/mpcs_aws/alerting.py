"""The alerts Lambda: `mpcs lambdas package`'s zip, fed by MSK, writing DynamoDB, publishing SNS.

One Kafka event source mapping per mission reads that mission's telemetry topic in the consumer
group the in-cluster runner would use (`names.consumer_group(…, "alerts")`); records of a batch
that keeps failing after the retries go to an SQS queue (the mapping's on-failure destination).
The function's settings are its `MPCS_ALERTS_*` environment (mpcs.lambdas.settings), with each
mission's rules exactly as its Mission manifest holds them.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mpcs.lambdas.package import HANDLER
from mpcs.lambdas.settings import MissionAlerts

from .config import DeploymentConfig, Mission
from .streaming import Streaming

#: What the handler does to the table: reads a batch's items, writes transitions (conditional
#: puts), clears markers and moves watermarks (conditional updates), queries a satellite's items
#: (mpcs.lambdas.alerts.store).
TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
#: What a consumer needs of MSK's IAM authorizer to read a topic in a consumer group.
KAFKA_CONSUMER_ACTIONS = {
    "cluster": ("kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"),
    "topic": ("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"),
    "group": ("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"),
}


def missions_setting(missions: list[Mission]) -> str:
    """MPCS_ALERTS_MISSIONS: `{"<ns>/<mission>": {"rules": [...]}}` from the manifests."""
    return json.dumps(
        {
            m.key: MissionAlerts(rules=m.spec.alerts).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
            for m in missions
        },
        sort_keys=True,
    )


class Alerting(Construct):
    """The function, its log group, its failure queue and its MSK event source mappings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        missions: list[Mission],
        streaming: Streaming,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        table: dynamodb.ITable,
        topic: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        zip_path = config.alerts_zip_path()
        if not zip_path.is_file():
            raise FileNotFoundError(
                f"alertsZip={config.alerts_zip}: {zip_path} does not exist; build it with "
                f"`mpcs lambdas package --out {zip_path}` (or pass -c alertsZip=<path>)"
            )
        self.failures = sqs.Queue(
            self,
            "Failures",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "Egress",
            vpc=vpc,
            description="Alerts Lambda: HTTPS out (DynamoDB, SNS, STS through the NAT gateway)",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs over HTTPS"
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(zip_path)),
            memory_size=config.alerts_memory_mb,
            timeout=Duration.seconds(60),
            reserved_concurrent_executions=config.alerts_reserved_concurrency,
            environment={
                "MPCS_ALERTS_TABLE": table.table_name,
                "MPCS_ALERTS_TOPIC_ARN": topic.topic_arn,
                "MPCS_ALERTS_MISSIONS": missions_setting(missions),
                "MPCS_ALERTS_RETENTION_DAYS": str(config.alerts_retention_days),
            },
            environment_encryption=key,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        role = self.function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[table.table_arn])
        )
        topic.grant_publish(self.function)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_CONSUMER_ACTIONS["cluster"]),
                resources=[streaming.arn("cluster", "")],
            )
        )
        for mission in missions:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(KAFKA_CONSUMER_ACTIONS["topic"]),
                    resources=[streaming.arn("topic", mission.telemetry_topic)],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(KAFKA_CONSUMER_ACTIONS["group"]),
                    resources=[streaming.arn("group", mission.alerts_group)],
                )
            )
            self.function.add_event_source(
                sources.ManagedKafkaEventSource(
                    cluster_arn=streaming.cluster_arn,
                    topic=mission.telemetry_topic,
                    consumer_group_id=mission.alerts_group,
                    starting_position=lambda_.StartingPosition.LATEST,
                    batch_size=config.alerts_batch_size,
                    max_batching_window=Duration.seconds(config.alerts_batching_window_s),
                    retry_attempts=config.alerts_retry_attempts,
                    report_batch_item_failures=True,
                    on_failure=sources.SqsDlq(self.failures),
                )
            )
