"""Column mapping: how a user's file names map to the canonical contract.

A mapping file is YAML:

    columns:            # your column name: canonical name
      Customer ID: account_id
      Signup Date: created_at
    timezone: Europe/Rome   # optional: zone of timestamps written without an offset
    values:             # optional: values to read as others, per canonical column
      score: {"😀": 5, "🙂": 4, "😐": 3, "🙁": 2, "😞": 1}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tenure.data.contract import TableContract
from tenure.errors import ContractError, MappingError

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None
    values: dict[str, dict[str, str]] = field(default_factory=dict)


def read_mapping(path: Path) -> Mapping:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}: " if where is not None else ""
        raise MappingError(f"{path}: {line}not valid YAML") from None
    if doc is None:
        return Mapping()
    if not isinstance(doc, dict) or set(doc) - {"columns", "timezone", "values"}:
        raise MappingError(
            f"{path}: expected a mapping with the keys 'columns', 'timezone' and 'values'"
        )
    columns = doc.get("columns") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise MappingError(f"{path}: 'columns' must map your column names to canonical names")
    timezone = doc.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise MappingError(f"{path}: 'timezone' must be a zone name such as Europe/Rome")
    values = doc.get("values") or {}
    if not isinstance(values, dict) or not all(
        isinstance(k, str)
        and isinstance(v, dict)
        and all(not isinstance(x, (dict, list)) for x in v.values())
        for k, v in values.items()
    ):
        raise MappingError(
            f"{path}: 'values' must map a canonical column to {{value in your file: value to load}}"
        )
    return Mapping(
        columns=dict(columns),
        timezone=timezone,
        values={
            column: {str(raw): str(new) for raw, new in pairs.items()}
            for column, pairs in values.items()
        },
    )


def normalise_name(name: str) -> str:
    """'Plan Tier' -> 'plan_tier': the form used to match canonical names and name attributes."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class Resolved:
    canonical: dict[str, str]  # canonical column -> source column
    attributes: dict[str, str]  # attribute name -> source column
    ignored: list[str]


def resolve_columns(
    contract: TableContract, source: str, columns: list[str], mapping: Mapping
) -> Resolved:
    """Decide which source column feeds which canonical column or attribute."""
    canonical_names = set(contract.column_names)
    for target in mapping.columns.values():
        if target not in canonical_names and not (
            contract.keeps_attributes and _IDENTIFIER.match(target)
        ):
            raise MappingError(
                f"mapping target {target!r} is not a column of {contract.name}; "
                f"valid: {', '.join(contract.column_names)}"
            )
    canonical: dict[str, str] = {}
    attributes: dict[str, str] = {}
    ignored: list[str] = []
    for col in columns:
        target = mapping.columns.get(col) or normalise_name(col)
        chosen = canonical if target in canonical_names else attributes
        if target not in canonical_names and not contract.keeps_attributes:
            ignored.append(col)
            continue
        if target in canonical or target in attributes:
            raise ContractError(
                f"{source}: the columns {chosen[target]!r} and {col!r} both map to {target!r}"
            )
        if not _IDENTIFIER.match(target):
            raise ContractError(
                f"{source}: the column {col!r} cannot be an attribute name; rename it in a mapping file"
            )
        chosen[target] = col
    missing = [c for c in contract.required_columns if c not in canonical]
    if missing:
        raise ContractError(
            f"{source}: missing required column(s) {', '.join(missing)} for {contract.name} "
            f"(found: {', '.join(columns) or 'none'}); rename yours with --mapping"
        )
    return Resolved(canonical, attributes, ignored)
