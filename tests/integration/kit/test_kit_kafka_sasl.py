"""The kit's Kafka clients against a broker that requires SASL (PLAIN over SASL_PLAINTEXT).

The run's SASL broker (`sasl_kafka`, tests/conftest.py: the dev stack's `Kafka` server class
with `sasl_plain_users`): the admin client, the producer and a group consumer made by `KafkaClients`
from `MPCS_KAFKA_*` settings create a topic, write and read a record with the right password, and
fail to start, with an authentication error, with a wrong one. Amazon MSK's IAM auth (OAUTHBEARER)
cannot be exercised offline; its token provider is unit-tested (tests/unit/kit/
test_kafka_security.py).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError
from utils.sasl import PASSWORD, USER

from mpcs.dev.servers import Kafka
from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.settings import ServiceSettings, load_settings

pytestmark = pytest.mark.integration


def _clients(monkeypatch: pytest.MonkeyPatch, bootstrap: str, *, password: str) -> KafkaClients:
    """Clients as a service builds them: settings from MPCS_* variables, then the kit."""
    for name, value in {
        "MPCS_KAFKA_BOOTSTRAP": bootstrap,
        "MPCS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MPCS_KAFKA_SASL_MECHANISM": "PLAIN",
        "MPCS_KAFKA_SASL_USERNAME": USER,
        "MPCS_KAFKA_SASL_PASSWORD": password,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("MPCS_KAFKA_CA_FILE", "MPCS_KAFKA_SASL_TOKEN_PROVIDER", "MPCS_KAFKA_AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(ServiceSettings)
    return KafkaClients(
        settings.kafka_bootstrap, client_id="mpcs-sasl-test", security=settings.kafka_security
    )


async def test_admin_producer_and_consumer_work_with_the_right_password(
    sasl_kafka: Kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = _clients(monkeypatch, sasl_kafka.bootstrap_servers, password=PASSWORD)
    topic = f"mpcs.t.sasl.{uuid.uuid4().hex[:8]}"

    admin = await kafka.start(lambda: kafka.admin(name="admin"), what="admin")
    assert admin is not None
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await close_quietly(admin)

    producer = await kafka.start(lambda: kafka.producer(name="producer"), what="producer")
    assert producer is not None
    try:
        await producer.send_and_wait(topic, key=b"sat-a", value=b"hello over SASL")
    finally:
        await close_quietly(producer)

    consumer = await kafka.start(
        lambda: kafka.consumer(
            topic, name="consumer", group_id="mpcs.t.sasl", auto_offset_reset="earliest"
        ),
        what="consumer",
    )
    assert consumer is not None
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
        assert (record.key, record.value) == (b"sat-a", b"hello over SASL")
        await consumer.commit()  # the group coordinator is reached over SASL too
    finally:
        await close_quietly(consumer)


async def test_a_wrong_password_is_refused_at_start(
    sasl_kafka: Kafka, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = _clients(monkeypatch, sasl_kafka.bootstrap_servers, password="not-the-password")
    for make in (kafka.admin, kafka.producer, lambda: kafka.consumer("any")):
        caplog.clear()
        client = make()
        with pytest.raises(KafkaConnectionError):
            await client.start()
        await close_quietly(client)
        # aiokafka raises "Unable to bootstrap" and logs the broker's reason.
        assert "SaslAuthenticationFailed" in caplog.text
        assert "Invalid username or password" in caplog.text

    # KafkaClients.start keeps retrying (a broker may still be booting) and says what it tried.
    problems: list[str] = []
    stop = asyncio.Event()

    def failed(problem: str) -> None:
        problems.append(problem)
        stop.set()

    started = await kafka.start(kafka.producer, what="producer", stop=stop, on_failure=failed)
    assert started is None
    assert len(problems) == 1
    assert "refused the login (SASL_PLAINTEXT, PLAIN as mpcs)" in problems[0]
    assert "not-the-password" not in problems[0]
