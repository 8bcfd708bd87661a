"""Mission Kafka topics, converged idempotently through the Kafka admin API.

Level-based: `ensure_topics` compares what exists with what is wanted and only creates missing
topics, grows partitions (Kafka cannot shrink them) and resets drifted configs. Calling it twice
changes nothing the second time.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from mpcs.kit.kafka import KafkaClients, close_quietly
from mpcs.kit.settings import KafkaSecurity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """One wanted topic."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass
class TopicChanges:
    """What a convergence did (for Events and tests)."""

    created: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    reconfigured: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.grown or self.reconfigured)


class KafkaTopics:
    """A long-lived admin client shared by all reconciles, built by the kit's client factory.

    No retry loop of its own: a reconcile that cannot reach Kafka reports it (TopicsReady=False)
    and Kopf runs it again later, so the next call simply tries to start a client again.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "mpcs-operator",
        security: KafkaSecurity | None = None,
    ) -> None:
        self._clients = KafkaClients(bootstrap_servers, client_id=client_id, security=security)
        self._admin: AIOKafkaAdminClient | None = None

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = self._clients.admin(request_timeout_ms=15000)
            try:
                await admin.start()
            except BaseException:
                await close_quietly(admin)  # a client that failed to start is not reusable
                raise
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def existing(self, names: list[str]) -> dict[str, int]:
        """Partition counts of the topics among `names` that exist."""
        admin = await self._client()
        all_topics = set(await admin.list_topics())
        present = [n for n in names if n in all_topics]
        if not present:
            return {}
        described = await admin.describe_topics(present)
        return {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}

    async def ensure_topics(self, specs: list[TopicSpec]) -> TopicChanges:
        """Create, grow and reconfigure until every spec holds."""
        admin = await self._client()
        changes = TopicChanges()
        existing = await self.existing([s.name for s in specs])
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # A concurrent reconcile may win the race to create: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            s.name,
                            num_partitions=s.partitions,
                            replication_factor=s.replication_factor,
                            topic_configs=s.configs,
                        )
                        for s in missing
                    ]
                )
            changes.created = [s.name for s in missing]
        grow = {
            s.name: NewPartitions(total_count=s.partitions)
            for s in specs
            if s.name in existing and existing[s.name] < s.partitions
        }
        if grow:
            await admin.create_partitions(grow)
            changes.grown = sorted(grow)
        present = [s for s in specs if s.name in existing]
        changes.reconfigured = await self._converge_configs(admin, present)
        return changes

    async def _converge_configs(
        self, admin: AIOKafkaAdminClient, specs: list[TopicSpec]
    ) -> list[str]:
        if not specs:
            return []
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=None) for s in specs]
        )
        actual: dict[str, dict[str, str]] = {}
        for response in described:
            for _code, _msg, _type, name, entries in response.resources:
                actual[name] = {e[0]: e[1] for e in entries}
        drifted = [
            s
            for s in specs
            if any(actual.get(s.name, {}).get(k) != v for k, v in s.configs.items())
        ]
        if drifted:
            # AlterConfigs replaces the topic's dynamic configs: send the full wanted set.
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.configs)
                    for s in drifted
                ]
            )
        return [s.name for s in drifted]

    async def delete_topics(self, names: list[str]) -> list[str]:
        admin = await self._client()
        present = list((await self.existing(names)).keys())
        if present:
            with contextlib.suppress(UnknownTopicOrPartitionError):
                await admin.delete_topics(present)
        return present
