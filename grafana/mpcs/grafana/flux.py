r"""A small typed builder of the Flux queries our dashboards run (the SDK has none).

Dashboards never format Flux by hand: measurement, field and tag names, and every other string, go
into the text through `flux_string` (the kit's one quoting rule, shared with the command API), and
the only unquoted text that reaches a query is what this module writes itself — function names,
column lists it quotes, Grafana's macros (`v.timeRangeStart`, `v.timeRangeStop`, `v.windowPeriod`)
and template-variable references (`Var`), whose names are checked to be identifiers. A value
that must come from a dashboard variable is a `Var`, never a string with `${…}` in it (which
`flux_string` escapes, so it would be compared literally).

A query is a `Pipeline`: a source (`from_bucket`, `array_from`, `tag_values`, a named stream or a
`union`) followed by `|>` steps. `Program` binds pipelines to names and ends with one result, and
collects the `import`s the steps need.

>>> q = (
...     from_bucket("ops.wildfire")
...     .range()
...     .filter(measurement("power") & field_in("battery_soc_pct"))
...     .aggregate_window("mean")
... )
>>> print(q.render())
from(bucket: "ops.wildfire")
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "power" and r._field == "battery_soc_pct")
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
>>> print(tag_equals("satellite", Var("satellite")).render())
r.satellite == "${satellite}"
>>> print(tag_equals("satellite", 'a"${b}').render())
r.satellite == "a\"\${b}"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mpcs.kit.influx import flux_string

#: Grafana's InfluxDB macros (expanded by Grafana before the query reaches InfluxDB).
TIME_RANGE_START = "v.timeRangeStart"
TIME_RANGE_STOP = "v.timeRangeStop"
WINDOW_PERIOD = "v.windowPeriod"

#: Aggregates `aggregateWindow` may apply (Flux's built-ins taking a single column).
AGGREGATES = frozenset(("mean", "median", "min", "max", "last", "first", "sum", "count"))

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^-?([0-9]+(ns|us|µs|ms|s|m|h|d|w|mo|y))+$")


def identifier(name: str) -> str:
    """`name` if Flux (and Grafana's variable syntax) can use it bare; ValueError otherwise.

    >>> identifier("battery_soc_pct")
    'battery_soc_pct'
    >>> identifier("a-b")
    Traceback (most recent call last):
    ...
    ValueError: 'a-b' is not an identifier (letters, digits, _; not starting with a digit)
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not an identifier (letters, digits, _; not starting with a digit)"
        )
    return name


def duration(text: str) -> str:
    """A Flux duration literal, checked.

    >>> duration("-100m"), duration("1h30m")
    ('-100m', '1h30m')
    """
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a Flux duration (e.g. 10s, -100m, 1h30m)")
    return text


@dataclass(frozen=True)
class Var:
    """A Grafana template variable, interpolated by Grafana into a Flux string.

    Its value is put inside a Flux string literal as is; the satellite and station names our
    variables list are Kubernetes names (DNS labels), which need no escaping in Flux.
    """

    name: str

    def __post_init__(self) -> None:
        identifier(self.name)

    def literal(self) -> str:
        return f'"${{{self.name}}}"'


Value = str | Var | int | float | bool


def literal(value: Value) -> str:
    """A Flux literal of `value` (strings quoted, variables as a quoted reference).

    >>> literal("x"), literal(1), literal(2.5), literal(True), literal(Var("s"))
    ('"x"', '1', '2.5', 'true', '"${s}"')
    """
    if isinstance(value, Var):
        return value.literal()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("nan", "inf", "-inf"):
            raise ValueError(f"{value!r} has no Flux literal")
        return text
    return flux_string(value)


def _column(name: str) -> str:
    """`r.name` when `name` is an identifier, `r["name"]` otherwise."""
    return f"r.{name}" if _IDENTIFIER.match(name) else f"r[{flux_string(name)}]"


def _columns(names: Iterable[str]) -> str:
    return "[" + ", ".join(flux_string(name) for name in names) + "]"


class Predicate:
    """A boolean expression over a row `r` (the body of a `filter` function)."""

    def render(self) -> str:
        raise NotImplementedError

    def __and__(self, other: Predicate) -> Predicate:
        return _Junction("and", (self, other))

    def __or__(self, other: Predicate) -> Predicate:
        return _Junction("or", (self, other))


@dataclass(frozen=True)
class _Compare(Predicate):
    column: str
    operator: str
    value: Value

    def render(self) -> str:
        return f"{_column(self.column)} {self.operator} {literal(self.value)}"


@dataclass(frozen=True)
class _Junction(Predicate):
    word: str
    parts: tuple[Predicate, ...]

    def render(self) -> str:
        return f" {self.word} ".join(
            # A nested junction of the other word is parenthesised (`and` binds tighter than
            # `or`, but the reader should not have to know); same-word nesting needs none.
            f"({part.render()})"
            if isinstance(part, _Junction) and part.word != self.word
            else part.render()
            for part in self.parts
        )


def column_equals(column: str, value: Value) -> Predicate:
    return _Compare(column, "==", value)


