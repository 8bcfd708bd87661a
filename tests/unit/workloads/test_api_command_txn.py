"""`KafkaBus.send_command`'s transaction rule, with a scripted transactional producer.

The real broker case (SIGSTOP) is `tests/integration/workloads/test_api_paused_broker.py`; here
each window of the decision is held open on purpose: records not yet answered (abort, 503), the
commit asked for and not answered (504, `DeliveryUnknown`, resolved by the broker's answer), and
concurrent POSTs sharing one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from mpcs.core.commands import Command
from mpcs.kit.kafka import KafkaClients
from mpcs.workloads.api.kafka import DeliveryUnknown, KafkaBus, KafkaUnavailable


class ScriptedProducer:
    """begin/send/commit/abort recorded; deliveries and commits answer when the test says."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self.commit_gate: asyncio.Future[None] | None = None
        self.deliver_at_once = True

    async def begin_transaction(self) -> None:
        self.calls.append("begin")

    async def send(self, topic: str, *, key: bytes, value: bytes) -> asyncio.Future[Any]:
        self.calls.append(f"send {key.decode()}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.deliver_at_once:
            future.set_result(SimpleNamespace(timestamp=1_700_000_000_000))
        self.deliveries.append(future)
        return future

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.commit_gate is not None:
            await self.commit_gate

    async def abort_transaction(self) -> None:
        self.calls.append("abort")

    async def stop(self) -> None:
        pass


@pytest.fixture
async def bus_and_producer() -> AsyncIterator[tuple[KafkaBus, ScriptedProducer]]:
    bus = KafkaBus(
        kafka=KafkaClients("127.0.0.1:1", client_id="unit"),
        commands_topic="c",
        events_topic="e",
        timeout_s=0.2,
        commit_grace_s=0.2,
    )
    producer = ScriptedProducer()
    bus._commands = producer  # type: ignore[assignment]
    bus._worker = asyncio.create_task(bus._run_transactions())
    try:
        yield bus, producer
    finally:
        await bus.stop()


def _command(satellite: str) -> Command:
    return Command(satellite=satellite, name="PING", args={}, issued_by="operator")


async def test_a_delivered_command_is_committed(
    bus_and_producer: tuple[KafkaBus, ScriptedProducer],
) -> None:
    bus, producer = bus_and_producer
    sent_at = await bus.send_command(_command("a"))
    assert sent_at.year == 2023
    assert producer.calls == ["begin", "send a", "commit"]


async def test_concurrent_commands_share_one_transaction(
    bus_and_producer: tuple[KafkaBus, ScriptedProducer],
) -> None:
    bus, producer = bus_and_producer
    await asyncio.gather(*(bus.send_command(_command(s)) for s in "abc"))
    assert producer.calls.count("commit") == 1
    assert sorted(c for c in producer.calls if c.startswith("send")) == [
        "send a",
        "send b",
        "send c",
    ]


async def test_a_command_not_answered_in_time_is_aborted_never_committed(
    bus_and_producer: tuple[KafkaBus, ScriptedProducer],
) -> None:
    bus, producer = bus_and_producer
    producer.deliver_at_once = False
    with pytest.raises(KafkaUnavailable, match="never will be"):
        await bus.send_command(_command("a"))
    await asyncio.sleep(0)
    # The record may still reach the broker (its request is out): the transaction decides.
    producer.deliveries[0].set_result(SimpleNamespace(timestamp=1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert producer.calls == ["begin", "send a", "abort"]
    producer.deliver_at_once = True
    await bus.send_command(_command("b"))
    assert producer.calls[-3:] == ["begin", "send b", "commit"]


async def test_an_unanswered_commit_is_unknown_not_refused(
    bus_and_producer: tuple[KafkaBus, ScriptedProducer],
) -> None:
    bus, producer = bus_and_producer
    producer.commit_gate = asyncio.get_running_loop().create_future()
    with pytest.raises(DeliveryUnknown) as caught:
        await bus.send_command(_command("a"))
    assert "abort" not in producer.calls
    settled = caught.value.settled
    assert settled is not None
    assert not settled.done()
    producer.commit_gate.set_result(None)  # the broker answers: committed
    assert (await settled).year == 2023
