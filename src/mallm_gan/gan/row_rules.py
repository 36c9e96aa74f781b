"""Decode-time enforcement of allowed-combinations rules: the rows JSON schema narrowed by an ``anyOf``.

A rule that fixes a value or a range from another column cannot be said in one JSON schema; a rule that
lists the allowed combinations of categorical columns can: one branch per allowed value of its leading
columns, the last column an enum. Backends that follow a JSON schema with a grammar then cannot write a
forbidden combination; every row is still checked after parsing (other backends rely on that check and
the top-up).
"""

from __future__ import annotations

from typing import Any

from ..table.constraints import FINITE_KINDS, schema_constraints
from ..table.schema import TableSchema

#: Most branches an allowed-combinations ``anyOf`` may have; beyond it the rule is left to the row check.
MAX_COMBINATION_BRANCHES = 256


def narrow_to_combinations(rows_schema: dict[str, Any], schema: TableSchema) -> dict[str, Any]:
    """``rows_schema`` (from :func:`~mallm_gan.gan.answer_schema.rows_json_schema`, either dialect) with the
    schema's allowed-combinations rules added to each row as an ``anyOf``: one branch per allowed value of
    the rule's leading columns, the last column an enum of the values allowed with them. Each branch spells
    out the whole row (the row's tuple slots, or, in the portable dialect, a complete strict object), and the
    row keeps its own slots beside the ``anyOf``, so readers of a row's columns find them as before. A backend
    that follows JSON schemas (a grammar) then cannot write a forbidden combination; the check on every row
    stays. Slots already narrowed (conditions) narrow the combinations too; rules on other kinds of column,
    and rules too large to spell out, are skipped."""
    combos = [c for c in schema_constraints(schema).combinations()
              if all(schema[n].kind in FINITE_KINDS for n in c[0])] if schema.constraints else []
    row = ((rows_schema.get("properties") or {}).get("rows") or {}).get("items")
    slots = _row_slots(row, schema)
    if not combos or slots is None:
        return rows_schema
    position = {name: i for i, name in enumerate(schema.names)}
    branches: list[dict[int, list[Any]]] = [{}]
    for columns, values in combos:
        allowed = [v for v in values
                   if all(_slot_allows(slots[position[c]], x) for c, x in zip(columns, v, strict=True))]
        grouped: dict[tuple[Any, ...], list[Any]] = {}
        for combo in allowed:
            grouped.setdefault(combo[:-1], []).append(combo[-1])
        rule = [{**{position[c]: [x] for c, x in zip(columns[:-1], head, strict=True)}, position[columns[-1]]: last}
                for head, last in grouped.items()]
        merged = [m for m in (_merge_branch(b, r) for b in branches for r in rule) if m is not None]
        if merged and len(merged) <= MAX_COMBINATION_BRANCHES:
            branches = merged
    if branches == [{}]:
        return rows_schema
    assert isinstance(row, dict)
    narrowed = {**row, "anyOf": [_branch(row, schema, slots, branch) for branch in branches]}
    rows = {**rows_schema["properties"]["rows"], "items": narrowed}
    return {**rows_schema, "properties": {**rows_schema["properties"], "rows": rows}}


def _row_slots(row: Any, schema: TableSchema) -> list[dict[str, Any]] | None:
    """The row's column schemas in column order: tuple slots (positional) or properties (portable)."""
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("prefixItems"), list):
        return row["prefixItems"]
    properties = row.get("properties")
    if isinstance(properties, dict) and list(properties) == list(schema.names):
        return [properties[name] for name in schema.names]
    return None


def _branch(row: dict[str, Any], schema: TableSchema, slots: list[dict[str, Any]],
            branch: dict[int, list[Any]]) -> dict[str, Any]:
    spelled = [_slot_enum(slots[i], branch[i]) if i in branch else slots[i] for i in range(len(slots))]
    if "prefixItems" in row:
        return {"prefixItems": spelled}
    # a strict provider wants every object complete: all keys required, no others
    return {**row, "properties": dict(zip(schema.names, spelled, strict=True))}


def _slot_allows(slot: dict[str, Any], value: Any) -> bool:
    return "enum" not in slot or value in slot["enum"]


def _merge_branch(a: dict[int, list[Any]], b: dict[int, list[Any]]) -> dict[int, list[Any]] | None:
    out = dict(a)
    for i, values in b.items():
        out[i] = [v for v in out[i] if v in values] if i in out else values
        if not out[i]:
            return None
    return out


def _slot_enum(slot: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    enum = list(values)  # canonical categories and booleans are JSON values already
    if None in (slot.get("enum") or ()) or "null" in (slot.get("type") or ()):
        enum.append(None)  # a missing value makes the rule unknown, which the check lets pass
    return {**{k: v for k, v in slot.items() if k not in ("enum", "type")}, "enum": enum}


__all__ = ["MAX_COMBINATION_BRANCHES", "narrow_to_combinations"]
