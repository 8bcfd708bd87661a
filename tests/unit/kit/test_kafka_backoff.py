"""Kafka clients started with backoff, against a loopback port where no broker listens.

The same start against the real broker is in tests/integration/kit/test_kit_kafka.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from utils.doctests import run_doctests

from mpcs.kit import backoff as backoff_module
from mpcs.kit.backoff import Backoff
from mpcs.kit.kafka import KafkaClients


def test_doctests() -> None:
    run_doctests(backoff_module)


def test_backoff_doubles_up_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(initial_s=0.25, max_s=1.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.25


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial_s": 0}, "initial_s"),
        ({"initial_s": 5, "max_s": 1}, "initial_s"),
        ({"factor": 0.5}, "factor"),
    ],
)
def test_a_backoff_that_would_not_back_off_is_refused(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(**kwargs)


async def test_wait_ends_early_when_asked_to_stop() -> None:
    stop = asyncio.Event()
    stop.set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await Backoff(initial_s=30.0, max_s=30.0).wait(stop) == 30.0
    assert loop.time() - started < 1.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_start_retries_with_backoff_and_logs_each_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mpcs.kit.kafka")
    bootstrap = f"127.0.0.1:{_closed_port()}"
    kafka = KafkaClients(bootstrap, client_id="mpcs-test")
    stop = asyncio.Event()
    problems: list[str] = []
    made = 0

    def make() -> object:
        nonlocal made
        made += 1
        return kafka.producer(request_timeout_ms=1_000)

    def on_failure(problem: str) -> None:
        problems.append(problem)
        if len(problems) == 3:
            stop.set()

    started = await kafka.start(
        make,  # type: ignore[arg-type]
        what="test producer",
        stop=stop,
        backoff=Backoff(initial_s=0.05, max_s=0.1),
        on_failure=on_failure,
    )
    assert started is None  # stopped before the broker ever answered
    assert made == 3  # a fresh client per attempt
    assert all(bootstrap in p for p in problems)
    attempts = [r for r in caplog.records if r.name == "mpcs.kit.kafka"]
    assert [getattr(r, "attempt", None) for r in attempts] == [1, 2, 3]
    assert [getattr(r, "retry_in_s", None) for r in attempts] == [0.05, 0.1, 0.1]
    assert all("test producer" in r.getMessage() for r in attempts)


async def test_a_stop_before_the_first_attempt_starts_nothing() -> None:
    kafka = KafkaClients(f"127.0.0.1:{_closed_port()}", client_id="mpcs-test")
    stop = asyncio.Event()
    stop.set()

    def make() -> object:
        raise AssertionError("no client may be built once stopped")

    assert await kafka.start(make, what="nothing", stop=stop) is None  # type: ignore[arg-type]


async def test_producers_are_idempotent_with_acks_all() -> None:
    producer = KafkaClients("127.0.0.1:1", client_id="mpcs-test").producer(name="dlq")
    try:
        # aiokafka keeps these private; they are what DESIGN §7 promises every producer has.
        assert producer.client._client_id == "mpcs-test-dlq"
        assert producer._txn_manager is not None  # idempotence on
        assert producer._sender._acks == -1  # acks=all
    finally:
        await producer.stop()
