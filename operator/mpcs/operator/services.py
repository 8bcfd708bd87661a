"""The operator's shared clients and caches, opened once at start-up and closed at clean-up.

`Services` is one object in Kopf's memo. Kopf gives each object a shallow copy of the memo, so
everything shared (clients, caches) must exist before the first object is handled; one typed
object also spares every reconcile from reading untyped memo attributes.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import kopf

from mpcs.core import names
from mpcs.kit.health import HealthServer
from mpcs.kit.kube import load_client
from mpcs.operator.caches import LastTelemetry, PassCache
from mpcs.operator.discovery import Discovery
from mpcs.operator.influx_buckets import InfluxBuckets
from mpcs.operator.kafka_topics import KafkaTopics
from mpcs.operator.kube import Kube, PeeringMissing
from mpcs.operator.metrics import Health, health_server
from mpcs.operator.settings import OperatorSettings

log = logging.getLogger("mpcs.operator")

#: The operator writes this label itself: it is not a change to react to.
MISSION_LABEL = f"{names.GROUP}/mission"


@dataclass
class Services:
    """Everything a reconcile talks to or shares with the others."""

    settings: OperatorSettings
    kube: Kube
    topics: KafkaTopics
    influx: InfluxBuckets
    health: Health
    passes: PassCache
    last_telemetry: LastTelemetry
    probes: HealthServer
    discovery: Discovery

    async def close(self) -> None:
        await self.topics.close()
        await self.influx.close()
        await self.probes.stop()


def services_of(memo: kopf.Memo) -> Services:
    """The operator's `Services`, put into the memo by `start`."""
    return cast(Services, memo.services)


class _DiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff base, minus ignored fields, with stanzas left empty by them removed too.

    Without the second clean-up, a Satellite whose only label is ours would look changed
    (`labels: {}` against no labels) and cost one more handling cycle and patch per object.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        self.remove_empty_stanzas(essence)
        return essence


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    """Kopf's own bookkeeping lives under our API group; retries are tuned for bursts."""
    group = names.GROUP
    kopf_settings.persistence.finalizer = f"{group}/finalizer"
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=group)
    kopf_settings.persistence.diffbase_storage = _DiffBase(
        prefix=group,
        key="last-handled-configuration",
        ignored_fields=[("metadata", "labels", MISSION_LABEL)],
    )
    kopf_settings.peering.lifetime = settings.peering_lifetime
    # Kopf would post an Event for every successful handler (two requests per object); ours are
    # posted explicitly with kopf.event(), Kopf's own only for warnings and errors.
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.queueing.error_delays = [1, 2, 5, 10, 30]
    # A burst of objects meets the apiserver's in-flight limits (429): retry soon, not late.
    kopf_settings.networking.error_backoffs = [0.2, 0.5, 1, 2, 3, 5, 8, 13]


async def start(
    kopf_settings: kopf.OperatorSettings, memo: kopf.Memo, settings: OperatorSettings
) -> None:
    """Configure Kopf, open every client, create the peering object; the result goes to memo."""
    configure_kopf(kopf_settings, settings)
    workers = settings.max_in_flight + 4  # applies plus a few reads, each on its own connection
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))
    kube = Kube(load_client(pool_size=workers), max_in_flight=settings.max_in_flight)
    if not kopf_settings.peering.standalone:
        # Namespaced operators meet in a KopfPeering per namespace, cluster-wide ones in one object.
        namespaces: list[str | None] = [*memo.get("namespaces", [])] or [None]
        for namespace in namespaces:
            try:
                await kube.ensure_peering(kopf_settings.peering.name, namespace)
            except PeeringMissing as exc:
                raise kopf.PermanentError(str(exc)) from exc
    influx = InfluxBuckets(
        url=settings.influx_url, org=settings.influx_org, token=await _influx_token(kube, settings)
    )
    health = Health()
    probes = health_server(health, settings.metrics_port)
    await probes.start()
    memo.services = Services(
        settings=settings,
        kube=kube,
        topics=KafkaTopics(settings.kafka_bootstrap, security=settings.kafka_security),
        influx=influx,
        health=health,
        passes=PassCache(
            horizon_s=settings.pass_horizon_hours * 3600, refresh_s=settings.status_refresh_seconds
        ),
        last_telemetry=LastTelemetry(influx),
        probes=probes,
        discovery=Discovery(kube, ttl_s=settings.resync_seconds),
    )
    log.info(
        "operator started",
        extra={"kafka": settings.kafka_bootstrap, "influx": settings.influx_url},
    )


async def _influx_token(kube: Kube, settings: OperatorSettings) -> str:
    if settings.influx_token:
        return settings.influx_token
    if not settings.influx_token_secret or "/" not in settings.influx_token_secret:
        raise kopf.PermanentError(
            "set MPCS_INFLUX_TOKEN, or MPCS_INFLUX_TOKEN_SECRET as namespace/name (key: token)"
        )
    namespace, name = settings.influx_token_secret.split("/", 1)
    data = await kube.read_secret_data(namespace, name)
    if not data or "token" not in data:
        raise kopf.PermanentError(f"Secret {namespace}/{name} has no key 'token'")
    return data["token"]
