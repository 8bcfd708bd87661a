"""The test Kafka is a real KRaft broker: admin API, idempotent acks=all producer, group offsets."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

pytestmark = pytest.mark.integration


async def test_admin_creates_topic_with_partitions_and_configs(
    kafka_bootstrap: str, unique: str
) -> None:
    name = f"smoke.{unique}.telemetry"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=3,
                    replication_factor=1,
                    topic_configs={"retention.ms": "3600000", "compression.type": "zstd"},
                )
            ]
        )
        described = await admin.describe_topics([name])
        assert len(described[0]["partitions"]) == 3
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=None)]
        )
        entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
        assert entries["retention.ms"] == "3600000"
        assert entries["compression.type"] == "zstd"
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, values: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in values:
            await producer.send_and_wait(topic, key=b"sat-1", value=str(i).encode())
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str, count: int) -> list[int]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[int] = []
    try:
        while len(got) < count:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no message within 5 s"
            for records in batch.values():
                got.extend(int(r.value) for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_consumer_group_resumes_from_committed_offset(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"smoke.{unique}.acks", f"smoke-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    await _produce(kafka_bootstrap, topic, range(10))
    assert await _consume(kafka_bootstrap, topic, group, 10) == list(range(10))
    await _produce(kafka_bootstrap, topic, range(10, 15))
    # A new consumer in the same group starts after the committed offset, not from the start.
    assert await _consume(kafka_bootstrap, topic, group, 5) == list(range(10, 15))
