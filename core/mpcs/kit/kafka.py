"""Kafka clients for every MPCS process: built one way, started with exponential backoff.

A process usually starts before (or while) its broker is reachable: in a cluster the pods of a new
Mission come up together with its topics, on a laptop the broker may still be booting. So no
process fails on an unreachable broker; each one starts its clients through `KafkaClients.start`,
which builds a fresh client per attempt (a client that failed to start is not reusable), logs every
failed attempt with the reason and the next delay, and waits with `Backoff` (0.5 s doubling to
10 s) until the broker answers or the process is asked to stop.

`KafkaClients` also holds the settings every producer of MPCS shares (DESIGN §7: idempotent,
`acks=all`), so a message is never lost or duplicated by a producer retry in any service, and the
connection's security (`KafkaSecurity`, from the `MPCS_KAFKA_SECURITY_PROTOCOL`… settings): TLS,
SASL PLAIN/SCRAM, or OAUTHBEARER with an Amazon MSK IAM token (`MskIamTokenProvider`). It is the
only place that constructs aiokafka clients (tests/unit/kit/test_kafka_security.py checks), so no
client can connect without them.

"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from .backoff import Backoff, sleep
from .settings import KafkaSecurity, check_kafka_security

log = logging.getLogger("mpcs.kit.kafka")

#: What a failed start raises: the broker refused or is unreachable (aiokafka wraps most of it in
#: KafkaError; a refused or reset socket can surface as OSError).
START_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError)


#: A signer of MSK IAM tokens: region → (token, expiry in ms since the epoch), blocking.
Signer = Callable[[str], tuple[str, int]]


def _msk_signer(region: str) -> tuple[str, int]:
    # Imported here: only a process configured for aws-msk-iam loads botocore's signer.
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped]

    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return str(token), int(expiry_ms)


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER tokens for Amazon MSK IAM auth, signed with the process's AWS credentials.

    Signing is blocking (botocore resolves credentials, maybe over HTTP from the Pod Identity
    agent), so it runs in a thread; a token is reused until `refresh_before_s` before it
    expires (MSK's last 15 minutes), and concurrent connections wait for one signing.
    """

    def __init__(
        self,
        region: str,
        *,
        signer: Signer = _msk_signer,
        refresh_before_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.region = region
        self._sign = signer
        self._refresh_before_s = refresh_before_s
        self._clock = clock
        self._token: str | None = None
        self._expires_at_s = 0.0
        self._lock: asyncio.Lock | None = None

    async def token(self) -> str:
        """A token valid for at least `refresh_before_s` more seconds."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at_s - self._refresh_before_s:
                token, expiry_ms = await asyncio.to_thread(self._sign, self.region)
                self._token, self._expires_at_s = token, expiry_ms / 1000.0
                log.info(
                    "signed an MSK IAM token for %s, valid until %.0f",
                    self.region,
                    self._expires_at_s,
                    extra={"region": self.region, "expires_at_s": self._expires_at_s},
                )
            return self._token


def security_options(
    security: KafkaSecurity, *, token_provider: AbstractTokenProvider | None = None
) -> dict[str, Any]:
    """The aiokafka options (the same for producers, consumers and admin clients) of `security`.

    `token_provider` overrides the one `security.token_provider` names (tests).

    >>> security_options(KafkaSecurity())
    {'security_protocol': 'PLAINTEXT'}
    >>> sorted(security_options(KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
    ...     sasl_username="u", sasl_password="p")))
    ['sasl_mechanism', 'sasl_plain_password', 'sasl_plain_username', 'security_protocol']
    """
    check_kafka_security(security)
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.protocol in ("SSL", "SASL_SSL"):
        # No CA file: the system's CAs (Amazon MSK's certificates chain to Amazon Trust roots).
        options["ssl_context"] = create_ssl_context(cafile=security.ca_file)
    if security.sasl_mechanism is not None:
        options["sasl_mechanism"] = security.sasl_mechanism
    if security.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password
    if security.sasl_mechanism == "OAUTHBEARER":
        if token_provider is None and security.token_provider == "aws-msk-iam":
            assert security.aws_region is not None  # check_kafka_security
            token_provider = MskIamTokenProvider(security.aws_region)
        options["sasl_oauth_token_provider"] = token_provider
    return options


class _Client(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=_Client)


class KafkaClients:
    """Builds the Kafka clients of one process and starts them with backoff.

    `client_id` names the process in the broker's logs and metrics (`mpcs-sim-sat-a`, …); a client
    may add a suffix (`name=`) to tell its clients apart.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        security: KafkaSecurity | None = None,
        token_provider: AbstractTokenProvider | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.security = security or KafkaSecurity()
        # Built once: one TLS context and one token cache for all the process's clients.
        self._security_options = security_options(self.security, token_provider=token_provider)

    def _id(self, name: str) -> str:
        return f"{self.client_id}-{name}" if name else self.client_id

    def producer(self, *, name: str = "", **options: Any) -> AIOKafkaProducer:
        """An idempotent producer with `acks=all` (not started); `options` go to aiokafka."""
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self._id(name),
            enable_idempotence=True,
            acks="all",
            **self._security_options,
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
            *topics,
            bootstrap_servers=self.bootstrap,
            client_id=self._id(name),
            **self._security_options,
            **options,
        )

    def admin(self, *, name: str = "", **options: Any) -> AIOKafkaAdminClient:
        """An admin client (not started)."""
        return AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=self._id(name),
            **self._security_options,
            **options,
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
                if self.security.sasl_mechanism is not None:
                    # aiokafka only logs a refused login; its error just says "Unable to bootstrap".
                    problem = (
                        f"Kafka {self.bootstrap} unreachable or refused the login "
                        f"({self.security.summary()}): {exc}"
                    )
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
