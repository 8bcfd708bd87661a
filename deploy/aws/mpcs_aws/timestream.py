"""Amazon Timestream for InfluxDB (`influxFlavour=timestream`): the instance and MPCS's token.

The instance (CloudFormation's `AWS::Timestream::InfluxDBInstance`) runs in the private subnets,
without a public address, behind a security group that admits port 8086 from the EKS cluster's
security group (the operator's and the workloads' pods) and from the token function below, and
nothing else. Its admin password is generated in Secrets Manager and given to CloudFormation by a
dynamic reference; Timestream also keeps username, password, organisation and bucket in a secret
of its own (`InfluxAuthParametersSecretArn`). Storage is always encrypted at rest by the service.

Neither CloudFormation nor Timestream creates a token, and MPCS authenticates with one. So a
custom resource runs `influx_token/index.py` once the instance is available: it signs in as the
admin, creates an all-access token in the organisation and writes it to the token secret, which
the stack hands to the cluster as a Kubernetes Secret (cluster.py), as the chart flavour does.

Engine logs go hourly to the access-log bucket under `InfluxLogs/`: a managed instance has no
shell, so they are the only record of its errors and slow queries, and that bucket (SSE-S3) is
already the stack's place for logs.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_timestream as timestream
from constructs import Construct

from .config import DeploymentConfig

#: InfluxDB's HTTP port on a Timestream instance (HTTPS).
INFLUX_PORT = 8086
#: The admin user the instance is created with (its password is generated).
ADMIN_USER = "mpcs-admin"
#: The initial bucket Timestream requires; MPCS creates one bucket per mission itself.
INITIAL_BUCKET = "mpcs"
#: Where Timestream delivers the engine's logs in the bucket (its documented prefix).
LOG_PREFIX = "InfluxLogs/"
TOKEN_FUNCTION_DIR = Path(__file__).resolve().parent / "influx_token"
#: Key of the token in the token secret's JSON (influx_token/index.py writes it).
TOKEN_KEY = "token"


class TimestreamInflux(Construct):
    """The Timestream for InfluxDB instance, its security group, credentials and MPCS token."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        clients: ec2.ISecurityGroup,
        log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "Instance",
            vpc=vpc,
            description="Timestream for InfluxDB: 8086 from the EKS cluster and the token function",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            clients, ec2.Port.tcp(INFLUX_PORT), "EKS pods (the operator and the workloads)"
        )
        self.admin_secret = secretsmanager.Secret(
            self,
            "Admin",
            description=f"{config.name}: Timestream for InfluxDB admin user and password",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=f'{{"username": "{ADMIN_USER}"}}',
                generate_string_key="password",
                # Timestream accepts letters and digits only (8 to 64 of them).
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        self.token_secret = secretsmanager.Secret(
            self,
            "Token",
            description=f"{config.name}: InfluxDB all-access token of MPCS (written after the "
            "instance is available)",
            encryption_key=key,
        )
        log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.ServicePrincipal("timestream-influxdb.amazonaws.com")],
                resources=[log_bucket.arn_for_objects(f"{LOG_PREFIX}*")],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:timestream-influxdb:"
                        f"{Aws.REGION}:{Aws.ACCOUNT_ID}:db-instance/*"
                    },
                },
            )
        )
        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids
        multi_az = config.influx_deployment == "WITH_MULTIAZ_STANDBY"
        self.instance = timestream.CfnInfluxDBInstance(
            self,
            "Db",
            name=f"{config.name}-influx",
            db_instance_type=config.influx_instance_type,
            db_storage_type=config.influx_storage_type,
            allocated_storage=config.influx_storage_gib,
            deployment_type=config.influx_deployment,
            db_parameter_group_identifier=config.influx_parameter_group or None,
            publicly_accessible=False,
            network_type="IPV4",
            port=INFLUX_PORT,
            # A standby needs a second AZ's subnet; a single-AZ instance takes the first one.
            vpc_subnet_ids=subnet_ids if multi_az else subnet_ids[:1],
            vpc_security_group_ids=[self.security_group.security_group_id],
            organization=config.influx_org,
            bucket=INITIAL_BUCKET,
            username=ADMIN_USER,
            password=self.admin_secret.secret_value_from_json("password").unsafe_unwrap(),
            log_delivery_configuration=timestream.CfnInfluxDBInstance.LogDeliveryConfigurationProperty(
                s3_configuration=timestream.CfnInfluxDBInstance.S3ConfigurationProperty(
                    bucket_name=log_bucket.bucket_name, enabled=True
                )
            ),
        )
        # It holds the missions' telemetry: `cdk destroy` keeps it, as it keeps the buckets.
        self.instance.apply_removal_policy(RemovalPolicy.RETAIN)
        # The bucket policy must let the service write before the instance validates delivery.
        if log_bucket.policy is not None:
            self.instance.node.add_dependency(log_bucket.policy)
        #: `https://<endpoint>:8086`, what the operator and the workloads connect to.
        self.url = f"https://{self.instance.attr_endpoint}:{INFLUX_PORT}"
        self.token_function = self._token_function(config=config, vpc=vpc, subnets=subnets, key=key)
        self.token = CustomResource(
            self,
            "MpcsToken",
            service_token=self.token_function.function_arn,
            resource_type="Custom::MpcsInfluxToken",
            properties={
                "Endpoint": self.instance.attr_endpoint,
                "DbIdentifier": self.instance.attr_id,
                "Org": config.influx_org,
                "AdminSecretArn": self.admin_secret.secret_arn,
                "TokenSecretArn": self.token_secret.secret_arn,
            },
        )
        self.token.node.add_dependency(self.token_function)

    def _token_function(
        self,
        *,
        config: DeploymentConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
    ) -> lambda_.Function:
        """The function that creates MPCS's token: in the private subnets, reaching the
        instance on 8086 and Secrets Manager over HTTPS (through the NAT gateway)."""
        group = ec2.SecurityGroup(
            self,
            "TokenFunctionGroup",
            vpc=vpc,
            description="InfluxDB token function: 8086 to the instance, HTTPS to Secrets Manager",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "Secrets Manager over HTTPS")
        group.connections.allow_to(
            self.security_group, ec2.Port.tcp(INFLUX_PORT), "InfluxDB HTTP API (sign-in, tokens)"
        )
        function = lambda_.Function(
            self,
            "TokenFunction",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="index.handler",
            # index.py alone: the tests import it, which leaves bytecode beside it.
            code=lambda_.Code.from_asset(str(TOKEN_FUNCTION_DIR), exclude=["__pycache__", "*.pyc"]),
            description=f"{config.name}: creates MPCS's InfluxDB token on the Timestream instance",
            timeout=Duration.minutes(5),
            memory_size=128,
            environment_encryption=key,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[group],
            log_group=logs.LogGroup(
                self,
                "TokenFunctionLogs",
                retention=logs.RetentionDays.ONE_YEAR,
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            ),
            tracing=lambda_.Tracing.ACTIVE,
        )
        self.admin_secret.grant_read(function)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:PutSecretValue"],
                resources=[self.token_secret.secret_arn],
            )
        )
        # PutSecretValue under a customer-managed key needs kms:GenerateDataKey and kms:Decrypt.
        key.grant_encrypt_decrypt(function)
        return function
