"""InfluxDB 2 access of the command API: Flux queries (telemetry, command history) and writes
(the `commands` audit measurement), over the HTTP API with httpx.

Flux text is built here from validated pieces only: satellite names are DNS labels, channels come
from the catalogue, times are formatted by us, so no user text reaches a query unchecked
(`flux_string` quotes what remains). Query results use the annotated-CSV dialect and are parsed
into typed rows (`double` → float, `long` → int, `boolean` → bool, `dateTime` → str).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx

from mpcs.core.names import COMMANDS_MEASUREMENT, SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.core.telemetry import CHANNEL_INDEX


class InfluxUnavailable(RuntimeError):
    """InfluxDB did not answer or refused the request; the message says why."""


def flux_string(value: str) -> str:
    r"""A Flux string literal.

    >>> print(flux_string('a"b\\c'))
    "a\"b\\c"
    """
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


def parse_annotated_csv(text: str) -> Iterator[dict[str, Any]]:
    """Rows of an annotated-CSV Flux response (`#datatype` annotation), typed per column."""
    kinds: list[str] = []
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or all(cell == "" for cell in row):
            header = None
            continue
        if row[0] == "#datatype":
            kinds, header = row, None
            continue
        if row[0].startswith("#"):
            continue
        if header is None:
            header = row
            continue
        yield {
            name: _convert(kinds[i] if i < len(kinds) else "string", cell)
            for i, (name, cell) in enumerate(zip(header, row, strict=False))
            if name and name not in ("result", "table")
        }


class Influx:
    """One mission bucket, with a bucket-scoped token."""

    def __init__(
        self, *, url: str, org: str, bucket: str, token: str, timeout_s: float = 10.0
    ) -> None:
        self.org = org
        self.bucket = bucket
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Token {token}"},
            timeout=timeout_s,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def ping(self) -> None:
        """Raise InfluxUnavailable unless the server says it is healthy."""
        try:
            response = await self._http.get("/health", timeout=2.0)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise InfluxUnavailable(f"InfluxDB /health answered {response.status_code}")

    async def query(self, flux: str) -> list[dict[str, Any]]:
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
                f"InfluxDB query failed: {response.status_code} {response.text[:300]}"
            )
        return list(parse_annotated_csv(response.text))

    async def write(self, lines: list[str]) -> None:
        """Write line protocol (ns precision) to the mission bucket."""
        if not lines:
            return
        try:
            response = await self._http.post(
                "/api/v2/write",
                params={"org": self.org, "bucket": self.bucket, "precision": "ns"},
                content="\n".join(lines).encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        if response.status_code not in (200, 204):
            raise InfluxUnavailable(
                f"InfluxDB write failed: {response.status_code} {response.text[:300]}"
            )

    # --- queries ---------------------------------------------------------------------------------

    def latest_flux(self, satellite: str, *, lookback: str = "-30d") -> str:
        """Last value of every field of every subsystem measurement of one satellite."""
        measurements = "[" + ", ".join(flux_string(m) for m in SUBSYSTEM_MEASUREMENTS) + "]"
        return (
            f"from(bucket: {flux_string(self.bucket)})\n"
            f"  |> range(start: {lookback})\n"
            f"  |> filter(fn: (r) => r.{SATELLITE_TAG} == {flux_string(satellite)} and "
            f"contains(value: r._measurement, set: {measurements}))\n"
            "  |> last()\n"
            '  |> keep(columns: ["_time", "_measurement", "_field", "_value"])'
        )

    async def latest(self, satellite: str) -> list[dict[str, Any]]:
        return await self.query(self.latest_flux(satellite))

    def series_flux(
        self, satellite: str, channel: str, *, start: str, stop: str, every: str, fn: str
    ) -> str:
        """One channel aggregated in `every` windows between `start` and `stop`."""
        spec = CHANNEL_INDEX[channel]
        return (
            f"from(bucket: {flux_string(self.bucket)})\n"
            f"  |> range(start: {start}, stop: {stop})\n"
            f"  |> filter(fn: (r) => r._measurement == {flux_string(spec.subsystem)} and "
            f"r.{SATELLITE_TAG} == {flux_string(satellite)} and "
            f"r._field == {flux_string(spec.name)})\n"
            f"  |> aggregateWindow(every: {every}, fn: {fn}, createEmpty: false)\n"
            '  |> keep(columns: ["_time", "_value"])'
        )

    async def series(
        self, satellite: str, channel: str, *, start: str, stop: str, every: str, fn: str
    ) -> list[dict[str, Any]]:
        return await self.query(
            self.series_flux(satellite, channel, start=start, stop=stop, every=every, fn=fn)
        )

    def commands_flux(self, *, start: str, command_id: str | None = None) -> str:
        """Audit points of the `commands` measurement, one row per point (fields pivoted)."""
        where = f"r._measurement == {flux_string(COMMANDS_MEASUREMENT)}"
        if command_id is not None:
            where += f" and r.id == {flux_string(command_id)}"
        return (
            f"from(bucket: {flux_string(self.bucket)})\n"
            f"  |> range(start: {start})\n"
            f"  |> filter(fn: (r) => {where})\n"
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
            "  |> group()\n"
            '  |> sort(columns: ["_time"])'
        )

    async def commands(self, *, start: str, command_id: str | None = None) -> list[dict[str, Any]]:
        return await self.query(self.commands_flux(start=start, command_id=command_id))
