"""`MpcsStack`: all MPCS needs in one AWS account and region, and the outputs a user needs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from mpcs.operator.builders import command_api_endpoint

from .alerting import Alerting
from .checks import skip, skip_provider_functions
from .cluster import Cluster
from .config import DeploymentConfig, Mission
from .network import Network
from .storage import Storage
from .streaming import Streaming


class MpcsStack(Stack):
    """Network, storage, Kafka, the alerts Lambda and the EKS cluster running the MPCS chart."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        missions = config.missions()
        self.storage = Storage(self, "Storage", config=config)
        key = self.storage.key
        # CloudWatch Logs encrypts the flow, broker and function logs with the same key.
        key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com"))
        self.network = Network(self, "Network", key=key)
        subnets = self.network.private_subnets
        vpc = self.network.vpc
        self.streaming = Streaming(self, "Kafka", config=config, vpc=vpc, subnets=subnets, key=key)
        self.alerting = Alerting(
            self,
            "Alerts",
            config=config,
            missions=missions,
            streaming=self.streaming,
            vpc=vpc,
            subnets=subnets,
            table=self.storage.table,
            topic=self.storage.topic,
            key=key,
        )
        self.cluster = Cluster(
            self,
            "Cluster",
            config=config,
            missions=missions,
            vpc=vpc,
            subnets=subnets,
            key=key,
            streaming=self.streaming,
            table=self.storage.table,
            archive=self.storage.archive,
            log_bucket=self.storage.access_logs,
        )
        self._outputs(missions=missions)
        self._checkov_skips()

    def _checkov_skips(self) -> None:
        """The checkov findings that do not apply here, each with its reason (checks.py)."""
        skip(
            self.storage.access_logs,
            {
                "CKV_AWS_18": "The access-log bucket itself: logging it would need yet another "
                "bucket (or loop into itself)",
            },
        )
        skip(
            self.alerting.function,
            {
                "CKV_AWS_116": "Invoked synchronously by its MSK event source mappings, whose "
                "on-failure destination (the Failures queue) gets what keeps failing; an async "
                "DLQ would never receive anything",
            },
        )
        function = self.alerting.function.node.default_child
        assert function is not None
        ours = {function.node.path}
        timestream = self.cluster.timestream
        if timestream is not None:
            skip(
                timestream.token_function,
                {
                    "CKV_AWS_115": "Runs once per deploy, invoked by CloudFormation for the "
                    "token custom resource: no concurrency to cap, and reserving some would "
                    "take it from the account's unreserved pool",
                    "CKV_AWS_116": "Invoked synchronously by CloudFormation, which records a "
                    "failure and rolls back: a DLQ would never receive anything",
                },
            )
            token_function = timestream.token_function.node.default_child
            assert token_function is not None
            ours.add(token_function.node.path)
        self.provider_functions = skip_provider_functions(self, ours=ours)

    def _outputs(self, *, missions: list[Mission]) -> None:
        eks_cluster = self.cluster.cluster
        outputs = {
            "ClusterName": (eks_cluster.cluster_name, "EKS cluster running MPCS"),
            "KubeconfigCommand": (
                f"aws eks update-kubeconfig --region {Aws.REGION} "
                f"--name {eks_cluster.cluster_name}",
                "Run this, then `kubectl get mpcs -A` (your role needs an EKS access entry)",
            ),
            "ArchiveBucket": (self.storage.archive.bucket_name, "S3 telemetry archive"),
            "AccessLogBucket": (self.storage.access_logs.bucket_name, "S3 access logs"),
            "AlertsTable": (self.storage.table.table_name, "DynamoDB alert state"),
            "AlertsTopicArn": (self.storage.topic.topic_arn, "SNS topic: subscribe to alerts"),
            "AlertsFailureQueueUrl": (
                self.alerting.failures.queue_url,
                "SQS queue of alert batches that failed after retries",
            ),
            "KafkaBootstrapBrokers": (self.streaming.bootstrap_brokers, "MSK (SASL/IAM, TLS)"),
            "InfluxUrl": (
                self.cluster.influx_url(),
                "InfluxDB as the operator reaches it (Timestream's HTTPS endpoint, or the chart's "
                "in-cluster Service)",
            ),
            "InfluxTokenSecretArn": (
                self.cluster.influx_secret.secret_arn,
                f"Secrets Manager secret of MPCS's InfluxDB token (JSON key "
                f"'{self.cluster.influx_json_key}')",
            ),
            "AlertsMissions": (
                ", ".join(m.key for m in missions),
                "Missions whose telemetry the Lambda reads",
            ),
        }
        for index, mission in enumerate(missions):
            # In the cluster only (no load balancer is provisioned): from a laptop,
            # `kubectl -n <namespace> port-forward svc/<mission>-command-api 8000:80`.
            outputs[f"ApiUrl{index}"] = (
                command_api_endpoint(mission.namespace, mission.name),
                f"Command API of {mission.key} inside the cluster (OpenAPI at /docs)",
            )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
