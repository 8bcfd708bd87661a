"""The Flux query builder: what it writes, and what it refuses to write.

Every dashboard query goes through it, so quoting mistakes here would be injection or broken
panels everywhere; the integration tests run its output against InfluxDB.
"""

from __future__ import annotations

import doctest

import pytest

from mpcs.grafana import flux
from mpcs.grafana.flux import (
    Column,
    Program,
    Var,
    any_of,
    array_from,
    column_equals,
    field_in,
    from_bucket,
    from_name,
    join,
    literal,
    measurement,
    tag_equals,
    tag_values,
    union,
)


def test_doctests() -> None:
    result = doctest.testmod(flux)
    assert result.attempted > 0
    assert result.failed == 0


def test_strings_are_escaped_everywhere() -> None:
    nasty = 'x") |> drop(columns: ["a"]) //\\${v}'
    text = (
        from_bucket(nasty)
        .range()
        .filter(tag_equals("satellite", nasty) & field_in(nasty))
        .keep([nasty])
        .render()
    )
    quoted = '"x\\") |> drop(columns: [\\"a\\"]) //\\\\\\${v}"'
    assert text.count(quoted) == 4
    assert "${v}" not in text.replace("\\${v}", "")


def test_variables_are_quoted_references_and_need_identifier_names() -> None:
    assert literal(Var("satellite")) == '"${satellite}"'
    with pytest.raises(ValueError, match="not an identifier"):
        Var("sat}")
    with pytest.raises(ValueError, match="not an identifier"):
        Var("1st")


def test_literals() -> None:
    assert literal(False) == "false"
    assert literal(-3) == "-3"
    assert literal(1e-7) == "1e-07"
    with pytest.raises(ValueError, match="no Flux literal"):
        literal(float("nan"))
    with pytest.raises(ValueError, match="no Flux literal"):
        literal(float("inf"))


def test_predicates_keep_precedence_explicit() -> None:
    both = tag_equals("satellite", "a") & (measurement("obc") | measurement("power"))
    assert both.render() == (
        'r.satellite == "a" and (r._measurement == "obc" or r._measurement == "power")'
    )
    flat = measurement("a") & field_in("x") & tag_equals("s", "b")
    assert flat.render() == 'r._measurement == "a" and r._field == "x" and r.s == "b"'
    assert any_of(measurement("a")).render() == 'r._measurement == "a"'
    # a column name that is not an identifier is indexed, not written bare
    assert column_equals("a-b", 1).render() == 'r["a-b"] == 1'


def test_empty_alternatives_are_refused() -> None:
    with pytest.raises(ValueError, match="no field"):
        field_in()
    with pytest.raises(ValueError, match="no predicate"):
        any_of()


def test_pipeline_steps() -> None:
    base = from_name("t")
    with pytest.raises(ValueError, match="not a Flux duration"):
        base.range("-100m", "now")
    assert base.range("-100m", "1h").steps == ("range(start: -100m, stop: 1h)",)
    assert base.aggregate_window("max", every="30s", create_empty=True).steps == (
        "aggregateWindow(every: 30s, fn: max, createEmpty: true)",
    )
    with pytest.raises(ValueError, match="aggregate 'stddev'"):
        base.aggregate_window("stddev")
    with pytest.raises(ValueError, match="not a Flux duration"):
        base.aggregate_window("mean", every="10 s")
    assert base.last("_time").steps == ('last(column: "_time")',)
    assert base.group().steps == ("group()",)
    assert base.group(["a"], mode="except").steps == ('group(columns: ["a"], mode: "except")',)
    with pytest.raises(ValueError, match="group mode"):
        base.group(["a"], mode="all")
    assert base.pivot(row_key=["satellite"]).steps == (
        'pivot(rowKey: ["satellite"], columnKey: ["_field"], valueColumn: "_value")',
    )
    assert base.sort(["_time"], desc=True).limit(5).steps == (
        'sort(columns: ["_time"], desc: true)',
        "limit(n: 5)",
    )
    with pytest.raises(ValueError, match="not positive"):
        base.limit(0)
    assert base.drop(["_start"]).distinct("x").yield_("r").steps == (
        'drop(columns: ["_start"])',
        'distinct(column: "x")',
        'yield(name: "r")',
    )
    assert base.set_columns({"n": 1, "c": Column("a-b")}).steps == (
        'map(fn: (r) => ({r with n: 1, c: r["a-b"]}))',
    )
    with pytest.raises(ValueError, match="not an identifier"):
        base.rename({"a b": "c"})


def test_pipelines_are_immutable() -> None:
    base = from_name("t")
    base.last()
    assert base.steps == ()


def test_imports_are_collected_once_and_sorted() -> None:
    stations = array_from([{"name": "a"}])
    tags = tag_values("b", "satellite", predicate=measurement("obc"))
    program = Program(
        bindings={"s": stations, "t": tags},
        result=union(from_name("s"), from_name("t"), stations),
    )
    text = program.render()
    assert text.startswith('import "array"\nimport "influxdata/influxdb/schema"\n\n')
    assert text.count("import") == 2
    assert 'schema.tagValues(bucket: "b", tag: "satellite", predicate: (r) => ' in text
    assert "start: v.timeRangeStart, stop: v.timeRangeStop)" in text


def test_array_rows_must_agree() -> None:
    with pytest.raises(ValueError, match="no row"):
        array_from([])
    with pytest.raises(ValueError, match="does not have the columns"):
        array_from([{"a": 1}, {"b": 1}])


def test_union_and_join_arity() -> None:
    with pytest.raises(ValueError, match="two pipelines"):
        union(from_name("a"))
    with pytest.raises(ValueError, match="exactly two"):
        join({"a": from_name("a")}, on=["x"])
    nested = join({"a": from_name("a").last(), "b": from_name("b")}, on=["x"])
    assert nested.render() == 'join(tables: {a: a\n    |> last(), b: b}, on: ["x"])'


def test_range_takes_grafana_macros_or_durations_only() -> None:
    assert from_name("t").range().steps == (
        "range(start: v.timeRangeStart, stop: v.timeRangeStop)",
    )
    with pytest.raises(ValueError, match="not a Flux duration"):
        from_name("t").range("v.somethingElse")