def column_not_equals(column: str, value: Value) -> Predicate:
    """
    >>> print(column_not_equals("_field", "seq").render())
    r._field != "seq"
    """
    return _Compare(column, "!=", value)


def measurement(name: str) -> Predicate:
    return column_equals("_measurement", name)


def tag_equals(tag: str, value: Value) -> Predicate:
    return column_equals(tag, value)


def field_in(*fields: str) -> Predicate:
    """Rows of any of `fields` (an `or` of equalities: InfluxDB pushes those down to storage).

    >>> print(field_in("a", "b").render())
    r._field == "a" or r._field == "b"
    """
    if not fields:
        raise ValueError("field_in: no field given")
    parts = tuple(column_equals("_field", name) for name in fields)
    return parts[0] if len(parts) == 1 else _Junction("or", parts)


def any_of(*predicates: Predicate) -> Predicate:
    """
    >>> print(any_of(measurement("a") & field_in("x"), measurement("b")).render())
    (r._measurement == "a" and r._field == "x") or r._measurement == "b"
    """
    if not predicates:
        raise ValueError("any_of: no predicate given")
    return predicates[0] if len(predicates) == 1 else _Junction("or", tuple(predicates))


@dataclass(frozen=True)
class Pipeline:
    """A Flux stream expression: a source and its `|>` steps."""

    source: str
    steps: tuple[str, ...] = ()
    imports: frozenset[str] = field(default_factory=frozenset)

    def pipe(self, call: str, *imports: str) -> Pipeline:
        """The pipeline with one more step (a call this module wrote)."""
        return Pipeline(self.source, (*self.steps, call), self.imports | frozenset(imports))

    def range(self, start: str = TIME_RANGE_START, stop: str = TIME_RANGE_STOP) -> Pipeline:
        """`range` over Grafana's time range, or relative durations (`duration`)."""
        macros = (TIME_RANGE_START, TIME_RANGE_STOP)
        bounds = [value if value in macros else duration(value) for value in (start, stop)]
        return self.pipe(f"range(start: {bounds[0]}, stop: {bounds[1]})")

    def filter(self, predicate: Predicate) -> Pipeline:
        return self.pipe(f"filter(fn: (r) => {predicate.render()})")

    def aggregate_window(
        self, fn: str, *, every: str = WINDOW_PERIOD, create_empty: bool = False
    ) -> Pipeline:
        """Downsample to Grafana's window (`v.windowPeriod`) with a built-in aggregate."""
        if fn not in AGGREGATES:
            raise ValueError(f"aggregate {fn!r} is not one of {sorted(AGGREGATES)}")
        period = every if every == WINDOW_PERIOD else duration(every)
        return self.pipe(
            f"aggregateWindow(every: {period}, fn: {fn}, createEmpty: {literal(create_empty)})"
        )

    def last(self, column: str = "_value") -> Pipeline:
        return self.pipe("last()" if column == "_value" else f"last(column: {flux_string(column)})")

    def count(self) -> Pipeline:
        return self.pipe("count()")

    def group(self, columns: Sequence[str] = (), *, mode: str = "by") -> Pipeline:
        """`group()` (one table) or `group(columns: […])`."""
        if mode not in ("by", "except"):
            raise ValueError(f"group mode {mode!r} is not 'by' or 'except'")
        if not columns and mode == "by":
            return self.pipe("group()")
        return self.pipe(f"group(columns: {_columns(columns)}, mode: {flux_string(mode)})")

    def keep(self, columns: Sequence[str]) -> Pipeline:
        return self.pipe(f"keep(columns: {_columns(columns)})")

    def drop(self, columns: Sequence[str]) -> Pipeline:
        return self.pipe(f"drop(columns: {_columns(columns)})")

    def rename(self, columns: Mapping[str, str]) -> Pipeline:
        """
        >>> print(from_name("t").rename({"_value": "soc"}).steps[0])
        rename(columns: {_value: "soc"})
        """
        pairs = ", ".join(f"{identifier(old)}: {flux_string(new)}" for old, new in columns.items())
        return self.pipe(f"rename(columns: {{{pairs}}})")

    def pivot(
        self,
        row_key: Sequence[str] = ("_time",),
        column_key: Sequence[str] = ("_field",),
        value_column: str = "_value",
    ) -> Pipeline:
        """One row per `row_key`, one column per field (Flux's `schema.fieldsAsCols` shape)."""
        return self.pipe(
            f"pivot(rowKey: {_columns(row_key)}, columnKey: {_columns(column_key)}, "
            f"valueColumn: {flux_string(value_column)})"
        )

    def set_columns(self, values: Mapping[str, Value | Column]) -> Pipeline:
        """`map` that sets columns to literals or to other columns of the row.

        >>> print(from_name("t").set_columns({"_field": "seen", "_value": Column("_time")}).steps)
        ('map(fn: (r) => ({r with _field: "seen", _value: r._time}))',)
        """
        pairs = ", ".join(
            f"{identifier(name)}: {value.render() if isinstance(value, Column) else literal(value)}"
            for name, value in values.items()
        )
        return self.pipe(f"map(fn: (r) => ({{r with {pairs}}}))")

    def sort(self, columns: Sequence[str], *, desc: bool = False) -> Pipeline:
        return self.pipe(f"sort(columns: {_columns(columns)}, desc: {literal(desc)})")

    def limit(self, n: int) -> Pipeline:
        if n < 1:
            raise ValueError(f"limit: {n} is not positive")
        return self.pipe(f"limit(n: {n})")

    def distinct(self, column: str = "_value") -> Pipeline:
        return self.pipe(f"distinct(column: {flux_string(column)})")

    def yield_(self, name: str) -> Pipeline:
        return self.pipe(f"yield(name: {flux_string(name)})")

    def expression(self) -> str:
        """The pipeline as one Flux expression (no imports)."""
        return "".join([self.source, *(f"\n  |> {step}" for step in self.steps)])

    def render(self) -> str:
        """A whole query: imports, then the expression."""
        return Program(result=self).render()


