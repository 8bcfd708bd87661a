"""InfluxDB access of the command API: Flux queries (telemetry, command history) and writes
(the `commands` audit measurement), through the kit's `InfluxBucket`.

Flux text is built here from validated pieces only: satellite names are DNS labels, channels come
from the catalogue, times are formatted by us, so no user text reaches a query unchecked
(`flux_string` quotes what remains). Rows come typed from the kit's annotated-CSV parser.
"""

from __future__ import annotations

from typing import Any

from mpcs.core.names import COMMANDS_MEASUREMENT, SATELLITE_TAG, SUBSYSTEM_MEASUREMENTS
from mpcs.core.telemetry import CHANNEL_INDEX
from mpcs.kit.influx import InfluxBucket, flux_string


class Influx:
    """One mission bucket, with a bucket-scoped token."""

    def __init__(
        self, *, url: str, org: str, bucket: str, token: str, timeout_s: float = 10.0
    ) -> None:
        self.org = org
        self.bucket = bucket
        self._db = InfluxBucket(url=url, org=org, bucket=bucket, token=token, timeout_s=timeout_s)

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        """Raise `mpcs.kit.influx.InfluxUnavailable` unless the server says it is healthy."""
        await self._db.ping()

    async def query(self, flux: str) -> list[dict[str, Any]]:
        return await self._db.query(flux)

    async def write(self, lines: list[str]) -> None:
        """Write line protocol (ns precision) to the mission bucket; InfluxError if not."""
        if lines:
            await self._db.write("\n".join(lines).encode())

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
