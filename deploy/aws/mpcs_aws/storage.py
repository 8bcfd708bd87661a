"""What MPCS keeps in AWS: the alert-state table, the alerts topic, the archive bucket, their key.

One customer-managed KMS key (rotated yearly) encrypts every store here, the queue of failed
alert batches, the Lambda's environment and the MSK volumes: one key policy to review.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from mpcs.kit.alerts_table import DEFAULT_TABLE

from .config import DeploymentConfig
from .tables import alerts_table_definition

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _key_attributes(definition: dict[str, Any]) -> dict[str, dynamodb.Attribute]:
    """`partition_key`/`sort_key` of dynamodb.Table from create_table's KeySchema."""
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
    role = {"HASH": "partition_key", "RANGE": "sort_key"}
    return {
        role[k["KeyType"]]: dynamodb.Attribute(
            name=k["AttributeName"], type=_ATTRIBUTE_TYPES[types[k["AttributeName"]]]
        )
        for k in definition["KeySchema"]
    }


def _billing(definition: dict[str, Any]) -> dynamodb.BillingMode:
    if definition.get("BillingMode") == "PAY_PER_REQUEST":
        return dynamodb.BillingMode.PAY_PER_REQUEST
    return dynamodb.BillingMode.PROVISIONED


class Storage(Construct):
    """The KMS key, the alerts table and topic, and the archive bucket with its access log."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.name}: alerts table, topic, archive, queues, MSK, Lambda env",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        definition = alerts_table_definition(DEFAULT_TABLE)
        keys = _key_attributes(definition)
        self.table = dynamodb.Table(
            self,
            "AlertsTable",
            table_name=definition["TableName"],
            billing_mode=_billing(definition),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=config.alerts_ttl_attribute,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            partition_key=keys["partition_key"],
            sort_key=keys.get("sort_key"),
        )
        self.topic = sns.Topic(
            self,
            "AlertsTopic",
            display_name=f"{config.name} telemetry alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # Server access logs can only be delivered to SSE-S3 buckets, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.archive = s3.Bucket(
            self,
            "Archive",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="infrequent-access-then-expire",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(config.archive_ia_days),
                        )
                    ],
                    expiration=Duration.days(config.archive_expire_days),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
