"""What a Mission's runners leave in AWS, removed when the Mission is deleted.

No Kubernetes object owns these, so garbage collection cannot remove them:

- the alerts runner's SQS queue `mpcs-alerts-<ns>-<mission>` and its subscription to the alerts
  topic (docs/alerts.md#in-the-cluster) — always removed: left behind, the topic would keep
  filling a queue nobody reads;
- the mission's items in the alerts table (partition `<ns>/<mission>`: alert state, watermarks)
  — always removed: they are state, not history (the events topic and the `alerts` measurement
  hold that, and follow the deletion policy), and a Mission created again under the same name
  must not inherit firing alerts;
- the mission's archive in S3 (`telemetry/<ns>/<mission>/`, `products/<ns>/<mission>/`,
  docs/archive.md) — stored telemetry, so removed only with `deletionPolicy: Delete`.

`reconcile.mission.on_delete` calls `remove` once the runners are gone (a runner still running
would recreate its queue or write items again). Every step is idempotent: what is already gone
is skipped, so a retry after a failure finishes the job. Blocking boto3 calls run in a worker
thread, with the operator's own AWS settings (the same credentials it hands the runners).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from mpcs.kit.alerts_table import AlertTable, remove_queue
from mpcs.operator.kube import Kube
from mpcs.operator.settings import OperatorSettings

#: The archive's key prefixes of a mission (docs/archive.md#key-layout).
ARCHIVE_PREFIXES = ("telemetry", "products")
_DELETE_OBJECTS_MAX = 1000


@dataclass
class Removed:
    """What `remove` found and deleted."""

    subscriptions_and_queues: list[str] = field(default_factory=list)
    alert_items: int = 0
    archive_objects: int = 0

    def summary(self) -> str:
        return (
            f"removed {len(self.subscriptions_and_queues)} alerts queue/subscription(s), "
            f"{self.alert_items} alert item(s), {self.archive_objects} archive object(s)"
        )


async def credentials(settings: OperatorSettings, kube: Kube) -> dict[str, str]:
    """boto3 client arguments: region, endpoint and the operator's keys (none: the SDK's own
    chain, e.g. pod identity)."""
    out: dict[str, str] = {}
    if settings.aws_region:
        out["region_name"] = settings.aws_region
    if settings.aws_endpoint_url:
        out["endpoint_url"] = settings.aws_endpoint_url
    key_id, secret_key = settings.aws_access_key_id, settings.aws_secret_access_key
    if not (key_id and secret_key) and settings.aws_credentials_secret:
        namespace, name = settings.aws_credentials_secret.split("/", 1)
        data = await kube.read_secret_data(namespace, name) or {}
        key_id, secret_key = data.get("access_key_id"), data.get("secret_access_key")
    if key_id and secret_key:
        out["aws_access_key_id"] = key_id
        out["aws_secret_access_key"] = secret_key
    return out


def remove_sync(
    clients: Any,
    settings: OperatorSettings,
    *,
    namespace: str,
    mission: str,
    archive: bool,
) -> Removed:
    """The removal itself (blocking); `clients(service)` gives a boto3 client."""
    removed = Removed()
    if settings.alerts_topic_arn:
        removed.subscriptions_and_queues = remove_queue(
            clients("sqs"),
            clients("sns"),
            topic_arn=settings.alerts_topic_arn,
            namespace=namespace,
            mission=mission,
        )
        table = AlertTable(clients("dynamodb"), settings.alerts_table)
        removed.alert_items = table.delete_mission(f"{namespace}/{mission}")
    if archive and settings.archive_bucket:
        s3 = clients("s3")
        for prefix in ARCHIVE_PREFIXES:
            removed.archive_objects += _delete_prefix(
                s3, settings.archive_bucket, f"{prefix}/{namespace}/{mission}/"
            )
    return removed


async def remove(
    settings: OperatorSettings, kube: Kube, *, namespace: str, mission: str, archive: bool
) -> Removed:
    """Remove the mission's alerts queue, subscription and items, and with `archive` its S3
    archive (nothing when the operator has no alerts topic or archive bucket)."""
    if not settings.alerts_topic_arn and not (archive and settings.archive_bucket):
        return Removed()
    kwargs = await credentials(settings, kube)

    def _run() -> Removed:
        import boto3

        session = boto3.session.Session()
        made: dict[str, Any] = {}

        def clients(service: str) -> Any:
            if service not in made:
                made[service] = session.client(service, **kwargs)
            return made[service]

        return remove_sync(clients, settings, namespace=namespace, mission=mission, archive=archive)

    return await asyncio.to_thread(_run)


def _delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    deleted = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for start in range(0, len(keys), _DELETE_OBJECTS_MAX):
            chunk = keys[start : start + _DELETE_OBJECTS_MAX]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise RuntimeError(
                    f"s3://{bucket}/{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
            deleted += len(chunk)
        if not page.get("IsTruncated"):
            return deleted
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
