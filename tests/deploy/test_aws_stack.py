"""The AWS stack's properties that matter, asserted on its synthesized template (one App a test).

Storage encryption and public access, the alerts Lambda and its MSK event source mappings, IAM
least privilege and the Pod Identity bindings, the Helm releases and the values the MPCS chart
gets, and the MSK Serverless flavour.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from mpcs.core import names
from mpcs.kit.alerts_table import DEFAULT_TABLE, ensure_table
from mpcs.lambdas.package import HANDLER
from mpcs.lambdas.settings import load as load_alerts_settings

MISSION = ("default", "wildfire")  # examples/10-mission.yaml, the default manifest
TELEMETRY = names.topic(*MISSION, names.Topic.TELEMETRY)


def only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    """The one resource of `kind`: (logical id, its properties)."""
    found = template.find_resources(kind)
    assert len(found) == 1, f"{len(found)} resources of {kind}: {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource.get("Properties", {})


def render(value: Any) -> str:
    """A CloudFormation string expression as text: tokens become `<Ref X>`, `<GetAtt X.Y>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<Ref {value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<GetAtt {'.'.join(value['Fn::GetAtt'])}>"
    return f"<{json.dumps(value, sort_keys=True)}>"


def policy_statements(template: Template) -> list[dict[str, Any]]:
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in template.find_resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements += inline["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_storage_is_encrypted_private_and_kept(synth_stack: Any) -> None:
    template = synth_stack()
    key_id, key = only(template, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    key_ref = {"Fn::GetAtt": [key_id, "Arn"]}

    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2  # the archive and its access log
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    archive = next(
        b["Properties"] for b in buckets.values() if "LoggingConfiguration" in b["Properties"]
    )
    (encryption,) = archive["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_ref,
    }
    (rule,) = archive["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert rule["ExpirationInDays"] == 365
    # Every bucket refuses plain HTTP.
    for policy in template.find_resources("AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s["Action"] == "s3:*"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), statements

    # The table's keys and billing are the kit's own definition (ensure_table's create_table).
    recorded: dict[str, Any] = {}

    class Recorder:
        def create_table(self, **kwargs: Any) -> None:
            recorded.update(kwargs)

        def describe_time_to_live(self, **_kwargs: Any) -> dict[str, Any]:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

        def update_time_to_live(self, **_kwargs: Any) -> None:
            return None

        def get_waiter(self, _name: str) -> Any:
            return self

        def wait(self, **_kwargs: Any) -> None:
            return None

    ensure_table(Recorder(), DEFAULT_TABLE)
    _, table = only(template, "AWS::DynamoDB::Table")
    assert table["TableName"] == recorded["TableName"] == DEFAULT_TABLE
    assert table["KeySchema"] == recorded["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        recorded["AttributeDefinitions"], key=str
    )
    assert table["BillingMode"] == recorded["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {
        "KMSMasterKeyId": key_ref,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }

    _, topic = only(template, "AWS::SNS::Topic")
    assert topic["KmsMasterKeyId"] == key_ref

    _, kafka = only(template, "AWS::MSK::Cluster")
    assert kafka["ClientAuthentication"] == {
        "Sasl": {"Iam": {"Enabled": True}},
        "Unauthenticated": {"Enabled": False},
    }
    assert kafka["EncryptionInfo"] == {
        "EncryptionAtRest": {"DataVolumeKMSKeyId": key_ref},
        "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True},
    }


def test_alerts_lambda_reads_the_missions_telemetry(
    synth_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = synth_stack(
        alerts_batch_size=250, alerts_reserved_concurrency=3, alerts_retention_days=30
    )
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    )
    assert len(functions) == 1
    ((function_id, function),) = functions.items()
    props = function["Properties"]
    assert props["Runtime"] == "python3.11"
    assert props["ReservedConcurrentExecutions"] == 3
    assert "KmsKeyArn" in props
    assert props["VpcConfig"]["SubnetIds"]
    # In the private subnets, with HTTPS out only (DynamoDB, SNS, STS).
    ((group_id, _),) = [g["Fn::GetAtt"] for g in props["VpcConfig"]["SecurityGroupIds"]]
    group = template.to_json()["Resources"][group_id]["Properties"]
    assert [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIp"])
        for rule in group["SecurityGroupEgress"]
    ] == [("tcp", 443, 443, "0.0.0.0/0")]
    env = props["Environment"]["Variables"]
    assert {"MPCS_ALERTS_TABLE", "MPCS_ALERTS_TOPIC_ARN", "MPCS_ALERTS_MISSIONS"} <= set(env)
    assert env["MPCS_ALERTS_RETENTION_DAYS"] == "30"
    # The missions setting is what the handler's own settings accept, rules and all.
    monkeypatch.setenv("MPCS_ALERTS_MISSIONS", env["MPCS_ALERTS_MISSIONS"])
    monkeypatch.setenv("MPCS_ALERTS_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:alerts")
    settings = load_alerts_settings()
    rules = settings.alerts_missions["/".join(MISSION)].rules
    assert [r.name for r in rules] == [
        "battery-low",
        "battery-hot",
        "fault-protection",
        "storage-nearly-full",
    ]

    _, mapping = only(template, "AWS::Lambda::EventSourceMapping")
    kafka_id, _ = only(template, "AWS::MSK::Cluster")
    queue_id, _ = only(template, "AWS::SQS::Queue")
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["Topics"] == [TELEMETRY]
    assert mapping["BatchSize"] == 250
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["AmazonManagedKafkaEventSourceConfig"] == {
        "ConsumerGroupId": names.consumer_group(*MISSION, "alerts")
    }
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [kafka_id, "Arn"]}
    _, queue = only(template, "AWS::SQS::Queue")
    assert "KmsMasterKeyId" in queue


def test_iam_is_least_privilege_and_bound_to_service_accounts(synth_stack: Any) -> None:
    template = synth_stack()
    statements = policy_statements(template)
    assert statements
    for statement in statements:
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        assert not ("*" in actions and "*" in resources), statement
        assert not any(a.endswith(":*") for a in actions if a != "s3:*"), statement
        if "*" in resources and statement["Effect"] == "Allow":
            # Only X-Ray's trace upload (the Lambda's tracing) cannot be scoped to a resource.
            assert all(a.startswith("xray:") for a in actions), statement
    # AWS managed policies: only the service-role ones of EKS, Lambda and the EBS CSI driver.
    managed_policies = {
        render(arn).split(":policy/", 1)[1].split('"', 1)[0]
        for role in template.find_resources("AWS::IAM::Role").values()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    }
    assert managed_policies <= {
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonElasticContainerRegistryPublicReadOnly",
        "service-role/AWSLambdaBasicExecutionRole",
        "service-role/AWSLambdaMSKExecutionRole",
        "service-role/AWSLambdaVPCAccessExecutionRole",
        "service-role/AmazonEBSCSIDriverPolicy",
    }, managed_policies

    # The nodes' role carries only what a node needs: no inline policy, AWS's node policies.
    _, nodegroup = only(template, "AWS::EKS::Nodegroup")
    node_role_id = nodegroup["NodeRole"]["Fn::GetAtt"][0]
    node_role = template.to_json()["Resources"][node_role_id]["Properties"]
    assert "Policies" not in node_role
    managed = sorted(render(arn).rsplit("/", 1)[1] for arn in node_role["ManagedPolicyArns"])
    assert managed == [
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
    ]
    for policy in template.find_resources("AWS::IAM::Policy").values():
        assert {"Ref": node_role_id} not in policy["Properties"].get("Roles", [])

    # Pod Identity: one role per ServiceAccount, assumable only by EKS Pod Identity.
    associations = template.find_resources("AWS::EKS::PodIdentityAssociation")
    bound = {
        (a["Properties"]["Namespace"], a["Properties"]["ServiceAccount"]): a["Properties"][
            "RoleArn"
        ]["Fn::GetAtt"][0]
        for a in associations.values()
    }
    namespace, mission = MISSION
    assert set(bound) == {
        ("mpcs", "mpcs-operator"),
        (namespace, names.child_name(mission, "workloads")),
        (namespace, "default"),
        ("kube-system", "ebs-csi-controller-sa"),  # provisions InfluxDB's volume
    }
    resources = template.to_json()["Resources"]
    for role_id in bound.values():
        trust = resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        principals = {json.dumps(s["Principal"], sort_keys=True) for s in trust}
        assert principals == {'{"Service": "pods.eks.amazonaws.com"}'}
        assert {a for s in trust for a in as_list(s["Action"])} == {
            "sts:AssumeRole",
            "sts:TagSession",
        }
    # The operator administers every mission's topics, and only topics (names.topic's shape).
    (admin,) = [s for s in statements if "kafka-cluster:CreateTopic" in as_list(s["Action"])]
    assert {render(r).rsplit("/", 1)[1] for r in as_list(admin["Resource"])} == {
        names.topic("*", "*", kind) for kind in names.Topic
    }
    topic_resources = {
        render(r)
        for s in statements
        if "kafka-cluster:ReadData" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    assert any(r.endswith(f"/*/{TELEMETRY}") for r in topic_resources), topic_resources
    # What the kit's clients do on MSK, each allowed: the operator changes topic configs, the
    # workloads connect (idempotent producers), read and write, join their groups, and the
    # command API runs transactions under its own transactional-id prefix.
    assert "kafka-cluster:AlterTopicDynamicConfiguration" in as_list(admin["Action"])
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert {
        "kafka-cluster:Connect",
        "kafka-cluster:WriteDataIdempotently",
        "kafka-cluster:WriteData",
        "kafka-cluster:ReadData",
        "kafka-cluster:DescribeGroup",
        "kafka-cluster:AlterGroup",
        "kafka-cluster:DescribeTransactionalId",
        "kafka-cluster:AlterTransactionalId",
    } <= actions
    txn_resources = {
        render(r)
        for s in statements
        if "kafka-cluster:AlterTransactionalId" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    assert {r.rsplit("/", 1)[1] for r in txn_resources} == {f"mpcs-api-{mission}-commands-*"}
    assert all(":transactional-id/" in r for r in txn_resources), txn_resources


def test_helm_releases_and_the_values_mpcs_gets(synth_stack: Any) -> None:
    template = synth_stack(image_repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mpcs")
    charts = {
        c["Properties"]["Release"]: c["Properties"]
        for c in template.find_resources("Custom::AWSCDK-EKS-HelmChart").values()
    }
    assert set(charts) == {"mpcs", "influxdb"}
    mpcs = charts["mpcs"]
    assert mpcs["Namespace"] == "mpcs"
    assert "ChartAssetURL" in mpcs  # charts/mpcs from this checkout, as an S3 asset
    assert mpcs["Wait"] is True
    values = json.loads(render(mpcs["Values"]))
    settings = values["operator"]["settings"]
    assert values["serviceAccount"] == {"create": False, "name": "mpcs-operator"}
    assert values["image"] == {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mpcs"}
    assert settings["kafkaBootstrap"].startswith("<GetAtt KafkaBootstrapBrokers")
    assert settings["kafkaBootstrap"].endswith(".BootstrapBrokerStringSaslIam>")
    # Every MPCS Kafka client speaks MSK's IAM auth (mpcs.kit.kafka).
    assert settings["kafkaSecurityProtocol"] == "SASL_SSL"
    assert settings["kafkaSaslMechanism"] == "OAUTHBEARER"
    assert settings["kafkaSaslTokenProvider"] == "aws-msk-iam"
    assert settings["kafkaAwsRegion"] == "<Ref AWS::Region>"
    assert "kafkaSaslPassword" not in settings
    assert "kafkaCaFile" not in settings
    assert settings["awsRegion"] == "<Ref AWS::Region>"
    assert settings["alertsTable"].startswith("<Ref StorageAlertsTable")
    assert settings["archiveBucket"].startswith("<Ref StorageArchive")
    assert settings["influxToken"] == {"name": "influxdb-auth", "key": "admin-token"}
    assert settings["influxUrl"] == "http://influxdb.mpcs.svc.cluster.local:80"
    template.resource_count_is("AWS::Timestream::InfluxDBInstance", 0)
    assert "alertsTopicArn" not in settings  # the Lambda evaluates alerts, not in-cluster runners

    influx = charts["influxdb"]
    assert influx["Chart"] == "influxdb2"
    assert influx["Repository"] == "https://helm.influxdata.com/"
    influx_values = json.loads(render(influx["Values"]))
    assert influx_values["adminUser"]["existingSecret"] == "influxdb-auth"
    assert influx_values["persistence"] == {
        "enabled": True,
        "storageClass": "gp3",
        "size": "20Gi",
    }
    # The token reaches the cluster from Secrets Manager by a dynamic reference, never in clear.
    manifests = [
        render(m["Properties"]["Manifest"])
        for m in template.find_resources("Custom::AWSCDK-EKS-KubernetesResource").values()
    ]
    (secret,) = [m for m in manifests if '"kind":"Secret"' in m]
    assert "{{resolve:secretsmanager:<Ref ClusterInfluxAuth" in secret
    assert ":SecretString:admin-token::}}" in secret

    outputs = template.to_json()["Outputs"]
    assert {"KubeconfigCommand", "ArchiveBucket", "AlertsTopicArn", "ApiUrl0"} <= set(outputs)
    assert outputs["InfluxUrl"]["Value"] == "http://influxdb.mpcs.svc.cluster.local:80"
    assert outputs["InfluxTokenSecretArn"]["Value"]["Ref"].startswith("ClusterInfluxAuth")
    assert render(outputs["ApiUrl0"]["Value"]) == "http://wildfire-command-api.default.svc"


def test_serverless_kafka_flavour(synth_stack: Any) -> None:
    template = synth_stack(kafka_flavour="serverless")
    template.resource_count_is("AWS::MSK::Cluster", 0)
    cluster_id, cluster = only(template, "AWS::MSK::ServerlessCluster")
    assert cluster["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}}
    _, mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert mapping["Topics"] == [TELEMETRY]


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"kafkaFlavour": "confluent"}, "kafkaFlavour='confluent'"),
        ({"influxFlavour": "influxdb3"}, "influxFlavour='influxdb3'"),
        ({"influxStorageType": "gp3"}, "influxStorageType='gp3'"),
        ({"influxDeployment": "MULTI_AZ"}, "influxDeployment='MULTI_AZ'"),
        ({"influxStorageGib": "10"}, "influxStorageGib=10"),
        ({"influxInstanceType": "t3.small"}, "influxInstanceType='t3.small'"),
        ({"kafkaBrokers": "3"}, "kafkaBrokers=3"),
        ({"archiveIaDays": "400"}, "archiveIaDays=400"),
        ({"alertsRetentionDays": "-1"}, "alertsRetentionDays=-1"),
        ({"missionManifests": '["examples/00-groundstations.yaml"]'}, "missionManifests="),
    ],
)
def test_bad_context_names_the_key(context: dict[str, str], named: str) -> None:
    from mpcs_aws import DeploymentConfig

    with pytest.raises(ValueError, match=r"expected|no Mission") as caught:
        DeploymentConfig.from_context(context).missions()
    assert named in str(caught.value)


def test_a_missing_lambda_zip_says_how_to_build_it(synth_stack: Any) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"alertsZip=dist/none\.zip: .* `mpcs lambdas package"
    ):
        synth_stack(alerts_zip="dist/none.zip")


