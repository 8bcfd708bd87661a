r"""InfluxDB line-protocol escaping: the one rule set every MPCS writer follows.

The ingest (telemetry points) and the command API (the `commands` audit points) write line
protocol; both escape with these functions, and the ingest's native encoder
(`workloads/lineproto`) only accepts what they would leave unchanged (a satellite name of
`[A-Za-z0-9._-]`, string values of printable ASCII whose only escapes are `\"` and `\\`), which a
unit test checks character by character.

The rules, from the line-protocol reference
(https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/#special-characters):
a measurement escapes comma and space; tag keys, tag values and field keys escape comma, equals
sign and space; a string field value is double-quoted with `"` and `\` escaped. Line protocol
cannot carry a newline, carriage return or tab in a measurement, tag or field key (string field
*values* may hold them: checked against influxd 2.7), nor an empty tag value; a backslash in a tag
is ambiguous next to an escaped character. Such text raises `LineProtocolError`, naming the field,
rather than being stored as something else. Free text that must be stored anyway (the name a
user typed into a refused command) goes through `clean_tag` first, which replaces what a tag
cannot carry.

>>> escape_tag("sat a,b=c")
'sat\\ a\\,b\\=c'
>>> print(format_string('say "hi" \\o/'))
"say \"hi\" \\o/"
>>> escape_tag(clean_tag("a\\b\nc"))
'a/b\\ c'
"""

from __future__ import annotations

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
#: Characters no measurement, tag or field key can hold.
FORBIDDEN_IN_KEYS = ("\n", "\r", "\t")
#: What `clean_tag` puts in place of a character a tag cannot hold.
_TAG_CLEANUP = str.maketrans({"\\": "/", **dict.fromkeys(FORBIDDEN_IN_KEYS, " ")})
#: The tag value `clean_tag` writes for empty text (a tag cannot be empty).
EMPTY_TAG = "-"


class LineProtocolError(ValueError):
    """A value line protocol cannot represent; `path` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _check_key(path: str, text: str) -> None:
    for char in FORBIDDEN_IN_KEYS:
        if char in text:
            raise LineProtocolError(
                path, f"{text!r} contains {char!r}, which line protocol forbids"
            )


def escape_measurement(name: str) -> str:
    """A measurement name with commas and spaces escaped."""
    _check_key("measurement", name)
    if not name or name.startswith("#"):
        raise LineProtocolError("measurement", f"{name!r} is empty or starts with '#'")
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(key: str, *, path: str = "key") -> str:
    """A tag key or field key with commas, equals signs and spaces escaped."""
    _check_key(path, key)
    if not key:
        raise LineProtocolError(path, "empty key")
    return key.translate(_KEY_ESCAPES)


def escape_tag(value: str, *, path: str = "tag") -> str:
    """A tag value with commas, equals signs and spaces escaped (not empty, no backslash)."""
    _check_key(path, value)
    if not value:
        raise LineProtocolError(path, "empty tag value")
    if "\\" in value:
        raise LineProtocolError(path, f"{value!r} contains a backslash")
    return value.translate(_KEY_ESCAPES)


def clean_tag(text: str) -> str:
    """Free text made storable as a tag value: `\\` → `/`, newline/CR/tab → space, empty → `-`."""
    return text.translate(_TAG_CLEANUP) or EMPTY_TAG


def format_string(value: str) -> str:
    """A string field value: double-quoted, `\\` and `"` escaped."""
    return '"' + value.translate(_STRING_ESCAPES) + '"'