@dataclass(frozen=True)
class Column:
    """A reference to another column of the row (in `set_columns`)."""

    name: str

    def render(self) -> str:
        return _column(self.name)


def from_bucket(bucket: str) -> Pipeline:
    return Pipeline(f"from(bucket: {flux_string(bucket)})")


def from_name(name: str) -> Pipeline:
    """A stream bound earlier in the `Program`."""
    return Pipeline(identifier(name))


def union(*pipelines: Pipeline) -> Pipeline:
    """
    >>> print(union(from_name("a"), from_name("b")).render())
    union(tables: [a, b])
    """
    if len(pipelines) < 2:
        raise ValueError("union: needs two pipelines or more")
    imports: frozenset[str] = frozenset().union(*(p.imports for p in pipelines))
    inner = ", ".join(p.expression().replace("\n", "\n  ") for p in pipelines)
    return Pipeline(f"union(tables: [{inner}])", imports=imports)


def join(tables: Mapping[str, Pipeline], on: Sequence[str]) -> Pipeline:
    """Rows of two streams with equal `on` columns side by side (Flux's classic `join`).

    >>> print(join({"a": from_name("x"), "b": from_name("y")}, on=["satellite"]).render())
    join(tables: {a: x, b: y}, on: ["satellite"])
    """
    if len(tables) != 2:
        raise ValueError(f"join: needs exactly two streams, not {len(tables)}")
    imports: frozenset[str] = frozenset().union(*(p.imports for p in tables.values()))
    inner = ", ".join(
        f"{identifier(name)}: {p.expression().replace(chr(10), chr(10) + '  ')}"
        for name, p in tables.items()
    )
    return Pipeline(f"join(tables: {{{inner}}}, on: {_columns(on)})", imports=imports)


def array_from(rows: Sequence[Mapping[str, Value]]) -> Pipeline:
    """A table of literal rows (`array.from`): every row must have the same columns and types.

    >>> print(array_from([{"name": "svalbard", "lat": 78.2}]).render())
    import "array"
    <BLANKLINE>
    array.from(rows: [{name: "svalbard", lat: 78.2}])
    """
    if not rows:
        raise ValueError("array_from: no row (Flux cannot infer the columns of an empty array)")
    keys = list(rows[0])
    for row in rows:
        if list(row) != keys:
            raise ValueError(f"array_from: row {dict(row)!r} does not have the columns {keys}")
    records = ", ".join(
        "{" + ", ".join(f"{identifier(k)}: {literal(v)}" for k, v in row.items()) + "}"
        for row in rows
    )
    return Pipeline(f"array.from(rows: [{records}])", imports=frozenset(("array",)))


def tag_values(bucket: str, tag: str, *, predicate: Predicate | None = None) -> Pipeline:
    """Distinct values of `tag` in Grafana's time range (`schema.tagValues`), for a variable."""
    arguments = [f"bucket: {flux_string(bucket)}", f"tag: {flux_string(tag)}"]
    if predicate is not None:
        arguments.append(f"predicate: (r) => {predicate.render()}")
    arguments += [f"start: {TIME_RANGE_START}", f"stop: {TIME_RANGE_STOP}"]
    return Pipeline(
        f"schema.tagValues({', '.join(arguments)})",
        imports=frozenset(("influxdata/influxdb/schema",)),
    )


@dataclass(frozen=True)
class Program:
    """Named pipelines then one result; renders the imports they all need once.

    >>> latest = from_bucket("b").range().last()
    >>> both = union(from_name("x"), from_name("x"))
    >>> print(Program(result=both, bindings={"x": latest}).render())
    x = from(bucket: "b")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> last()
    <BLANKLINE>
    union(tables: [x, x])
    """

    result: Pipeline
    bindings: Mapping[str, Pipeline] = field(default_factory=dict)

    def render(self) -> str:
        imports: set[str] = set(self.result.imports)
        for pipeline in self.bindings.values():
            imports |= pipeline.imports
        parts = []
        if imports:
            parts.append("\n".join(f"import {flux_string(name)}" for name in sorted(imports)))
        parts += [
            f"{identifier(name)} = {pipeline.expression()}"
            for name, pipeline in self.bindings.items()
        ]
        parts.append(self.result.expression())
        return "\n\n".join(parts)