def ingress_rules(template: Template, group_id: str) -> list[dict[str, Any]]:
    """Every ingress rule of security group `group_id`: inline ones and separate resources."""
    resources = template.to_json()["Resources"]
    rules = list(resources[group_id]["Properties"].get("SecurityGroupIngress", []))
    for resource in resources.values():
        if resource["Type"] != "AWS::EC2::SecurityGroupIngress":
            continue
        if resource["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}:
            rules.append(resource["Properties"])
    return rules


def test_timestream_influx_flavour(synth_stack: Any) -> None:
    template = synth_stack(influx_flavour="timestream")
    resources = template.to_json()["Resources"]
    key_id, _ = only(template, "AWS::KMS::Key")
    instance_id, instance = only(template, "AWS::Timestream::InfluxDBInstance")
    assert instance["PubliclyAccessible"] is False
    assert instance["DbInstanceType"] == "db.influx.medium"
    assert instance["DbStorageType"] == "InfluxIOIncludedT1"
    assert instance["AllocatedStorage"] == 20
    assert instance["DeploymentType"] == "SINGLE_AZ"
    assert instance["Port"] == 8086
    assert instance["Organization"] == "mpcs"
    # In the private subnets only (CDK tags each subnet with its type).
    (subnet,) = instance["VpcSubnetIds"]
    tags = {t["Key"]: t["Value"] for t in resources[subnet["Ref"]]["Properties"]["Tags"]}
    assert tags["aws-cdk:subnet-type"] == "Private"
    # The admin password: generated in Secrets Manager, never in the template.
    password = render(instance["Password"])
    assert password.startswith("{{resolve:secretsmanager:<Ref ClusterTimestreamAdmin")
    assert password.endswith(":SecretString:password::}}")
    # Timestream encrypts its storage itself (no property to set); what the template holds of
    # the credentials is encrypted with the stack's key.
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 2  # the admin's password and MPCS's token
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}

    # Port 8086 from the EKS cluster's security group (the pods) and from the token function.
    (group,) = instance["VpcSecurityGroupIds"]
    group_id = group["Fn::GetAtt"][0]
    rules = ingress_rules(template, group_id)
    sources = {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules}
    assert sources == {("tcp", 8086, 8086)}
    assert all("CidrIp" not in r and "CidrIpv6" not in r for r in rules), rules
    (eks_id, _) = only(template, "AWS::EKS::Cluster")
    (function_id, function) = next(
        (k, v["Properties"])
        for k, v in template.find_resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "index.handler" and "TokenFunction" in k
    )
    function_groups = [g["Fn::GetAtt"][0] for g in function["VpcConfig"]["SecurityGroupIds"]]
    assert sorted(render(r["SourceSecurityGroupId"]) for r in rules) == sorted(
        [f"<GetAtt {eks_id}.ClusterSecurityGroupId>"]
        + [f"<GetAtt {g}.GroupId>" for g in function_groups]
    )
    assert resources[group_id]["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == (
        "255.255.255.255/32"  # CDK's "no egress" rule
    )

    # The token: a custom resource that writes it into the token secret once the instance runs.
    (token_id, token) = only(template, "Custom::MpcsInfluxToken")
    assert token["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert token["Endpoint"] == {"Fn::GetAtt": [instance_id, "Endpoint"]}
    token_secret = token["TokenSecretArn"]["Ref"]
    assert token_secret.startswith("ClusterTimestreamToken")
    statements = policy_statements(template)
    for statement in statements:  # the least-privilege rules hold in this flavour too
        actions = as_list(statement.get("Action", []))
        resources_ = as_list(statement.get("Resource", []))
        assert not ("*" in actions and "*" in resources_), statement
        if "*" in resources_ and statement["Effect"] == "Allow":
            assert all(a.startswith("xray:") for a in actions), statement
    writers = [s for s in statements if "secretsmanager:PutSecretValue" in as_list(s["Action"])]
    assert [as_list(s["Resource"]) for s in writers] == [[{"Ref": token_secret}]]

    # The MPCS release talks to the instance over HTTPS with that token; no influxdb2 chart.
    charts = {
        c["Properties"]["Release"]: c["Properties"]
        for c in template.find_resources("Custom::AWSCDK-EKS-HelmChart").values()
    }
    assert set(charts) == {"mpcs"}
    settings = json.loads(render(charts["mpcs"]["Values"]))["operator"]["settings"]
    assert settings["influxUrl"] == f"https://<GetAtt {instance_id}.Endpoint>:8086"
    assert settings["influxToken"] == {"name": "influxdb-auth", "key": "admin-token"}
    manifests = {
        logical_id: m
        for logical_id, m in template.find_resources(
            "Custom::AWSCDK-EKS-KubernetesResource"
        ).items()
    }
    ((_, secret),) = [
        (k, m)
        for k, m in manifests.items()
        if '"kind":"Secret"' in render(m["Properties"]["Manifest"])
    ]
    text = render(secret["Properties"]["Manifest"])
    assert f"{{{{resolve:secretsmanager:<Ref {token_secret}>:SecretString:token::}}}}" in text
    assert "admin-password" not in text
    assert token_id in secret["DependsOn"]  # resolved only once the token is written

    # Engine logs: to the access-log bucket's InfluxLogs/, written by the service only.
    s3 = instance["LogDeliveryConfiguration"]["S3Configuration"]
    assert s3["Enabled"] is True
    bucket_id = s3["BucketName"]["Ref"]
    assert bucket_id.startswith("StorageAccessLogs")
    log_statements = [
        s
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "timestream-influxdb.amazonaws.com"}
    ]
    (delivery,) = log_statements
    assert delivery["Action"] == "s3:PutObject"
    assert render(delivery["Resource"]).endswith("/InfluxLogs/*")
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}

    outputs = template.to_json()["Outputs"]
    assert render(outputs["InfluxUrl"]["Value"]) == f"https://<GetAtt {instance_id}.Endpoint>:8086"
    assert outputs["InfluxTokenSecretArn"]["Value"] == {"Ref": token_secret}


def test_timestream_multi_az_standby_spans_both_private_subnets(synth_stack: Any) -> None:
    template = synth_stack(
        influx_flavour="timestream",
        influx_deployment="WITH_MULTIAZ_STANDBY",
        influx_instance_type="db.influx.large",
        influx_storage_gib=40,
    )
    _, instance = only(template, "AWS::Timestream::InfluxDBInstance")
    assert instance["DeploymentType"] == "WITH_MULTIAZ_STANDBY"
    assert instance["DbInstanceType"] == "db.influx.large"
    assert instance["AllocatedStorage"] == 40
    assert len(instance["VpcSubnetIds"]) == 2
