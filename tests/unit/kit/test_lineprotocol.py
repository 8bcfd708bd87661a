"""The one line-protocol escaping rule set (measurements, keys, tags, string values)."""

from __future__ import annotations

import pytest
from utils.doctests import run_doctests

from mpcs.kit import lineprotocol
from mpcs.kit.lineprotocol import (
    LineProtocolError,
    clean_tag,
    escape_key,
    escape_measurement,
    escape_tag,
    format_string,
)


def test_doctests() -> None:
    run_doctests(lineprotocol)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("sat-a", "sat-a"),
        ("sat a", r"sat\ a"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ("a b,c=d", r"a\ b\,c\=d"),
        ('quote"d', 'quote"d'),
    ],
)
def test_tag_values_escape_comma_equals_space(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped
    assert escape_key(raw) == escaped


def test_measurement_escapes_comma_and_space_but_not_equals() -> None:
    assert escape_measurement("a b,c=d") == r"a\ b\,c=d"


@pytest.mark.parametrize("bad", ["", "a\nb", "a\rb", "a\tb", "trailing\\", "mid\\dle"])
def test_unrepresentable_tag_values_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(LineProtocolError) as info:
        escape_tag(bad, path="satellite")
    assert info.value.path == "satellite"


@pytest.mark.parametrize("bad", ["", "#comment", "a\nb"])
def test_unrepresentable_measurements_are_refused(bad: str) -> None:
    with pytest.raises(LineProtocolError):
        escape_measurement(bad)


@pytest.mark.parametrize("bad", ["", "a\tb"])
def test_unrepresentable_keys_are_refused(bad: str) -> None:
    with pytest.raises(LineProtocolError) as info:
        escape_key(bad, path="orbit.x")
    assert info.value.path == "orbit.x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("multi\nline, with = and space", '"multi\nline, with = and space"'),
    ],
)
def test_string_values_are_quoted_with_quote_and_backslash_escaped(raw: str, expected: str) -> None:
    assert format_string(raw) == expected


@pytest.mark.parametrize(
    ("text", "tag"),
    [("", "-"), ("a\\b", "a/b"), ("x\ny\rz\tw", r"x\ y\ z\ w"), ("PING", "PING")],
)
def test_free_text_is_cleaned_into_a_storable_tag(text: str, tag: str) -> None:
    assert escape_tag(clean_tag(text)) == tag
