"""Filters written by users (`--where "plan = 'pro' AND seats >= 10"`) turned into Ibis predicates.

The text is parsed into a syntax tree and only a short list of node kinds is translated; nothing a
user types is ever passed to a database as SQL text.
"""

from __future__ import annotations

import re
from typing import Any

import ibis.expr.types as ir
import sqlglot
from sqlglot import exp

from tenure.errors import QueryError

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
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        hint = _keyword_hint(text, table)
        raise QueryError(f"cannot read the filter {text!r}: {first}; {hint or HELP}") from None
    result = _translate(tree, table, text)
    if not isinstance(result, ir.BooleanValue):
        raise QueryError(f"the filter {text!r} is not a condition; {HELP}")
    return result


def _translate(node: Any, table: ir.Table, text: str) -> Any:
    match node:
        case exp.Paren():
            return _translate(node.this, table, text)
        case exp.And():
            return _translate(node.left, table, text) & _translate(node.right, table, text)
        case exp.Or():
            return _translate(node.left, table, text) | _translate(node.right, table, text)
        case exp.Not():
            return ~_translate(node.this, table, text)
        case exp.Column():
            return _column(node, table)
        case exp.Boolean():
            return bool(node.this)
        case exp.Null():
            return None
        case exp.Neg():
            return -_translate(node.this, table, text)
        case exp.Literal():
            if node.is_string:
                return node.this
            number = float(node.this)
            return int(number) if number.is_integer() and "." not in node.this else number
        case exp.In():
            if node.args.get("query") is not None:
                raise QueryError(f"sub-queries are not allowed in a filter: {text!r}")
            values = [_translate(v, table, text) for v in node.expressions]
            return _translate(node.this, table, text).isin(values)
        case exp.Between():
            value = _translate(node.this, table, text)
            return value.between(
                _translate(node.args["low"], table, text),
                _translate(node.args["high"], table, text),
            )
        case exp.Is():
            if not isinstance(node.expression, exp.Null):
                raise QueryError(f"only IS NULL and IS NOT NULL are allowed: {text!r}")
            return _translate(node.this, table, text).isnull()
        case exp.Like():
            return _translate(node.this, table, text).like(_translate(node.expression, table, text))
        case _ if type(node) in _COMPARISONS:
            left = _translate(node.left, table, text)
            right = _translate(node.right, table, text)
            return _COMPARISONS[type(node)](left, right)
    raise QueryError(f"{node.sql()!r} is not allowed in a filter; {HELP}")


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
