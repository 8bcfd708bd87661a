"""A mission workload logs in to a PLAIN-secured broker with what the operator gives it.

The operator builds the ingest's Deployment and the mission's `<mission>-kafka` Secret for a
SASL_PLAINTEXT/PLAIN Kafka; the env is resolved as the kubelet does (values, and the
`secretKeyRef` from that Secret), parsed into the workload's settings, and its Kafka clients
write and read a record on the run's SASL broker
(`sasl_kafka`, tests/conftest.py), which requires the password. No API
server: what the kubelet does with a `secretKeyRef` is Kubernetes' own, and the Secret and env
shapes are unit-tested (tests/unit/operator/test_operator_kafka_security_env.py).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.admin import NewTopic
from utils.owners import mission_owner
from utils.sasl import PASSWORD, USER

from mpcs.core import resources
from mpcs.dev.servers import Kafka
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.settings import ServiceSettings, load_settings
from mpcs.operator import builders
from mpcs.operator.settings import OperatorSettings

pytestmark = pytest.mark.integration


def _resolved_kafka_env(env: list[dict[str, Any]], secret: dict[str, Any]) -> dict[str, str]:
    """The MPCS_KAFKA_* variables as the container sees them."""
    out: dict[str, str] = {}
    for e in env:
        if not e["name"].startswith("MPCS_KAFKA_"):
            continue
        if "value" in e:
            out[e["name"]] = e["value"]
            continue
        ref = e["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"], e
        out[e["name"]] = secret["stringData"][ref["key"]]
    return out


async def test_the_ingest_logs_in_with_the_password_from_the_missions_secret(
    sasl_kafka: Kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = OperatorSettings(
        kafka_bootstrap=sasl_kafka.bootstrap_servers,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=USER,
        kafka_sasl_password=PASSWORD,  # type: ignore[arg-type]  # pydantic makes it a SecretStr
        influx_url="http://i:8086",
        image="mpcs:t",
    )
    owner = mission_owner()
    workloads = builders.mission_workloads(
        namespace="ops",
        mission="wildfire",
        owner=owner,
        spec=resources.MissionSpec.model_validate({}),
        settings=settings,
    )
    (ingest,) = [
        o
        for o in workloads
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "wildfire-ingest"
    ]
    env = ingest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert PASSWORD not in repr(ingest)
    secret = builders.kafka_password_secret(
        namespace="ops",
        mission="wildfire",
        owner=owner,
        password=str(settings.kafka_security.sasl_password),
    )
    for name in [n for n in ServiceSettings.model_fields if n.startswith("kafka_")]:
        monkeypatch.delenv(f"MPCS_{name.upper()}", raising=False)
    for name, value in _resolved_kafka_env(env, secret).items():
        monkeypatch.setenv(name, value)
    workload = load_settings(ServiceSettings)
    assert workload.kafka_security.sasl_password == PASSWORD

    kafka = KafkaClients(
        workload.kafka_bootstrap, client_id="mpcs-ingest-test", security=workload.kafka_security
    )
    topic = f"mpcs.ops.wildfire.{uuid.uuid4().hex[:8]}"
    admin = await kafka.start(lambda: kafka.admin(name="admin"), what="admin")
    assert admin is not None
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await close_quietly(admin)
    producer = await kafka.start(lambda: kafka.producer(name="producer"), what="producer")
    assert producer is not None
    try:
        await producer.send_and_wait(topic, key=b"sat-a", value=b"telemetry")
    finally:
        await close_quietly(producer)
    consumer = await kafka.start(
        lambda: kafka.consumer(
            topic, name="consumer", group_id="mpcs.ops.wildfire.t", auto_offset_reset="earliest"
        ),
        what="consumer",
    )
    assert consumer is not None
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
        assert (record.key, record.value) == (b"sat-a", b"telemetry")
    finally:
        await close_quietly(consumer)
