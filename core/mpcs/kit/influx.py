r"""InfluxDB 2 over its HTTP API: writes, Flux queries and health, for one bucket.

The ingest writes telemetry, the command API writes its audit points and queries telemetry and
command history; both go through `InfluxBucket`, so a failure means the same thing everywhere:

- `InfluxRejected`: InfluxDB refused the *data* (400 bad line protocol or field-type conflict,
  413 too large, 422 outside retention). Sending the same body again cannot help.
- `InfluxUnavailable`: the request did not happen and may succeed later (unreachable, timeout,
  5xx, 429), or the credentials/bucket are refused (401/403/404); `kind` says which.

httpx rather than influxdb-client: the callers already hold line protocol and Flux text, and
`bench/ingest_throughput.py` measures both clients on the same batches (docs/ingest.md).

Query results come in Flux's annotated CSV; `parse_annotated_csv` is the one parser of it.
Flux text is built by the callers from validated pieces; `flux_string` quotes what remains.

>>> print(flux_string('a"b\\c'))
"a\"b\\c"
>>> parse_annotated_csv(
...     "#datatype,string,long,string,double\r\n"
...     ",result,table,satellite,_value\r\n,_result,0,sat-1,1.5\r\n\r\n"
... )
[{'satellite': 'sat-1', '_value': 1.5}]
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
from typing import Any, Literal

import httpx

FailureKind = Literal["unreachable", "server", "auth"]

#: Columns of annotated CSV that describe the result's layout rather than a row's data.
_LAYOUT_COLUMNS = frozenset(("", "result", "table"))


class InfluxError(RuntimeError):
    """An InfluxDB request that did not do what was asked; the message says why."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the points themselves (not worth retrying unchanged)."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(f"InfluxDB rejected the write: {status} {text}")


class InfluxUnavailable(InfluxError):
    """The request did not happen and may succeed later; `kind` says why."""

    def __init__(
        self, message: str, *, kind: FailureKind = "unreachable", retry_after_s: float | None = None
    ) -> None:
        self.kind = kind
        self.retry_after_s = retry_after_s
        super().__init__(message)


def flux_string(value: str) -> str:
    """A Flux string literal (quotes, backslashes and `${` interpolation escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _convert(kind: str, text: str) -> Any:
    if text == "":
        return None
    if kind == "double":
        return float(text)
    if kind in ("long", "unsignedLong"):
        return int(text)
    if kind == "boolean":
        return text == "true"
    return text


def parse_annotated_csv(text: str) -> list[dict[str, Any]]:
    """Every data row of every table, keyed by that table's header.

    Tables are separated by blank lines, each with its own header. With a `#datatype` annotation
    the values are typed (`double` → float, `long` → int, `boolean` → bool, empty → None),
    without one they stay strings; other annotations and the layout columns (`result`, `table`)
    are dropped.
    """
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []
    header: list[str] | None = None
    for cells in csv.reader(io.StringIO(text)):
        if not cells or not any(cells):
            header, kinds = None, []
            continue
        if cells[0] == "#datatype":
            kinds, header = cells, None
            continue
        if cells[0].startswith("#"):
            continue
        if header is None:
            header = cells
            continue
        if kinds:
            rows.append(
                {
                    name: _convert(kinds[i] if i < len(kinds) else "string", cell)
                    for i, (name, cell) in enumerate(zip(header, cells, strict=False))
                    if name not in _LAYOUT_COLUMNS
                }
            )
        else:
            rows.append(
                {
                    name: cell
                    for name, cell in zip(header, cells, strict=False)
                    if name not in _LAYOUT_COLUMNS
                }
            )
    return rows


class InfluxBucket:
    """Writes to and queries one bucket with a token that may do so."""

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
        self.org = org
        self.bucket = bucket
        self._gzip = use_gzip
        self._write_params = {"org": org, "bucket": bucket, "precision": "ns"}
        # Per request, not on the client: a query's JSON body needs its own Content-Type.
        self._write_headers = {"Content-Type": "text/plain; charset=utf-8"}
        if use_gzip:
            self._write_headers["Content-Encoding"] = "gzip"
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Token {token}"},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def write(self, body: bytes) -> None:
        """Write newline-separated line protocol (ns precision).

        Raises InfluxRejected (the data) or InfluxUnavailable (anything else).
        """
        if self._gzip:
            body = await asyncio.to_thread(gzip.compress, body, 1)
        try:
            response = await self._http.post(
                "/api/v2/write",
                params=self._write_params,
                content=body,
                headers=self._write_headers,
            )
        except httpx.TimeoutException as exc:
            raise InfluxUnavailable(f"InfluxDB write timed out ({exc!r})") from None
        except httpx.TransportError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        text = response.text[:500]
        if status in (400, 413, 422):
            raise InfluxRejected(status, text)
        if status in (401, 403, 404):
            raise InfluxUnavailable(
                f"InfluxDB refused bucket {self.bucket!r}: {status} {text}", kind="auth"
            )
        raise InfluxUnavailable(
            f"InfluxDB write failed: {status} {text}",
            kind="server",
            retry_after_s=_retry_after(response.headers.get("Retry-After")),
        )

    async def query(self, flux: str) -> list[dict[str, Any]]:
        """The typed rows of a Flux query; InfluxUnavailable when it cannot be answered."""
        try:
            response = await self._http.post(
                "/api/v2/query",
                params={"org": self.org},
                json={
                    "query": flux,
                    "type": "flux",
                    "dialect": {"header": True, "annotations": ["datatype"], "delimiter": ","},
                },
                headers={"Accept": "application/csv"},
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise InfluxUnavailable(
                f"InfluxDB query failed: {response.status_code} {response.text[:300]}",
                kind="auth" if response.status_code in (401, 403, 404) else "server",
            )
        return parse_annotated_csv(response.text)

    async def health(self) -> str | None:
        """None when InfluxDB answers `/health` with 200, else the reason."""
        try:
            response = await self._http.get("/health", timeout=3.0)
        except httpx.HTTPError as exc:
            return f"InfluxDB unreachable: {exc!r}"
        if response.status_code != 200:
            return f"InfluxDB /health: {response.status_code} {response.text[:200]}"
        return None

    async def ping(self) -> None:
        """Raise InfluxUnavailable unless InfluxDB says it is healthy."""
        problem = await self.health()
        if problem is not None:
            raise InfluxUnavailable(problem)


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
