"""InfluxDB 2 writes for the ingest: `POST /api/v2/write` over httpx, with failures classified.

httpx rather than influxdb-client's async write API: the ingest already holds line protocol, and
`bench/ingest_throughput.py` measures both clients on the same batches (docs/ingest.md has the
numbers). Every outcome other than 204 maps to one of two exceptions:

- `WriteRejected` — InfluxDB refused the *data* (400 bad line protocol or field-type conflict,
  413 too large, 422 outside retention). Retrying the same body cannot help; the ingest splits the
  batch to find the offending messages and dead-letters them.
- `WriteFailed` — InfluxDB could not take the write right now (unreachable, timeout, 5xx, 429) or
  refuses the credentials/bucket (401/403/404). Retried with exponential backoff; the data stays in
  Kafka uncommitted meanwhile.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Literal

import httpx

FailureKind = Literal["unreachable", "server", "auth"]


class WriteRejected(Exception):
    """InfluxDB refused the points themselves (not worth retrying unchanged)."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(f"InfluxDB rejected the write: {status} {text}")


class WriteFailed(Exception):
    """The write did not happen and may succeed later; `kind` says why."""

    def __init__(self, kind: FailureKind, message: str, retry_after_s: float | None = None) -> None:
        self.kind = kind
        self.retry_after_s = retry_after_s
        super().__init__(message)


class InfluxWriter:
    """Writes line protocol to one bucket and answers InfluxDB's health."""

    def __init__(
        self,
        *,
        url: str,
        org: str,
        bucket: str,
        token: str,
        timeout_s: float = 30.0,
        use_gzip: bool = False,
    ) -> None:
        self.bucket = bucket
        self._gzip = use_gzip
        self._params = {"org": org, "bucket": bucket, "precision": "ns"}
        self._http = httpx.AsyncClient(
            base_url=url,
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": "text/plain; charset=utf-8",
            },
            timeout=httpx.Timeout(timeout_s, connect=5.0),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def write(self, body: bytes) -> None:
        """Write `body` (newline-separated line protocol); raises WriteRejected or WriteFailed."""
        headers = None
        if self._gzip:
            body = await asyncio.to_thread(gzip.compress, body, 1)
            headers = {"Content-Encoding": "gzip"}
        try:
            response = await self._http.post(
                "/api/v2/write", params=self._params, content=body, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise WriteFailed("unreachable", f"InfluxDB write timed out ({exc!r})") from None
        except httpx.TransportError as exc:
            raise WriteFailed("unreachable", f"InfluxDB unreachable: {exc!r}") from None
        status = response.status_code
        if status == 204 or 200 <= status < 300:
            return
        text = response.text[:500]
        if status in (400, 413, 422):
            raise WriteRejected(status, text)
        if status in (401, 403, 404):
            raise WriteFailed("auth", f"InfluxDB refused bucket {self.bucket!r}: {status} {text}")
        retry_after = _retry_after(response.headers.get("Retry-After"))
        raise WriteFailed("server", f"InfluxDB write failed: {status} {text}", retry_after)

    async def health(self) -> str | None:
        """None when InfluxDB answers `/health` with `pass`, else the reason."""
        try:
            response = await self._http.get("/health", timeout=3.0)
        except httpx.HTTPError as exc:
            return f"InfluxDB unreachable: {exc!r}"
        if response.status_code != 200:
            return f"InfluxDB /health: {response.status_code} {response.text[:200]}"
        return None


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
