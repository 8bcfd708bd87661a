"""Time conversions shared by the model, the CLI and the runtime.

The model keeps time as integer nanoseconds since the Unix epoch (UTC), which is exact, cheap to
compare and what telemetry carries on the wire; SGP4 wants a two-part Julian date (`jd`, `fr`) so
that float precision is not lost on the large day number.

>>> jd, fr = jday_from_ns(946_728_000_000_000_000)  # 2000-01-01T12:00:00Z
>>> jd + fr
2451545.0
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
UNIX_EPOCH_JD = 2440587.5

FloatArray = npt.NDArray[np.float64]

_TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")

__all__ = [
    "NS_PER_DAY",
    "NS_PER_S",
    "datetime_from_ns",
    "format_rfc3339",
    "format_time_ns",
    "jday_array_from_ns",
    "jday_from_ns",
    "ns_from_datetime",
    "parse_rfc3339",
    "parse_time",
    "parse_time_ns",
]


def jday_from_ns(time_ns: int) -> tuple[float, float]:
    """Two-part Julian date (whole days ending in .5, fraction of day) of a UTC instant."""
    days, rem = divmod(time_ns, NS_PER_DAY)
    return UNIX_EPOCH_JD + days, rem / NS_PER_DAY


def jday_array_from_ns(times_ns: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Vectorised jday_from_ns."""
    days, rem = np.divmod(times_ns, NS_PER_DAY)
    return UNIX_EPOCH_JD + days.astype(np.float64), rem.astype(np.float64) / NS_PER_DAY


def ns_from_datetime(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1_000


def datetime_from_ns(time_ns: int) -> datetime:
    """Aware UTC datetime (microsecond resolution) of an instant in nanoseconds."""
    seconds, nanos = divmod(time_ns, NS_PER_S)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1_000)


def parse_time(text: str) -> int:
    """Parse a user-supplied UTC time ('now', ISO-8601 with Z or an offset) into nanoseconds.

    >>> parse_time("2024-03-01T00:00:00Z") == parse_time("2024-03-01T01:00:00+01:00")
    True
    """
    if text == "now":
        return ns_from_datetime(datetime.now(UTC))
    if text.endswith("Z"):
        try:
            return parse_time_ns(text)
        except ValueError:
            pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use ISO-8601 UTC like 2025-01-01T00:00:00Z or 'now'"
        ) from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone; add Z for UTC")
    return ns_from_datetime(value)


def format_time_ns(time_ns: int) -> str:
    """UTC ISO-8601 with nanoseconds and `Z` (the wire format of every MPCS timestamp)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def parse_time_ns(text: str) -> int:
    """Inverse of format_time_ns; accepts 0–9 fractional digits, requires `Z`."""
    match = _TIME_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a UTC time like 2025-01-01T00:00:00.000000000Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(9, "0")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * 1_000_000_000 + int(fraction)


def format_rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`: how every time in a resource's status is written.

    >>> format_rfc3339(datetime(2025, 6, 1, 12, 0, 1, 234567, tzinfo=UTC))
    '2025-06-01T12:00:01.234Z'
    """
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time (from a spec or a status) as an aware UTC datetime; naive means UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2025-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
