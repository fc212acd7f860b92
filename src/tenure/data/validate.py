"""Build the SQL that types a staged file and lists every broken rule with its column and reason.

All of it is generated from the contract (our code); user-supplied names only ever appear as quoted
identifiers and user-supplied values are never spliced in. Every rule is one expression of the
same SELECT that types the rows: each typed row carries `_errors`, the list of its problems
(column, value, reason), so validating a chunk of rows is one pass over it, not one per rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tenure.data.contract import Column, Kind, TableContract
from tenure.data.currencies import ISO_4217
from tenure.data.mapping import Resolved
from tenure.data.readers import STAGING, quote

TYPED = "_tenure_typed"
KNOWN_CURRENCIES = "_tenure_known_currencies"  # currency, earliest (NULL: needs no rate)

# The day whose exchange rate a money row needs first, as the revenue metrics convert it: a
# subscription from the day it starts paying (the end of its trial; its first period's rate under
# either policy.fx_rate_date), an order on its day, a cost at its period start. (table -> (column
# named in the reject, SQL of the moment over the typed row, a condition for needing a rate)).
RATE_DAY: dict[str, tuple[str, str, str]] = {
    "subscriptions": (
        "started_at",
        "greatest(started_at, coalesce(trial_ends_at, started_at))",
        "amount > 0",
    ),
    "orders": ("ordered_at", "ordered_at", "TRUE"),
    "costs": ("period_start", "period_start", "TRUE"),
}

_TZ_OFFSET = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$"
_BILLING_WORDS = {
    "monthly": 1,
    "month": 1,
    "quarterly": 3,
    "quarter": 3,
    "semiannual": 6,
    "semi-annual": 6,
    "annual": 12,
    "annually": 12,
    "yearly": 12,
    "year": 12,
}
_PARSE_REASON = {
    Kind.TIMESTAMP: "cannot read as a timestamp; use ISO 8601 such as 2024-03-15 or "
    "2024-03-15T09:30:00Z",
    Kind.DATE: "cannot read as a date; use YYYY-MM-DD",
    Kind.MONEY: "cannot read as a decimal number (use . for decimals, no thousands separators)",
    Kind.RATE: "cannot read as a decimal number (use . for decimals)",
    Kind.FRACTION: "cannot read as a fraction such as 0.1",
    Kind.INTEGER: "cannot read as a whole number",
    Kind.NUMBER: "cannot read as a number",
    Kind.BOOLEAN: "cannot read as true or false",
    Kind.BILLING_PERIOD: "cannot read as a billing period: a whole number of billing units, or "
    "monthly / quarterly / annual",
}


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_ISO_LIST = ", ".join(literal(c) for c in sorted(ISO_4217))


def raw_name(column: str) -> str:
    return quote(f"__raw__{column}")


ERRORS = "_errors"  # the typed rows' list of problems: STRUCT(column, value, reason)[]


@dataclass(frozen=True)
class ValidationSql:
    typed_parts: str  # staged -> typed (and the raw text where reading can fail)
    filled_parts: str  # typed -> typed with defaults
    errors: str  # the list of the row's problems, over the filled row (and the rate join)
    output_columns: list[str]  # canonical columns, then attributes
    final_select: str  # typed -> stored form (normalised), without FROM
    key: list[str]  # the contract's key columns, quoted
    joins_rates: bool  # a rule reads the currency's first rate (_k_earliest)
    checks_text: bool  # the staged text is checked for size and NUL (_unsafe)

    def select(self, where: str = "TRUE") -> str:
        """The typed rows of the staged rows matching `where` (SQL over the staged columns),
        each with its `_errors`: one pass over the staged rows."""
        typed = (
            f"(SELECT {self.filled_parts} FROM (SELECT {self.typed_parts} FROM {quote(STAGING)} "
            f"WHERE {where})) t"
        )
        if self.joins_rates:
            typed += (
                f" LEFT JOIN (SELECT currency AS _k_currency, earliest AS _k_earliest "
                f"FROM {KNOWN_CURRENCIES}) k ON t.currency = k._k_currency"
            )
        rows = "t.* EXCLUDE (_unsafe)" if self.checks_text else "t.*"
        return f"SELECT {rows}, {self.errors} AS {ERRORS} FROM {typed}"

    def keys(self, where: str = "TRUE") -> str:
        """The typed key of every staged row matching `where` (valid or not)."""
        return (
            f"SELECT {', '.join(self.key)} FROM (SELECT {self.filled_parts} FROM "
            f"(SELECT {self.typed_parts} FROM {quote(STAGING)} WHERE {where}))"
        )


def _text(ref: str, source_type: str) -> str:
    if source_type == "VARCHAR":
        return f"NULLIF(trim({ref}), '')"
    return f"NULLIF(trim(CAST({ref} AS VARCHAR)), '')"


def _timestamp(ref: str, source_type: str, timezone: str) -> str:
    utc = timezone == "UTC"
    if source_type == "VARCHAR":
        text = _text(ref, source_type)
        if utc:
            return f"TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return (
            f"CASE WHEN regexp_matches({text}, {literal(_TZ_OFFSET)}) "
            f"THEN TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"ELSE CAST(timezone({literal(timezone)}, TRY_CAST({text} AS TIMESTAMP)) AS TIMESTAMP) END"
        )
    if "TIME ZONE" in source_type:
        return f"CAST({ref} AS TIMESTAMP)"
    naive = f"TRY_CAST({ref} AS TIMESTAMP)"
    return naive if utc else f"CAST(timezone({literal(timezone)}, {naive}) AS TIMESTAMP)"


def typed_expression(kind: Kind, ref: str, source_type: str, timezone: str) -> str:
    """The SQL that reads `ref` (of DuckDB type `source_type`) as `kind`; NULL where it cannot."""
    text = _text(ref, source_type)
    is_text = source_type == "VARCHAR"
    match kind:
        case Kind.STRING | Kind.JSON:
            return text
        case Kind.ENUM:
            return f"lower({text})"
        case Kind.CURRENCY:
            return f"upper({text})"
        case Kind.TIMESTAMP:
            return _timestamp(ref, source_type, timezone)
        case Kind.DATE:
            if is_text:
                return f"COALESCE(TRY_CAST({text} AS DATE), TRY_CAST(TRY_CAST({text} AS TIMESTAMP) AS DATE))"
            return f"TRY_CAST({ref} AS DATE)"
        case Kind.BOOLEAN:
            if source_type == "BOOLEAN":
                return ref
            return (
                f"CASE WHEN lower({text}) IN ('true', 't', 'yes', 'y', '1') THEN TRUE "
                f"WHEN lower({text}) IN ('false', 'f', 'no', 'n', '0') THEN FALSE END"
            )
        case Kind.BILLING_PERIOD:
            if not is_text:
                return f"TRY_CAST({ref} AS BIGINT)"
            words = " ".join(f"WHEN {literal(w)} THEN {n}" for w, n in _BILLING_WORDS.items())
            return f"CASE lower({text}) {words} ELSE TRY_CAST({text} AS BIGINT) END"
        case _:
            return f"TRY_CAST({text if is_text else ref} AS {kind.sql})"


def _can_fail_to_parse(kind: Kind, source_type: str) -> bool:
    if kind in (Kind.STRING, Kind.ENUM, Kind.CURRENCY, Kind.JSON):
        return False
    return source_type == "VARCHAR" or source_type != kind.sql


def build(
    contract: TableContract,
    resolved: Resolved,
    source_types: dict[str, str],
    attribute_types: dict[str, str],
    timezone: str,
    reporting_currency: str | None,
    values: dict[str, dict[str, str]] | None = None,
    *,
    latest: dt.datetime | None = None,
    reporting_timezone: str = "UTC",
    text_columns: list[str] | None = None,
    max_field_length: int = 1_000_000,
    shown_chars: int = 1000,
) -> ValidationSql:
    """`reporting_currency` None skips the currency rules (for fx_rates itself); `values`
    replaces listed source values of a canonical column before it is read (emoji as scores);
    a timestamp after `latest` (naive UTC) is rejected; a money row dated (on the calendar of
    `reporting_timezone`, where the metrics convert it) before its currency's first rate is
    rejected; a staged text value (of `text_columns`) over `max_field_length` bytes or holding
    a NUL character is rejected. Values are shown cut to `shown_chars`."""
    typed_parts = ["_line"]
    errors: list[str] = []
    conditions: list[str] = []
    raw_columns: set[str] = set()

    def add_error(
        column: str,
        value_sql: str,
        condition: str,
        reason: str | None = None,
        reason_sql: str | None = None,
    ) -> None:
        value = f"CAST({value_sql} AS VARCHAR)"
        shown = (
            f"CASE WHEN length({value}) > {shown_chars:d} "
            f"THEN left({value}, {shown_chars:d}) || '…' ELSE {value} END"
        )
        why = reason_sql if reason_sql is not None else literal(reason or "")
        conditions.append(condition)
        errors.append(
            f"CASE WHEN {condition} THEN {{'column': {literal(column)}, 'value': {shown}, "
            f"'reason': {why}}} END"
        )

    for col in contract.columns:
        source = resolved.canonical.get(col.name)
        if source is None:
            typed_parts.append(f"CAST(NULL AS {col.kind.sql}) AS {quote(col.name)}")
            continue
        ref, stype = quote(source), source_types[source]
        if values and col.name in values:
            text = f"trim(CAST({ref} AS VARCHAR))"
            cases = " ".join(
                f"WHEN {literal(raw)} THEN {literal(new)}" for raw, new in values[col.name].items()
            )
            ref, stype = f"(CASE {text} {cases} ELSE CAST({ref} AS VARCHAR) END)", "VARCHAR"
        typed_parts.append(
            f"{typed_expression(col.kind, ref, stype, timezone)} AS {quote(col.name)}"
        )
        value = quote(col.name)
        # The source text is kept only where reading it can fail; elsewhere the value is the text.
        raw = value
        if _can_fail_to_parse(col.kind, stype):
            raw = raw_name(col.name)
            raw_columns.add(col.name)
            typed_parts.append(f"{_text(ref, stype)} AS {raw}")
            add_error(
                col.name, raw, f"{raw} IS NOT NULL AND {value} IS NULL", _PARSE_REASON[col.kind]
            )
        if col.required and col.default is None:
            add_error(col.name, raw, f"{raw} IS NULL", "missing required value")
        for condition, reason in _value_rules(col, reporting_currency, latest):
            add_error(col.name, raw, f"{raw} IS NOT NULL AND ({condition})", reason)

    for name, source in resolved.attributes.items():
        ref, stype, target = quote(source), source_types[source], attribute_types[name]
        cast = f"TRY_CAST({_text(ref, stype) if stype == 'VARCHAR' else ref} AS {target})"
        typed_parts.append(f"{_text(ref, stype) if target == 'VARCHAR' else cast} AS {quote(name)}")
        typed_parts.append(f"{_text(ref, stype)} AS {raw_name(name)}")
        if target != "VARCHAR":
            add_error(
                name,
                raw_name(name),
                f"{raw_name(name)} IS NOT NULL AND {quote(name)} IS NULL",
                f"cannot read as {target}, the type this attribute already has",
            )

    # Defaults may refer to other typed columns, so they are filled in a second step.
    filled = ["_line"]
    for col in contract.columns:
        expr = quote(col.name)
        if col.default is not None and col.name in raw_columns:
            # Only a missing value takes the default; an unreadable one stays NULL and is rejected.
            expr = f"CASE WHEN {raw_name(col.name)} IS NULL THEN {col.default} ELSE {expr} END"
        elif col.default is not None:
            expr = f"COALESCE({expr}, {col.default})"
        filled.append(f"{expr} AS {quote(col.name)}")
        if col.name in raw_columns:
            filled.append(raw_name(col.name))
    for name in resolved.attributes:
        filled += [quote(name), raw_name(name)]

    for check in contract.row_checks:
        shown = raw_name(check.column) if check.column in raw_columns else quote(check.column)
        add_error(check.column, shown, check.bad_when, check.reason)

    joins_rates = reporting_currency is not None and contract.name in RATE_DAY
    if joins_rates:
        column, moment, needed = RATE_DAY[contract.name]
        shown = raw_name(column) if column in raw_columns else quote(column)
        if contract.column(column).kind is Kind.TIMESTAMP:  # a date is a calendar day already
            moment = _local(moment, reporting_timezone)
        day = f"CAST({moment} AS DATE)"
        add_error(
            column,
            shown,
            f"({needed}) AND {day} < _k_earliest",
            reason_sql="'no ' || currency || ' rate on or before ' || "
            f"strftime({day}, '%Y-%m-%d') || '; earliest is ' || "
            "strftime(_k_earliest, '%Y-%m-%d')",
        )

    unsafe = _unsafe_text(text_columns or [], max_field_length, shown_chars)
    if unsafe:
        typed_parts.append(f"{unsafe} AS _unsafe")
        filled.append("_unsafe")
    output = [*contract.column_names, *resolved.attributes]
    final = ", ".join(
        f"{contract.normalise[c]} AS {quote(c)}" if c in contract.normalise else quote(c)
        for c in output
    )
    problems = _problems(errors, conditions) if errors else NO_PROBLEMS
    if unsafe:
        problems = f"list_concat(t._unsafe, {problems})"
    return ValidationSql(
        ", ".join(typed_parts),
        ", ".join(filled),
        problems,
        output,
        final,
        [quote(k) for k in contract.key],
        joins_rates,
        unsafe is not None,
    )


NO_PROBLEMS = 'CAST([] AS STRUCT("column" VARCHAR, "value" VARCHAR, reason VARCHAR)[])'


def _problems(problems: list[str], conditions: list[str]) -> str:
    """The list of a row's `problems` (each NULL unless its condition holds), built only for
    the rows where one of `conditions` holds: most rows have none, and building and filtering
    a list of structs for every row cost most of a validation pass."""
    any_holds = " OR ".join(f"({c})" for c in conditions)
    listed = f"list_filter([{', '.join(problems)}], x -> x IS NOT NULL)"
    return f"CASE WHEN {any_holds} THEN {listed} ELSE {NO_PROBLEMS} END"


def _local(moment: str, timezone: str) -> str:
    """A naive-UTC timestamp as the wall-clock time of `timezone`."""
    if timezone == "UTC":
        return moment
    zone = literal(timezone)
    return f"CAST(timezone({zone}, timezone('UTC', {moment})) AS TIMESTAMP)"


def _value_rules(
    col: Column, reporting_currency: str | None, latest: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """(bad-when SQL over the typed value, reason) pairs for one column's own rules."""
    value = quote(col.name)
    rules: list[tuple[str, str]] = []
    if col.minimum is not None:
        op, word = ("<=", ">") if col.exclusive_minimum else ("<", ">=")
        rules.append((f"{value} {op} {col.minimum:g}", f"must be {word} {col.minimum:g}"))
    if col.maximum is not None:
        rules.append((f"{value} > {col.maximum:g}", f"must be <= {col.maximum:g}"))
    if col.choices:
        allowed = ", ".join(literal(c) for c in col.choices)
        rules.append((f"{value} NOT IN ({allowed})", f"must be one of: {', '.join(col.choices)}"))
    if col.kind is Kind.CURRENCY:
        rules.append((f"{value} NOT IN ({_ISO_LIST})", "not an ISO 4217 currency code"))
    if col.kind is Kind.CURRENCY and reporting_currency is not None:
        rules.append(
            (
                f"{value} IN ({_ISO_LIST}) AND {value} NOT IN (SELECT currency FROM {KNOWN_CURRENCIES})",
                f"no exchange rate to the reporting currency {reporting_currency}; load fx_rates "
                "for this currency first",
            )
        )
    if col.kind is Kind.JSON:
        rules.append((f"NOT json_valid({value})", "not valid JSON"))
    if col.kind is Kind.TIMESTAMP and latest is not None:
        limit = latest.replace(microsecond=0)
        rules.append(
            (
                f"{value} > CAST({literal(limit.isoformat(sep=' '))} AS TIMESTAMP)",
                f"later than {limit:%Y-%m-%d %H:%M} UTC, beyond the loader's horizon; "
                "check the year",
            )
        )
    return rules


def _unsafe_text(columns: list[str], max_bytes: int, shown_chars: int) -> str | None:
    """The list of problems of the staged text values longer than `max_bytes` or holding a NUL
    character (there are usually none); None without text columns. Values are shown cut to
    `shown_chars`, NUL as \\0."""
    if not columns:
        return None
    parts, conditions = [], []
    for column in columns:
        ref, name = quote(column), literal(column)
        too_long, has_nul = f"strlen({ref}) > {max_bytes:d}", f"contains({ref}, chr(0))"
        conditions.append(f"{too_long} OR {has_nul}")
        shown = f"replace(left({ref}, {shown_chars:d}), chr(0), '\\0')"
        parts.append(
            f"CASE WHEN {too_long} THEN {{'column': {name}, "
            f"'value': {shown} || '…', 'reason': 'a value of ' || strlen({ref}) || "
            f"' bytes, over the limit of {max_bytes:d} (max_field_length)'}} "
            f"WHEN {has_nul} THEN {{'column': {name}, 'value': {shown}, "
            "'reason': 'contains a NUL character (shown as \\0)'} END"
        )
    return _problems(parts, conditions)
