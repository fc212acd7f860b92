"""Filters written by users (`--where "plan = 'pro' AND seats >= 10"`) turned into Ibis predicates.

The text is parsed into a syntax tree and only a short list of node kinds is translated; nothing a
user types is ever passed to a database as SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import ibis.common.exceptions as ibis_errors
import ibis.expr.types as ir
import sqlglot
from sqlglot import exp

from tenure.errors import QueryError

MAX_LENGTH = 2000
MAX_DEPTH = 30  # brackets inside brackets; deeper text would exhaust the parser's recursion

_COMPARISONS: dict[type, Any] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
}
HELP = (
    "write comparisons (= != < <= > >=), IN (...), BETWEEN x AND y, IS [NOT] NULL, LIKE, "
    "joined by AND / OR / NOT, with quoted text: plan = 'pro' AND seats >= 10; a column named "
    "like an SQL keyword or with spaces in double quotes: \"case\" = 'c1'"
)


def parse_filter(text: str, table: ir.Table) -> ir.BooleanValue:
    """Translate `text` into a predicate over `table`, or raise QueryError saying what is wrong."""
    if not text or not text.strip():
        raise QueryError(f"empty filter; {HELP}")
    if "\x00" in text:
        raise QueryError("the filter contains a NUL character")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the filter is longer than {MAX_LENGTH} characters")
    if _depth(text) > MAX_DEPTH:
        raise QueryError(f"the filter nests brackets more than {MAX_DEPTH} deep")
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        hint = _keyword_hint(text, table)
        raise QueryError(f"cannot read the filter {text!r}: {first}; {hint or HELP}") from None
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        raise QueryError(f"cannot read the filter {text!r}; {HELP}") from None
    if tree is None:
        raise QueryError(f"empty filter; {HELP}")
    try:
        result = _translate(tree, table, text)
    except (ibis_errors.IbisError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        # Ibis refuses ill-typed operations (text compared with a number, NOT of a literal...).
        raise QueryError(f"cannot use the filter {text!r}: {_first_line(exc)}; {HELP}") from None
    if not isinstance(result, ir.BooleanValue):
        raise QueryError(f"the filter {text!r} is not a condition; {HELP}")
    return result


def _depth(text: str) -> int:
    """How deep round brackets nest (quotes are not told apart: a bound, not a parser)."""
    deepest = level = 0
    for char in text:
        if char == "(":
            level += 1
            deepest = max(deepest, level)
        elif char == ")":
            level -= 1
    return deepest


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _translate(node: Any, table: ir.Table, text: str) -> Any:
    match node:
        case exp.Paren():
            return _translate(node.this, table, text)
        case exp.And():
            return _condition(node.left, table, text) & _condition(node.right, table, text)
        case exp.Or():
            return _condition(node.left, table, text) | _condition(node.right, table, text)
        case exp.Not():
            return ~_condition(node.this, table, text)
        case exp.Column():
            return _column(node, table)
        case exp.Boolean():
            return bool(node.this)
        case exp.Null():
            return None
        case exp.Neg():
            return -_translate(node.this, table, text)
        case exp.Literal():
            return _literal(node)
        case exp.In():
            if node.args.get("query") is not None:
                raise QueryError(f"sub-queries are not allowed in a filter: {text!r}")
            subject = _value(node.this, table, text)
            values = [_fit(subject, _translate(v, table, text)) for v in node.expressions]
            return subject.isin(values)
        case exp.Between():
            value = _value(node.this, table, text)
            return value.between(
                _fit(value, _translate(node.args["low"], table, text)),
                _fit(value, _translate(node.args["high"], table, text)),
            )
        case exp.Is():
            if not isinstance(node.expression, exp.Null):
                raise QueryError(f"only IS NULL and IS NOT NULL are allowed: {text!r}")
            return _value(node.this, table, text).isnull()
        case exp.Like():
            subject = _value(node.this, table, text)
            pattern = _translate(node.expression, table, text)
            if not subject.type().is_string() or not isinstance(pattern, str):
                raise QueryError(f"LIKE compares a text column with quoted text: {text!r}")
            return subject.like(pattern)
        case _ if type(node) in _COMPARISONS:
            left = _translate(node.left, table, text)
            right = _translate(node.right, table, text)
            if isinstance(left, ir.Value):
                right = _fit(left, right)
            elif isinstance(right, ir.Value):
                left = _fit(right, left)
            return _COMPARISONS[type(node)](left, right)
    raise QueryError(f"{node.sql()!r} is not allowed in a filter; {HELP}")


def _condition(node: Any, table: ir.Table, text: str) -> ir.BooleanValue:
    """A part that must be true or false: the operand of AND, OR and NOT."""
    result = _translate(node, table, text)
    if not isinstance(result, ir.BooleanValue):
        raise QueryError(f"{node.sql()!r} is not a condition, in the filter {text!r}; {HELP}")
    return result


def _value(node: Any, table: ir.Table, text: str) -> ir.Value:
    """A part that must be a column (or an expression of columns)."""
    result = _translate(node, table, text)
    if not isinstance(result, ir.Value):
        raise QueryError(f"{node.sql()!r} must name a column, in the filter {text!r}; {HELP}")
    return result


_INT64 = 2**63 - 1


def _literal(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    number = float(node.this)
    if number != number or abs(number) == float("inf"):
        raise QueryError(f"the number {node.this!r} is out of range")
    if number.is_integer() and "." not in node.this and "e" not in node.this.lower():
        whole = int(node.this)
        if abs(whole) > _INT64:
            raise QueryError(f"the number {node.this!r} is out of range")
        return whole
    return number


def _fit(column: ir.Value, value: Any) -> Any:
    """`value` as a literal of `column`'s type, or a QueryError saying how to write it (the engine
    would otherwise fail while running the query, or refuse to compare text with a number)."""
    if isinstance(value, ir.Value):
        return value
    kind = column.type()
    name = column.get_name() if hasattr(column, "get_name") else "the column"
    if value is None:
        raise QueryError(f"compare {name} with NULL as `{name} IS NULL` or `IS NOT NULL`")
    if kind.is_string():
        if not isinstance(value, str):
            raise QueryError(f"{name} holds text: quote the value, e.g. {name} = '{value}'")
        return value
    if kind.is_boolean():
        if not isinstance(value, bool):
            raise QueryError(f"{name} is true or false: write {name} = TRUE or {name} = FALSE")
        return value
    if kind.is_numeric():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QueryError(f"{name} holds numbers: write the value without quotes")
        return value
    if kind.is_date() or kind.is_timestamp():
        if not isinstance(value, str):
            raise QueryError(f"{name} holds dates: quote the value, e.g. {name} >= '2025-01-31'")
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise QueryError(
                f"{name} holds dates: cannot read {value!r}; write '2025-01-31'"
            ) from None
        if moment.tzinfo is not None:  # stored timestamps are naive UTC
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment.date() if kind.is_date() else moment
    return value


def _column(node: exp.Column, table: ir.Table) -> ir.Value:
    """A column by its exact name; an unquoted name also matches a single column that differs
    only in case (as SQL identifiers do)."""
    if node.table:
        raise QueryError(f"write column names without a table prefix: {node.sql()!r}")
    name = node.name
    if name in table.columns:
        return table[name]
    quoted = bool(node.this.args.get("quoted"))
    alike = [c for c in table.columns if c.lower() == name.lower()]
    if not quoted and len(alike) == 1:
        return table[alike[0]]
    valid = ", ".join(written(c) for c in table.columns)
    text_hint = f" (text goes in single quotes: '{name}')" if quoted else ""
    raise QueryError(f"unknown column {name!r} in filter{text_hint}; valid: {valid}")


def written(name: str) -> str:
    """`name` as a filter must spell it: bare when it reads as that column, else in double
    quotes (an SQL keyword such as case, spaces, punctuation)."""
    try:
        tree = sqlglot.parse_one(f"{name} IS NULL", read="duckdb")
    except sqlglot.errors.SqlglotError:  # a quote or other character the tokenizer refuses
        tree = None
    if isinstance(tree, exp.Is) and isinstance(tree.this, exp.Column):
        column = tree.this
        if not column.table and column.name == name:
            return name
    return '"' + name.replace('"', '""') + '"'


def _keyword_hint(text: str, table: ir.Table) -> str | None:
    """When a column named like an SQL keyword appears unquoted, say how to write it."""
    for name in table.columns:
        needs_quotes = written(name) != name
        if needs_quotes and re.search(rf'(?<![\w"]){re.escape(name)}(?![\w"])', text, re.I):
            return f'{name!r} is an SQL keyword: write the column in double quotes, "{name}"'
    return None
