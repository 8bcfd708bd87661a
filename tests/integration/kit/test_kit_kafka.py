"""The kit's Kafka clients against the real broker of the dev stack: each kind starts at the first
attempt, a producer's message reaches a consumer, and an admin client closes like the others."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka.admin import NewTopic

from mpcs.kit.kafka import KafkaClients, close_quietly

pytestmark = pytest.mark.integration


async def test_clients_start_at_once_and_carry_a_message(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mpcs.kit.kafka")
    kafka = KafkaClients(kafka_bootstrap, client_id="mpcs-kit-test")
    name = f"mpcs.kit-test.{uuid.uuid4().hex[:8]}"

    admin = await kafka.start(kafka.admin, what="admin")
    assert admin is not None
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        assert name in await admin.list_topics()
    finally:
        await close_quietly(admin)

    async def from_the_start(consumer: object) -> None:
        assert consumer.assignment()  # type: ignore[attr-defined]

    producer = await kafka.start(lambda: kafka.producer(name="p"), what="producer")
    consumer = await kafka.start(
        lambda: kafka.consumer(name, name="c", group_id=None, auto_offset_reset="earliest"),
        what="consumer",
        setup=from_the_start,
    )
    assert producer is not None
    assert consumer is not None
    try:
        await producer.send_and_wait(name, key=b"sat-a", value=b"hello")
        records = []
        async with asyncio.timeout(30):
            while not records:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records += batch
        assert [(r.key, r.value) for r in records] == [(b"sat-a", b"hello")]
    finally:
        await close_quietly(producer)
        await close_quietly(consumer)
    assert not caplog.records  # no failed attempt against a reachable broker
