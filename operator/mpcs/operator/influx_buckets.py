"""Mission InfluxDB buckets and bucket-scoped tokens, through the InfluxDB 2 HTTP API.

httpx (async) rather than influxdb-client, whose async client has no bucket or authorization API.
Everything is found by name/description first, so each call converges instead of duplicating.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx

from mpcs.kit.influx import parse_annotated_csv
from mpcs.orbit.timeutil import format_rfc3339, parse_rfc3339

_TOKEN_DESCRIPTION = "mpcs bucket token: {bucket}"
#: The dashboards' token: read-only, on the mission's bucket alone (never the ingest's token).
_READ_TOKEN_DESCRIPTION = "mpcs dashboards read token: {bucket}"


class InfluxError(RuntimeError):
    """InfluxDB refused a request; the message carries its reason."""


@dataclass(frozen=True)
class BucketState:
    id: str
    name: str
    retention_seconds: int
    token: str


class InfluxBuckets:
    def __init__(self, *, url: str, org: str, token: str) -> None:
        self._org = org
        self._http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=15.0
        )
        self._org_id: str | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise InfluxError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def org_id(self) -> str:
        if self._org_id is None:
            orgs = await self._call("GET", "/api/v2/orgs", params={"org": self._org})
            if not orgs.get("orgs"):
                raise InfluxError(f"organisation {self._org!r} does not exist")
            self._org_id = str(orgs["orgs"][0]["id"])
        return self._org_id

    async def find_bucket(self, name: str) -> dict[str, Any] | None:
        params = {"name": name, "orgID": await self.org_id()}
        response = await self._http.get("/api/v2/buckets", params=params)
        if response.status_code == 404:  # InfluxDB answers a name filter with no match so
            return None
        if response.status_code >= 400:
            raise InfluxError(f"GET /api/v2/buckets: {response.status_code} {response.text[:300]}")
        found = response.json()
        buckets = found.get("buckets") or []
        return buckets[0] if buckets else None

    async def ensure_bucket(self, name: str, *, retention_seconds: int) -> BucketState:
        """Create the bucket or converge its retention; then ensure its read/write token."""
        rules = [{"type": "expire", "everySeconds": retention_seconds}]
        bucket = await self.find_bucket(name)
        if bucket is None:
            bucket = await self._create_bucket(name, rules)
        elif _retention(bucket) != retention_seconds:
            bucket = await self._call(
                "PATCH", f"/api/v2/buckets/{bucket['id']}", json={"retentionRules": rules}
            )
        token = await self._ensure_token(
            bucket_id=bucket["id"],
            description=_TOKEN_DESCRIPTION.format(bucket=name),
            actions=("read", "write"),
        )
        return BucketState(
            id=bucket["id"], name=name, retention_seconds=retention_seconds, token=token
        )

    async def _create_bucket(self, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        """Create a bucket; when a concurrent reconcile created it first, that one is the answer."""
        response = await self._http.post(
            "/api/v2/buckets",
            json={"name": name, "orgID": await self.org_id(), "retentionRules": rules},
        )
        if response.status_code == 422 and "already exists" in response.text:
            found = await self.find_bucket(name)
            if found is not None:
                return found
        if response.status_code >= 400:
            raise InfluxError(f"POST /api/v2/buckets: {response.status_code} {response.text[:300]}")
        created: dict[str, Any] = response.json()
        return created

    async def ensure_read_token(self, bucket: str) -> str:
        """A token that can only read `bucket` (the dashboards' datasource); created once."""
        found = await self.find_bucket(bucket)
        if found is None:
            raise InfluxError(f"bucket {bucket} does not exist")
        return await self._ensure_token(
            bucket_id=found["id"],
            description=_READ_TOKEN_DESCRIPTION.format(bucket=bucket),
            actions=("read",),
        )

    async def delete_read_token(self, bucket: str) -> bool:
        """Revoke the dashboards' token of `bucket`; False when there was none."""
        return await self._delete_tokens(_READ_TOKEN_DESCRIPTION.format(bucket=bucket)) > 0

    async def _ensure_token(
        self, *, bucket_id: str, description: str, actions: tuple[str, ...]
    ) -> str:
        org_id = await self.org_id()
        found = await self._call("GET", "/api/v2/authorizations", params={"orgID": org_id})
        for auth in found.get("authorizations", []):
            if auth.get("description") == description and auth.get("status") == "active":
                return str(auth["token"])
        resource = {"type": "buckets", "id": bucket_id, "orgID": org_id}
        created = await self._call(
            "POST",
            "/api/v2/authorizations",
            json={
                "orgID": org_id,
                "description": description,
                "permissions": [{"action": action, "resource": resource} for action in actions],
            },
        )
        return str(created["token"])

    async def _delete_tokens(self, description: str) -> int:
        found = await self._call(
            "GET", "/api/v2/authorizations", params={"orgID": await self.org_id()}
        )
        deleted = 0
        for auth in found.get("authorizations", []):
            if auth.get("description") == description:
                await self._call("DELETE", f"/api/v2/authorizations/{auth['id']}")
                deleted += 1
        return deleted

    async def write_lines(self, bucket: str, lines: list[str]) -> None:
        """Write line-protocol points (nanosecond times) into `bucket`."""
        if not lines:
            return
        await self._call(
            "POST",
            "/api/v2/write",
            params={"org": self._org, "bucket": bucket, "precision": "ns"},
            content="\n".join(lines).encode(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )

    async def delete_points(
        self, bucket: str, *, start: dt.datetime, stop: dt.datetime, predicate: str
    ) -> None:
        """Delete the points of `bucket` in [start, stop] matching the delete `predicate`."""
        await self._call(
            "POST",
            "/api/v2/delete",
            params={"org": self._org, "bucket": bucket},
            json={
                "start": format_rfc3339(start),
                "stop": format_rfc3339(stop),
                "predicate": predicate,
            },
        )

    async def last_telemetry(self, bucket: str) -> dict[str, dt.datetime]:
        """Time of the newest stored sample of each satellite in the bucket (last hour)."""
        query = (
            f'from(bucket: "{bucket}") |> range(start: -1h) '
            '|> filter(fn: (r) => r._measurement == "orbit" and r._field == "lat_deg") '
            '|> group(columns: ["satellite"]) |> last() |> keep(columns: ["satellite", "_time"])'
        )
        response = await self._http.post(
            "/api/v2/query",
            params={"orgID": await self.org_id()},
            headers={"Content-Type": "application/vnd.flux", "Accept": "application/csv"},
            content=query,
        )
        if response.status_code == 404:  # bucket not there (yet)
            return {}
        if response.status_code >= 400:
            raise InfluxError(f"query {bucket}: {response.status_code} {response.text[:300]}")
        return _parse_last_times(response.text)

    async def delete_bucket(self, name: str) -> bool:
        """Delete the bucket and its tokens; False when there was nothing to delete."""
        bucket = await self.find_bucket(name)
        await self._delete_tokens(_TOKEN_DESCRIPTION.format(bucket=name))
        await self._delete_tokens(_READ_TOKEN_DESCRIPTION.format(bucket=name))
        if bucket is None:
            return False
        await self._call("DELETE", f"/api/v2/buckets/{bucket['id']}")
        return True


def _parse_last_times(csv_text: str) -> dict[str, dt.datetime]:
    """`satellite → _time` of a `last()` query's result."""
    return {
        row["satellite"]: parse_rfc3339(row["_time"])
        for row in parse_annotated_csv(csv_text)
        if row.get("satellite") and row.get("_time")
    }


def _retention(bucket: dict[str, Any]) -> int:
    rules = bucket.get("retentionRules") or []
    return int(rules[0].get("everySeconds", 0)) if rules else 0
