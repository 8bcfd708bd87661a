"""Kafka on MSK, provisioned brokers or MSK Serverless (`kafkaFlavour`), IAM auth over TLS only.

The operator creates the missions' topics as it does elsewhere (Kafka admin API); this construct
only provides the cluster, its bootstrap string (read once at deploy time with
`kafka:GetBootstrapBrokers`, which CloudFormation does not return) and the IAM resource ARNs that
the roles of the operator, the workloads and the Lambda are scoped to.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct

from .config import DeploymentConfig

#: MSK's broker port for SASL/IAM clients over TLS (the only listener enabled).
IAM_TLS_PORT = 9098
#: Apache Kafka version of provisioned MSK (the dev stack runs 3.9 too).
KAFKA_VERSION = "3.9.x"


class Streaming(Construct):
    """The MSK cluster, its security group, and its bootstrap string for IAM clients."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cluster_name = f"{config.name}-kafka"
        self.security_group = ec2.SecurityGroup(
            self,
            "Brokers",
            vpc=vpc,
            description="MSK brokers: SASL/IAM over TLS from inside the VPC only",
            # Lambda's MSK pollers use this group for their network interfaces: they reach the
            # brokers and, through the NAT gateway, STS and Lambda (AWS's MSK event source rules).
            allow_all_outbound=True,
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block),
            ec2.Port.tcp(IAM_TLS_PORT),
            "Kafka clients in the VPC (EKS pods, the Lambda's event source mapping)",
        )
        # Lambda's event source mapping reaches the brokers through the cluster's own group.
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(IAM_TLS_PORT), "event source mapping pollers"
        )
        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids
        if config.kafka_flavour == "serverless":
            serverless = msk.CfnServerlessCluster(
                self,
                "Cluster",
                cluster_name=self.cluster_name,
                client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                    sasl=msk.CfnServerlessCluster.SaslProperty(
                        iam=msk.CfnServerlessCluster.IamProperty(enabled=True)
                    )
                ),
                vpc_configs=[
                    msk.CfnServerlessCluster.VpcConfigProperty(
                        subnet_ids=subnet_ids,
                        security_groups=[self.security_group.security_group_id],
                    )
                ],
            )
            self.cluster_arn = serverless.attr_arn
        else:
            broker_logs = logs.LogGroup(
                self,
                "BrokerLogs",
                retention=logs.RetentionDays.ONE_YEAR,
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            provisioned = msk.CfnCluster(
                self,
                "Cluster",
                cluster_name=self.cluster_name,
                kafka_version=KAFKA_VERSION,
                number_of_broker_nodes=config.kafka_brokers,
                broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                    instance_type=config.kafka_broker_instance,
                    client_subnets=subnet_ids,
                    security_groups=[self.security_group.security_group_id],
                    storage_info=msk.CfnCluster.StorageInfoProperty(
                        ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(
                            volume_size=config.kafka_volume_gib
                        )
                    ),
                ),
                client_authentication=msk.CfnCluster.ClientAuthenticationProperty(
                    sasl=msk.CfnCluster.SaslProperty(iam=msk.CfnCluster.IamProperty(enabled=True)),
                    unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=False),
                ),
                encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                    encryption_at_rest=msk.CfnCluster.EncryptionAtRestProperty(
                        data_volume_kms_key_id=key.key_arn
                    ),
                    encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(
                        client_broker="TLS", in_cluster=True
                    ),
                ),
                logging_info=msk.CfnCluster.LoggingInfoProperty(
                    broker_logs=msk.CfnCluster.BrokerLogsProperty(
                        cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                            enabled=True, log_group=broker_logs.log_group_name
                        )
                    )
                ),
            )
            self.cluster_arn = provisioned.attr_arn
        brokers = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_update=cr.AwsSdkCall(
                service="Kafka",
                action="getBootstrapBrokers",
                parameters={"ClusterArn": self.cluster_arn},
                physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
                output_paths=["BootstrapBrokerStringSaslIam"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            install_latest_aws_sdk=False,
        )
        #: host:port,… of the SASL/IAM (TLS) listener.
        self.bootstrap_brokers = brokers.get_response_field("BootstrapBrokerStringSaslIam")

    def arn(self, kind: str, name: str) -> str:
        """ARN of a Kafka resource of this cluster for `kafka-cluster:*` IAM actions.

        `kind` is `cluster`, `topic`, `group` or `transactional-id`; `name` the resource's
        name (a trailing `*` for a prefix). The cluster's UUID is a wildcard: it is not known
        before the cluster exists, and the cluster name is unique in the account and region.
        """
        base = f"arn:{Aws.PARTITION}:kafka:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        if kind == "cluster":
            return f"{base}:cluster/{self.cluster_name}/*"
        return f"{base}:{kind}/{self.cluster_name}/*/{name}"
