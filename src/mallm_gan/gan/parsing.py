"""Tolerant parsing of LLM answers into row records (step 1 of :mod:`mallm_gan.gan.validation`).

It recovers rows from whatever text a model wrote (fenced, prose-wrapped, Python-repr, trailing commas, JSON
lines, truncated output) and counts the problems by reason; it never raises on bad text. The text is read by
the project's one tolerant-JSON scanner (:mod:`mallm_gan.table.jsontext`); this module turns its values into
rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..table import jsontext
from ..table.column import fold

_CONTAINER_KEYS = ("rows", "data", "records", "samples", "items", "results")
_MAX_DEPTH = 6


# -- parsing ---------------------------------------------------------------------------------------------


@dataclass
class ParseResult:
    """Rows recovered from one LLM answer.

    Attributes:
        records: Row dicts (string keys, raw values) in the order they appeared.
        problems: Counts of what could not be used, by reason ("empty", "no_json", "not_a_row",
            "wrong_length", "bad_json", "truncated", "no_rows").
        truncated: The answer ended inside a JSON value; complete rows before the cut were kept.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    truncated: bool = False


def parse_rows(text: str | None, columns: Sequence[str] | None = None) -> ParseResult:
    """Recover row records from an LLM answer; never raises on bad text.

    Args:
        text: The answer's content.
        columns: Column names in schema order. They identify a single object that is itself a row and map
            rows given as positional arrays onto names.

    Returns:
        The records found and the problems counted by reason.
    """
    result = ParseResult()
    if text is None or not str(text).strip():
        result.problems["empty"] += 1
        return result
    text = str(text)
    if text.lstrip().startswith('"'):  # JSON encoded twice: a string holding the JSON
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, str):
            return parse_rows(inner, columns)
    folded = {fold(c) for c in columns} if columns else set()
    fenced = jsontext.fenced_blocks(text)
    found = False
    if fenced:
        trial = ParseResult()
        found = any([_scan(part, columns, folded, trial, 0) for part in fenced])
        if trial.records:
            result = trial
    if not result.records:
        result = ParseResult()
        found = _scan(text, columns, folded, result, 0) or found
    if not result.records and not result.problems:
        result.problems["no_rows" if found else "no_json"] += 1
    return result


def _scan(text: str, columns: Sequence[str] | None, folded: set[str], out: ParseResult, depth: int) -> bool:
    """Parse every top-level JSON-ish value in ``text``; return whether any was found."""
    found = False
    for item in jsontext.scan(text):
        found = True
        if item.ok:
            _extract(item.value, columns, folded, out, depth)
            continue
        if item.end < 0:  # the answer stops inside this value: keep the complete rows before the cut
            out.truncated = True
            out.problems["truncated"] += 1
        _salvage(text, item.flats, columns, folded, out, depth)
    return found


def _salvage(text: str, flats: Sequence[tuple[int, int]], columns, folded, out: ParseResult, depth: int) -> None:
    for start, end in flats:
        segment = text[start:end]
        value = jsontext.loads(segment)
        if value is jsontext.NOT_JSON:
            # prose in brackets ("[see above]") is not a broken row; anything quoted or keyed is
            if segment.startswith("{") or '"' in segment or "'" in segment:
                out.problems["bad_json"] += 1
            continue
        if isinstance(value, (list, tuple)) and not columns:
            continue
        _extract(value, columns, folded, out, depth)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple, set, frozenset))


def _extract(value: Any, columns, folded: set[str], out: ParseResult, depth: int) -> None:
    """Turn one decoded value into records (a list of rows, a wrapper object, a row, ...)."""
    if depth > _MAX_DEPTH:
        out.problems["not_a_row"] += 1
        return
    if isinstance(value, dict):
        _extract_dict(value, columns, folded, out, depth)
    elif isinstance(value, (list, tuple)):
        if columns and value and all(_is_scalar(v) for v in value):
            _positional(value, columns, out)  # the whole list is one positional row
            return
        for item in value:
            if isinstance(item, dict):
                _extract_dict(item, columns, folded, out, depth + 1, inner=True)
            elif isinstance(item, (list, tuple)):
                if columns and all(_is_scalar(v) for v in item):
                    _positional(item, columns, out)
                else:
                    _extract(item, columns, folded, out, depth + 1)
            elif isinstance(item, str) and item.lstrip()[:1] in ("{", "["):
                _scan(item, columns, folded, out, depth + 1)
            else:
                out.problems["not_a_row"] += 1
    elif isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        _scan(value, columns, folded, out, depth + 1)  # JSON encoded twice
    else:
        out.problems["not_a_row"] += 1


def _extract_dict(value: dict, columns, folded: set[str], out: ParseResult, depth: int, inner=False) -> None:
    keys = {fold(str(k)): k for k in value}
    if folded and folded & set(keys):
        lists = [v for v in value.values() if isinstance(v, list)]
        if lists and len(lists) == len(value) and len({len(v) for v in lists}) == 1:
            # column-oriented: {"age": [30, 40], "sex": ["f", "m"]}
            names = [str(k) for k in value]
            out.records.extend(dict(zip(names, vals, strict=True)) for vals in zip(*lists, strict=True))
        else:
            out.records.append({str(k): v for k, v in value.items()})
        return
    if not folded and all(_is_scalar(v) for v in value.values()) and (inner or value):
        out.records.append({str(k): v for k, v in value.items()})
        return
    for key in _CONTAINER_KEYS:
        if key in keys and not _is_scalar(value[keys[key]]):
            _extract(value[keys[key]], columns, folded, out, depth + 1)
            return
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) == 1:
        _extract(lists[0], columns, folded, out, depth + 1)
    elif value and all(isinstance(v, dict) for v in value.values()):
        for item in value.values():  # {"row1": {...}, "row2": {...}} or a single wrapper
            _extract_dict(item, columns, folded, out, depth + 1, inner=len(value) > 1)
    else:
        out.problems["not_a_row"] += 1


def _positional(values: Sequence[Any], columns: Sequence[str], out: ParseResult) -> None:
    if len(values) != len(columns):
        out.problems["wrong_length"] += 1
    elif [str(v) for v in values] != list(columns):  # a header line is not a row
        out.records.append(dict(zip(columns, values, strict=True)))
