"""No duplicate command after a 503 (issue 17): the broker is paused (SIGSTOP) while a POST waits.

The command API's `KafkaBus` runs against a throw-away broker of its own (the dev stack's `Kafka`
server class, in this test's temporary directory), so pausing it cannot disturb any other test.
While the broker is stopped, `send_command` gives up after its timeout with `KafkaUnavailable`
(what the POST answers as 503) although its records may already sit in the broker's socket. Once
the broker runs again, a read_committed consumer (what every MPCS consumer is) must find the
commands sent before and after the pause, and never the one that was refused.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from utils.servers import running_kafka
from utils.waiting import eventually_async

from mpcs.core.commands import Command
from mpcs.dev.servers import Kafka
from mpcs.kit.kafka import KafkaClients
from mpcs.workloads.api.kafka import KafkaBus, KafkaUnavailable

pytestmark = pytest.mark.integration

COMMANDS, EVENTS = "mpcs.t.paused.commands", "mpcs.t.paused.events"


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    """A broker for this module alone (pausing the session's broker would stall other tests)."""
    with running_kafka(tmp_path_factory.mktemp("paused-kafka"), "own_kafka") as kafka:
        yield kafka


async def _create_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=1, replication_factor=1) for name in (COMMANDS, EVENTS)]
        )
    finally:
        await admin.close()


async def _committed_ids(bootstrap: str) -> list[str]:
    """Every command id a read_committed consumer gets from the topic, up to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        tp = TopicPartition(COMMANDS, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]  # the last stable offset
        ids: list[str] = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                ids += [Command.model_validate_json(r.value).id.hex for r in records]
        return ids
    finally:
        await consumer.stop()


def _command(name: str) -> Command:
    return Command(satellite="sat-a", name=name, args={}, issued_by="operator")


async def test_a_command_refused_while_the_broker_is_paused_is_never_delivered(
    own_kafka: Kafka,
) -> None:
    bootstrap = own_kafka.bootstrap_servers
    await _create_topics(bootstrap)
    bus = KafkaBus(
        kafka=KafkaClients(bootstrap, client_id="paused-test"),
        commands_topic=COMMANDS,
        events_topic=EVENTS,
        timeout_s=2.0,
    )
    await asyncio.wait_for(bus.run_start(), timeout=60)
    try:
        before, refused, after = _command("PING"), _command("PAYLOAD_ON"), _command("PAYLOAD_OFF")
        await bus.send_command(before)

        assert own_kafka.pid is not None
        os.killpg(own_kafka.pid, signal.SIGSTOP)
        try:
            with pytest.raises(KafkaUnavailable, match="never will be"):
                await bus.send_command(refused)
        finally:
            os.killpg(own_kafka.pid, signal.SIGCONT)

        async def sent_after() -> bool:
            try:
                await bus.send_command(after)
            except KafkaUnavailable:
                return False  # the producer is still finishing the abort
            return True

        await eventually_async(sent_after, timeout_s=60, what="a command sent after the pause")
        ids = await _committed_ids(bootstrap)
        assert before.id.hex in ids
        assert after.id.hex in ids
        assert refused.id.hex not in ids
    finally:
        await bus.stop()
