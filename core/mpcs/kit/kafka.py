"""Kafka clients for every MPCS process: built one way, started with exponential backoff.

A process usually starts before (or while) its broker is reachable: in a cluster the pods of a new
Mission come up together with its topics, on a laptop the broker may still be booting. So no
process fails on an unreachable broker; each one starts its clients through `KafkaClients.start`,
which builds a fresh client per attempt (a client that failed to start is not reusable), logs every
failed attempt with the reason and the next delay, and waits with `Backoff` (0.5 s doubling to
10 s) until the broker answers or the process is asked to stop.

`KafkaClients` also holds the settings every producer of MPCS shares (DESIGN §7: idempotent,
`acks=all`), so a message is never lost or duplicated by a producer retry in any service.

"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from .backoff import Backoff, sleep

log = logging.getLogger("mpcs.kit.kafka")

#: What a failed start raises: the broker refused or is unreachable (aiokafka wraps most of it in
#: KafkaError; a refused or reset socket can surface as OSError).
START_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError)


class _Client(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=_Client)


class KafkaClients:
    """Builds the Kafka clients of one process and starts them with backoff.

    `client_id` names the process in the broker's logs and metrics (`mpcs-sim-sat-a`, …); a client
    may add a suffix (`name=`) to tell its clients apart.
    """

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id

    def _id(self, name: str) -> str:
        return f"{self.client_id}-{name}" if name else self.client_id

    def producer(self, *, name: str = "", **options: Any) -> AIOKafkaProducer:
        """An idempotent producer with `acks=all` (not started); `options` go to aiokafka."""
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self._id(name),
            enable_idempotence=True,
            acks="all",
            **options,
        )

    def consumer(self, *topics: str, name: str = "", **options: Any) -> AIOKafkaConsumer:
        """A consumer of `topics` (not started); offsets are never committed automatically.

        It reads `read_committed`: a record of an aborted transaction (a command whose POST
        answered 503, `mpcs.workloads.api.kafka.KafkaBus`) is never delivered. Records written
        without a transaction are delivered as before.
        """
        options.setdefault("enable_auto_commit", False)
        options.setdefault("isolation_level", "read_committed")
        return AIOKafkaConsumer(
            *topics, bootstrap_servers=self.bootstrap, client_id=self._id(name), **options
        )

    def admin(self, *, name: str = "", **options: Any) -> AIOKafkaAdminClient:
        """An admin client (not started)."""
        return AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id=self._id(name), **options
        )

    async def start(
        self,
        make: Callable[[], C],
        *,
        what: str,
        setup: Callable[[C], Awaitable[None]] | None = None,
        stop: asyncio.Event | None = None,
        backoff: Backoff | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> C | None:
        """A started client from `make()`, retrying with backoff; None once `stop` is set.

        Each attempt builds a new client, starts it and runs `setup(client)` (subscribe, seek…);
        when either fails with a broker error the client is closed, the attempt logged (and
        passed to `on_failure` as a sentence), and the next one waits `backoff`.
        """
        backoff = backoff or Backoff()
        attempt = 0
        while stop is None or not stop.is_set():
            attempt += 1
            client = make()
            try:
                await client.start()
                if setup is not None:
                    await setup(client)
            except START_ERRORS as exc:
                await close_quietly(client)
                problem = f"Kafka {self.bootstrap} unreachable: {exc}"
                if on_failure is not None:
                    on_failure(problem)
                delay = backoff.next_delay()
                log.warning(
                    "%s: %s; attempt %d failed, retrying in %.1f s",
                    what,
                    problem,
                    attempt,
                    delay,
                    extra={"client": what, "attempt": attempt, "retry_in_s": delay},
                )
                await sleep(delay, stop)
                continue
            except BaseException:
                await close_quietly(client)
                raise
            if attempt > 1:
                log.info("%s: connected after %d attempts", what, attempt)
            return client
        return None


async def close_quietly(client: Any, *, timeout_s: float = 10.0) -> None:
    """Stop (or close, for an admin client) `client`, ignoring what a dead connection raises."""
    close = getattr(client, "stop", None) or getattr(client, "close", None)
    if close is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(close(), timeout=timeout_s)
