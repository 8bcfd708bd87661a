"""Two-line element sets: strict parsing with errors that name line and column, and orbit summary.

Called by the CLI (user files), the UPDATE_TLE command and the Satellite spec model (which parses
a TLE once, while validating, for the operator, the API and the simulator). Parsing is strict
because a TLE that SGP4 silently misreads gives a plausible but wrong orbit — the worst failure
for ops.

>>> tle = parse_tle('''ISS (ZARYA)
... 1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
... 2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537''')
>>> tle.name, tle.satnum, round(orbit_summary(tle).period_min, 2)
('ISS (ZARYA)', '25544', 91.6)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sgp4.api import WGS72, Satrec

from .timeutil import ns_from_datetime

#: Earth radius of the WGS72 constants SGP4 uses for TLEs (km).
EARTH_RADIUS_WGS72_KM = 6378.135
_LINE_LENGTH = 69


class TleError(ValueError):
    """A malformed TLE; `line` and `column` are 1-based positions in the text the user gave."""

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"TLE line {line}, column {column}: {message}")


@dataclass(frozen=True)
class Tle:
    """A validated TLE and its SGP4 record (WGS72 constants, the TLE convention)."""

    name: str
    line1: str
    line2: str
    satnum: str
    epoch_ns: int
    inclination_deg: float
    raan_deg: float
    eccentricity: float
    argp_deg: float
    mean_anomaly_deg: float
    mean_motion_rev_day: float
    bstar: float
    satrec: Satrec = field(compare=False, repr=False)

    @property
    def epoch(self) -> datetime:
        """Element-set epoch (UTC)."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.epoch_ns // 1000)


class OrbitSummary(NamedTuple):
    """What Satellite status shows: period, inclination, apogee and perigee heights."""

    period_min: float
    inclination_deg: float
    apogee_km: float
    perigee_km: float


# (first column, last column, name) of each numeric field, 1-based inclusive as in the TLE spec.
_LINE1_FIELDS = (
    (19, 20, "epoch year"),
    (21, 32, "epoch day"),
    (34, 43, "first derivative of mean motion"),
)
_LINE2_FIELDS = (
    (9, 16, "inclination", 0.0, 180.0),
    (18, 25, "right ascension of ascending node", 0.0, 360.0),
    (35, 42, "argument of perigee", 0.0, 360.0),
    (44, 51, "mean anomaly", 0.0, 360.0),
    (53, 63, "mean motion", 0.0, 20.0),
)


def parse_tle(text: str) -> Tle:
    """Parse two lines, or three with a name line first; raise TleError naming line and column."""
    lines, offset = _split_lines(text)
    name = ""
    if len(lines) == 3:
        name = lines[0].strip()
        if name.startswith("0 "):
            name = name[2:].strip()
        lines = lines[1:]
        offset += 1
    line1, line2 = (line.rstrip() for line in lines)
    _check_line(line1, number=1, where=offset + 1)
    _check_line(line2, number=2, where=offset + 2)
    if line1[2:7] != line2[2:7]:
        raise TleError(
            offset + 2, 3, f"catalogue number {line2[2:7]!r} differs from line 1's {line1[2:7]!r}"
        )
    fields = _parse_fields(line1, line2, first_line=offset + 1)
    satrec = Satrec.twoline2rv(line1, line2, WGS72)
    if satrec.error != 0:
        raise TleError(
            offset + 2, 53, f"SGP4 cannot initialise these elements (error {satrec.error})"
        )
    return Tle(
        name=name or line1[2:7].strip(),
        line1=line1,
        line2=line2,
        satnum=line1[2:7].strip(),
        satrec=satrec,
        **fields,
    )


def _split_lines(text: str) -> tuple[list[str], int]:
    raw = text.splitlines()
    # Leading blank lines are tolerated but still counted, so error positions match the file.
    offset = 0
    while raw and not raw[0].strip():
        raw.pop(0)
        offset += 1
    while raw and not raw[-1].strip():
        raw.pop()
    if len(raw) not in (2, 3):
        # Point at the first missing line, or at the first line too many.
        where = offset + (len(raw) + 1 if len(raw) < 2 else 4)
        raise TleError(where, 1, f"expected 2 lines (or 3 with a name line first), got {len(raw)}")
    for index, line in enumerate(raw):
        for column, char in enumerate(line, start=1):
            if not (char.isascii() and char.isprintable()):
                raise TleError(
                    offset + index + 1, column, f"non-ASCII or control character {char!r}"
                )
    return raw, offset


