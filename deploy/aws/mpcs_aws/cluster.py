"""EKS with a managed node group, InfluxDB, and the MPCS chart with its AWS settings.

Nodes get no AWS permissions beyond what a node needs (pulling images, joining the cluster): the
operator and the workloads get theirs through EKS Pod Identity, one IAM role per ServiceAccount:

- the operator's ServiceAccount (the chart's, created here so its role exists first): the MSK
  topics it creates (`mpcs.*`);
- `<mission>-workloads` in each mission's namespace (ingest, command API): the missions' topics,
  and the alerts table (the API lists and acknowledges alerts);
- `default` in each mission's namespace (simulators and the archive runner, which the operator
  runs without a ServiceAccount of their own): the topics, and the archive bucket;
- the EBS CSI driver's controller (`kube-system`): AWS's policy for it, to create volumes.

InfluxDB 2 (`influxFlavour`) runs either as a StatefulSet from the influxdata/influxdb2 chart, its
admin token generated in Secrets Manager, or as Amazon Timestream for InfluxDB (timestream.py),
its token created once the instance is available and written to Secrets Manager. Either way the
token reaches the cluster as the Kubernetes Secret `influxdb-auth` that the operator reads.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.lambda_layer_kubectl_v34 import KubectlV34Layer
from constructs import Construct

from mpcs.core import names

from .config import REPO_ROOT, DeploymentConfig, Mission
from .streaming import Streaming
from .timestream import TOKEN_KEY, TimestreamInflux

CHART_DIR = REPO_ROOT / "charts" / "mpcs"
RELEASE = "mpcs"
OPERATOR_SERVICE_ACCOUNT = "mpcs-operator"
INFLUX_RELEASE = "influxdb"
#: The Kubernetes Secret (release namespace) holding InfluxDB's admin password and token.
INFLUX_SECRET = "influxdb-auth"
INFLUX_TOKEN_KEY = "admin-token"
INFLUX_PASSWORD_KEY = "admin-password"
INFLUX_CHART_REPOSITORY = "https://helm.influxdata.com/"
#: The gp3 StorageClass this stack adds (EKS's own gp2 class is no longer the default one).
STORAGE_CLASS = "gp3"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
#: The operator creates, describes, alters (partitions: AlterTopic; retention and other configs:
#: AlterTopicDynamicConfiguration) and (deletionPolicy Delete) deletes mission topics.
KAFKA_ADMIN_ACTIONS = (
    "kafka-cluster:AlterTopic",
    "kafka-cluster:AlterTopicDynamicConfiguration",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:DeleteTopic",
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
)
#: Producers and consumers of mission topics (simulators, ingest, command API, executor).
KAFKA_CLIENT_ACTIONS = (
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:ReadData",
    "kafka-cluster:WriteData",
)
KAFKA_GROUP_ACTIONS = ("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup")
KAFKA_CONNECT_ACTIONS = ("kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently")
#: The command API's transactional producer (mpcs.workloads.api.kafka.KafkaBus), whose ids are
#: `mpcs-api-<mission>-commands-<random>`.
KAFKA_TRANSACTION_ACTIONS = (
    "kafka-cluster:AlterTransactionalId",
    "kafka-cluster:DescribeTransactionalId",
)
#: The command API's use of the alerts table (mpcs.kit.alerts_table: list, acknowledge).
API_TABLE_ACTIONS = ("dynamodb:Query", "dynamodb:UpdateItem")
#: The archive runner's use of its bucket (mpcs.lambdas.archive.store).
ARCHIVE_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
ARCHIVE_BUCKET_ACTIONS = ("s3:ListBucket",)


class Cluster(Construct):
    """The EKS cluster, its node group, Pod Identity roles, InfluxDB and the MPCS release."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        missions: list[Mission],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        key: kms.IKey,
        streaming: Streaming,
        table: dynamodb.ITable,
        archive: s3.IBucket,
        log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.streaming = streaming
        self.cluster = eks.Cluster(
            self,
            "Eks",
            cluster_name=config.name,
            version=eks.KubernetesVersion.of(config.kubernetes_version),
            vpc=vpc,
            vpc_subnets=[subnets],
            default_capacity=0,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            secrets_encryption_key=key,
            cluster_logging=[
                eks.ClusterLoggingTypes.API,
                eks.ClusterLoggingTypes.AUDIT,
                eks.ClusterLoggingTypes.AUTHENTICATOR,
                eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
                eks.ClusterLoggingTypes.SCHEDULER,
            ],
            kubectl_provider_options=eks.KubectlProviderOptions(
                kubectl_layer=KubectlV34Layer(self, "KubectlLayer"),
                private_subnets=vpc.select_subnets(subnet_type=subnets.subnet_type).subnets,
            ),
            # The stack outputs its own KubeconfigCommand.
            output_config_command=False,
        )
        streaming.security_group.add_ingress_rule(
            self.cluster.cluster_security_group,
            ec2.Port.tcp(9098),
            "EKS pods (the operator and the workloads)",
        )
        self.nodes = self.cluster.add_nodegroup_capacity(
            "Nodes",
            instance_types=[ec2.InstanceType(config.node_instance_type)],
            min_size=config.node_count,
            desired_size=config.node_count,
            max_size=config.node_max,
            disk_size=40,
            subnets=subnets,
        )
        namespace = self.cluster.add_manifest(
            "Namespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": config.release_namespace},
            },
        )
        self.operator_account = self._operator_account(namespace)
        # Added by the first Pod Identity ServiceAccount (the operator's): the agent on each node.
        self.pod_identity_agent = self.cluster.eks_pod_identity_agent
        self.mission_roles = self._mission_roles(missions, table, archive)
        self.ebs_csi = self._ebs_csi_driver()
        storage_class = self.cluster.add_manifest("StorageClass", self.storage_class_manifest())
        storage_class.node.add_dependency(self.ebs_csi)
        #: The Timestream instance (`timestream` flavour), else None.
        self.timestream: TimestreamInflux | None = None
        #: What the MPCS release waits for before it starts: InfluxDB and its token's Secret.
        influx_ready: list[Construct] = []
        if config.influx_flavour == "timestream":
            self.timestream = TimestreamInflux(
                self,
                "Timestream",
                config=config,
                vpc=vpc,
                subnets=subnets,
                key=key,
                clients=self.cluster.cluster_security_group,
                log_bucket=log_bucket,
            )
            #: The Secrets Manager secret holding the token MPCS uses, and its JSON key.
            self.influx_secret = self.timestream.token_secret
            self.influx_json_key = TOKEN_KEY
            influx_auth = self.cluster.add_manifest(
                "InfluxAuthSecret", self._influx_secret_manifest()
            )
            # The token exists in the secret once the custom resource has run.
            influx_auth.node.add_dependency(self.timestream.token)
            influx_ready.append(influx_auth)
        else:
            self.influx_secret = secretsmanager.Secret(
                self,
                "InfluxAuth",
                description=f"{config.name}: InfluxDB admin password and token",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template="{}",
                    generate_string_key=INFLUX_TOKEN_KEY,
                    exclude_punctuation=True,
                    password_length=48,
                ),
            )
            self.influx_json_key = INFLUX_TOKEN_KEY
            influx_auth = self.cluster.add_manifest(
                "InfluxAuthSecret", self._influx_secret_manifest()
            )
            influx_auth.node.add_dependency(storage_class)
            self.influx = self.cluster.add_helm_chart(
                "InfluxDb",
                chart="influxdb2",
                repository=INFLUX_CHART_REPOSITORY,
                version=config.influx_chart_version,
                release=INFLUX_RELEASE,
                namespace=config.release_namespace,
                values=self.influx_values(),
            )
            self.influx.node.add_dependency(influx_auth, self.ebs_csi, self.nodes)
            influx_ready.append(self.influx)
        influx_auth.node.add_dependency(namespace)
        self.mpcs_values = self.chart_values(table=table, archive=archive)
        self.release = eks.HelmChart(
            self,
            "Mpcs",
            cluster=self.cluster,
            chart_asset=assets.Asset(self, "ChartAsset", path=str(CHART_DIR)),
            release=RELEASE,
            namespace=config.release_namespace,
            values=self.mpcs_values,
            wait=True,
        )
        self.release.node.add_dependency(self.operator_account, *influx_ready, self.nodes)

    def _operator_account(self, namespace: Construct) -> eks.ServiceAccount:
        account = self.cluster.add_service_account(
            "OperatorAccount",
            name=OPERATOR_SERVICE_ACCOUNT,
            namespace=self.config.release_namespace,
            identity_type=eks.IdentityType.POD_IDENTITY,
        )
        account.node.add_dependency(namespace)
        streaming = self.streaming
        account.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_CONNECT_ACTIONS[:1]), resources=[streaming.arn("cluster", "")]
            )
        )
        account.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_ADMIN_ACTIONS),
                # Every mission's topics, whatever its namespace and name (names.topic).
                resources=[
                    streaming.arn("topic", names.topic("*", "*", kind)) for kind in names.Topic
                ],
            )
        )
        return account

    def _ebs_csi_driver(self) -> eks.Addon:
        """The EBS CSI driver add-on, which provisions InfluxDB's volume (EKS installs no volume
        provisioner), with its controller's permissions through Pod Identity."""
        role = self._pod_identity_role("EbsCsiRole", "kube-system", EBS_CSI_SERVICE_ACCOUNT)
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEBSCSIDriverPolicy")
        )
        addon = eks.Addon(self, "EbsCsi", addon_name="aws-ebs-csi-driver", cluster=self.cluster)
        addon.node.add_dependency(role)
        return addon

    def _pod_identity_role(self, construct_id: str, namespace: str, account: str) -> iam.Role:
        """An IAM role only EKS Pod Identity can assume, bound to `namespace`/`account`."""
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("pods.eks.amazonaws.com"),
            description=f"MPCS pods of ServiceAccount {namespace}/{account}",
        )
        assert role.assume_role_policy is not None
        role.assume_role_policy.add_statements(
            iam.PolicyStatement(
                actions=["sts:TagSession"],
                principals=[iam.ServicePrincipal("pods.eks.amazonaws.com")],
            )
        )
        association = eks.CfnPodIdentityAssociation(
            self,
            f"{construct_id}Association",
            cluster_name=self.cluster.cluster_name,
            namespace=namespace,
            service_account=account,
            role_arn=role.role_arn,
        )
        association.node.add_dependency(self.pod_identity_agent)
        return role

    def _kafka_client_policy(self, role: iam.Role, namespace: str, mission: str) -> None:
        streaming = self.streaming
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_CONNECT_ACTIONS), resources=[streaming.arn("cluster", "")]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_CLIENT_ACTIONS),
                resources=[
                    streaming.arn("topic", names.topic(namespace, mission, kind))
                    for kind in names.Topic
                ],
            )
        )
        prefix = names.consumer_group(namespace, mission, "")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_GROUP_ACTIONS), resources=[streaming.arn("group", f"{prefix}*")]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(KAFKA_TRANSACTION_ACTIONS),
                resources=[streaming.arn("transactional-id", f"mpcs-api-{mission}-commands-*")],
            )
        )

    def _mission_roles(
        self, missions: list[Mission], table: dynamodb.ITable, archive: s3.IBucket
    ) -> dict[str, iam.Role]:
        """Roles of each mission's `<mission>-workloads` and `default` ServiceAccounts."""
        roles: dict[str, iam.Role] = {}
        for index, mission in enumerate(missions):
            workloads = names.child_name(mission.name, "workloads")
            api = self._pod_identity_role(f"Workloads{index}", mission.namespace, workloads)
            self._kafka_client_policy(api, mission.namespace, mission.name)
            api.add_to_principal_policy(
                iam.PolicyStatement(actions=list(API_TABLE_ACTIONS), resources=[table.table_arn])
            )
            roles[f"{mission.namespace}/{workloads}"] = api
            runner = self._pod_identity_role(f"Default{index}", mission.namespace, "default")
            self._kafka_client_policy(runner, mission.namespace, mission.name)
            runner.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(ARCHIVE_OBJECT_ACTIONS), resources=[archive.arn_for_objects("*")]
                )
            )
            runner.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(ARCHIVE_BUCKET_ACTIONS), resources=[archive.bucket_arn]
                )
            )
            if archive.encryption_key is not None:
                archive.encryption_key.grant_encrypt_decrypt(runner)
            roles[f"{mission.namespace}/default"] = runner
        return roles

    def _influx_secret_manifest(self) -> dict[str, Any]:
        """The Kubernetes Secret of InfluxDB's admin token, filled from Secrets Manager by a
        CloudFormation dynamic reference when the stack deploys (never in the template)."""
        token = self.influx_secret.secret_value_from_json(self.influx_json_key).unsafe_unwrap()
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": INFLUX_SECRET, "namespace": self.config.release_namespace},
            "type": "Opaque",
            # Chart flavour: the admin's password is the same generated string (the UI login is
            # not used). Timestream's admin password is its own secret, not the cluster's.
            "stringData": (
                {INFLUX_TOKEN_KEY: token}
                if self.timestream is not None
                else {INFLUX_TOKEN_KEY: token, INFLUX_PASSWORD_KEY: token}
            ),
        }

    @staticmethod
    def storage_class_manifest() -> dict[str, Any]:
        """An encrypted gp3 StorageClass for InfluxDB's volume, provisioned by the EBS CSI
        driver, bound where the pod lands."""
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3", "encrypted": "true"},
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
            "allowVolumeExpansion": True,
        }

    def influx_values(self) -> dict[str, Any]:
        """Values of the influxdb2 chart: the org, the token Secret, a persistent volume."""
        return {
            "fullnameOverride": INFLUX_RELEASE,
            "adminUser": {
                "organization": self.config.influx_org,
                "bucket": "mpcs",
                "user": "admin",
                "retention_policy": "0s",
                "existingSecret": INFLUX_SECRET,
            },
            "persistence": {
                "enabled": True,
                "storageClass": STORAGE_CLASS,
                "size": f"{self.config.influx_volume_gib}Gi",
            },
        }

    def influx_url(self) -> str:
        """InfluxDB's URL: the Timestream instance's HTTPS endpoint, or the chart's in-cluster
        Service (port 80)."""
        if self.timestream is not None:
            return self.timestream.url
        return f"http://{INFLUX_RELEASE}.{self.config.release_namespace}.svc.cluster.local:80"

    def chart_values(self, *, table: dynamodb.ITable, archive: s3.IBucket) -> dict[str, Any]:
        """Values of charts/mpcs for AWS: MSK, InfluxDB, the alerts table and the archive.

        `alertsTopicArn` stays unset: the Lambda evaluates the alerts, and an in-cluster runner
        too would read the same telemetry in the same consumer group.
        """
        config = self.config
        values: dict[str, Any] = {
            "serviceAccount": {"create": False, "name": OPERATOR_SERVICE_ACCOUNT},
            "operator": {
                "settings": {
                    "kafkaBootstrap": self.streaming.bootstrap_brokers,
                    # MSK's IAM listener: TLS (Amazon's CAs, in the system store) and SASL
                    # OAUTHBEARER tokens signed with each pod's Pod Identity role.
                    "kafkaSecurityProtocol": "SASL_SSL",
                    "kafkaSaslMechanism": "OAUTHBEARER",
                    "kafkaSaslTokenProvider": "aws-msk-iam",
                    "kafkaAwsRegion": Aws.REGION,
                    "influxUrl": self.influx_url(),
                    "influxOrg": config.influx_org,
                    "influxToken": {"name": INFLUX_SECRET, "key": INFLUX_TOKEN_KEY},
                    "awsRegion": Aws.REGION,
                    "alertsTable": table.table_name,
                    "archiveBucket": archive.bucket_name,
                }
            },
        }
        image: dict[str, str] = {}
        if config.image_repository:
            image["repository"] = config.image_repository
        if config.image_tag:
            image["tag"] = config.image_tag
        if image:
            values["image"] = image
        return values