def _check_line(line: str, *, number: int, where: int) -> None:
    if len(line) != _LINE_LENGTH:
        column = min(len(line), _LINE_LENGTH) + 1
        raise TleError(where, column, f"line has {len(line)} characters, a TLE line has 69")
    if line[0] != str(number):
        raise TleError(where, 1, f"line number is {line[0]!r}, expected '{number}'")
    if line[1] != " ":
        raise TleError(where, 2, f"expected a space, got {line[1]!r}")
    if not line[68].isdigit():
        raise TleError(where, 69, f"checksum {line[68]!r} is not a digit")
    expected = tle_checksum(line)
    if int(line[68]) != expected:
        raise TleError(where, 69, f"checksum is {line[68]}, the line sums to {expected}")


def _number(line: str, first: int, last: int, what: str, where: int) -> float:
    raw = line[first - 1 : last].strip()
    try:
        return float(raw)
    except ValueError:
        raise TleError(where, first, f"{what} {raw!r} is not a number") from None


def _implied_decimal(line: str, first: int, last: int, what: str, where: int) -> float:
    """Fields like ' 12345-3' meaning 0.12345e-3 (BSTAR, second derivative)."""
    raw = line[first - 1 : last].strip()
    if not raw:
        return 0.0
    sign = -1.0 if raw[0] == "-" else 1.0
    body = raw.lstrip("+-")
    try:
        mantissa, exponent = body[:-2], int(body[-2:])
        return sign * float(f"0.{mantissa}") * 10.0**exponent
    except ValueError:
        raise TleError(where, first, f"{what} {raw!r} is not in TLE exponent form") from None


def _parse_fields(line1: str, line2: str, *, first_line: int) -> dict[str, Any]:
    l1, l2 = first_line, first_line + 1
    values = {what: _number(line1, a, b, what, l1) for a, b, what in _LINE1_FIELDS}
    year = int(values["epoch year"])
    day = values["epoch day"]
    if not 1.0 <= day < 367.0:
        raise TleError(l1, 21, f"epoch day {day} is not in 1..366")
    bstar = _implied_decimal(line1, 54, 61, "BSTAR drag term", l1)
    _implied_decimal(line1, 45, 52, "second derivative of mean motion", l1)
    elements: dict[str, float] = {}
    for a, b, what, lo, hi in _LINE2_FIELDS:
        value = _number(line2, a, b, what, l2)
        if not lo <= value <= hi:
            raise TleError(l2, a, f"{what} {value} is not in {lo:g}..{hi:g}")
        elements[what] = value
    if elements["mean motion"] <= 0.0:
        raise TleError(l2, 53, "mean motion must be positive")
    ecc_raw = line2[26:33]
    if not ecc_raw.strip().isdigit():
        raise TleError(l2, 27, f"eccentricity {ecc_raw!r} is not 7 digits (implied leading '0.')")
    full_year = year + (1900 if year >= 57 else 2000)
    epoch = datetime(full_year, 1, 1, tzinfo=UTC) + timedelta(days=day - 1.0)
    return {
        "epoch_ns": ns_from_datetime(epoch),
        "inclination_deg": elements["inclination"],
        "raan_deg": elements["right ascension of ascending node"],
        "eccentricity": float("0." + ecc_raw.strip()),
        "argp_deg": elements["argument of perigee"],
        "mean_anomaly_deg": elements["mean anomaly"],
        "mean_motion_rev_day": elements["mean motion"],
        "bstar": bstar,
    }


def orbit_summary(tle: Tle) -> OrbitSummary:
    """Period (from the TLE mean motion), inclination, apogee and perigee heights (WGS72 radius).

    Cheap (no propagation): the operator refreshes it for every Satellite.
    """
    satrec = tle.satrec
    return OrbitSummary(
        period_min=1440.0 / tle.mean_motion_rev_day,
        inclination_deg=math.degrees(satrec.inclo),
        apogee_km=satrec.alta * EARTH_RADIUS_WGS72_KM,
        perigee_km=satrec.altp * EARTH_RADIUS_WGS72_KM,
    )


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of a TLE line's first 68 columns: digits count, '-' counts one.

    >>> tle_checksum("1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927")
    7
    """
    total = 0
    for char in line[:68]:
        if char.isdigit():
            total += int(char)
        elif char == "-":
            total += 1
    return total % 10
