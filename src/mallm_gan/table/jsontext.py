"""The one tolerant-JSON scanner: every JSON-ish value embedded in free text.

Language models wrap JSON in prose and code fences, write Python literals (single quotes, ``True``,
``None``), leave trailing commas and stop in the middle of a value. :func:`scan` finds each bracketed value
in a text, reads it with :func:`loads` (JSON, then JSON without trailing commas, then a Python literal with
JSON's words; never ``eval``) and says where it ends, or that the text ends inside it. The row parser, the
optimizer's reply reader and the test responders all read text through it. Pure functions, no schema.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: ``loads`` found no reading of the text (distinct from a JSON ``null``).
NOT_JSON: Any = object()

# a fenced block, also one the answer never closes
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)(?:```|\Z)", re.S)
# splits text into quoted strings (odd items) and the rest (even items), so repairs never touch strings
_STRINGS = re.compile(r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_JSON_WORDS = re.compile(r"\b(true|false|null|NaN|nan)\b")
_PY_WORDS = {"true": "True", "false": "False", "null": "None", "NaN": "None", "nan": "None"}
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Found:
    """One bracketed value found by :func:`scan`.

    Attributes:
        start: Index of its opening bracket.
        end: Index just past its closing bracket; -1 when the text ends inside it (a cut-off answer).
        value: What :func:`loads` read, or :data:`NOT_JSON`.
        flats: ``(start, end)`` of its innermost bracketed parts (those holding no bracket), for salvaging
            the readable parts of a value that is unreadable or cut off as a whole.
    """

    start: int
    end: int
    value: Any
    flats: tuple[tuple[int, int], ...] = ()

    @property
    def ok(self) -> bool:
        return self.value is not NOT_JSON


def fenced_blocks(text: str) -> list[str]:
    """The contents of the text's Markdown code fences, in order (an unclosed last fence runs to the end)."""
    return [m.group(1) for m in _FENCE.finditer(text)] if "```" in text else []


def loads(segment: str) -> Any:
    """JSON, then JSON without trailing commas, then a Python literal; :data:`NOT_JSON` when none reads."""
    try:
        return json.loads(segment)
    except (ValueError, RecursionError):
        pass
    parts = _STRINGS.split(segment)
    plain = [_TRAILING_COMMA.sub(r"\1", p) if i % 2 == 0 else p for i, p in enumerate(parts)]
    try:
        return json.loads("".join(plain))
    except (ValueError, RecursionError):
        pass
    py = [_JSON_WORDS.sub(lambda m: _PY_WORDS[m.group(1)], p) if i % 2 == 0 else p for i, p in enumerate(plain)]
    try:
        return ast.literal_eval("".join(py))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOT_JSON


def brackets(text: str, start: int) -> tuple[int, list[tuple[int, int]]]:
    """End of the bracketed value opening at ``text[start]`` (-1 if it never closes) and its flat parts.

    Quoted strings (double or single quotes, with backslash escapes) are skipped, so a bracket inside a
    string neither opens nor closes anything.
    """
    stack: list[list[Any]] = []
    flats: list[tuple[int, int]] = []
    quote = ""
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch == '"' or ch == "'":
            quote = ch
        elif ch == "{" or ch == "[":
            if stack:
                stack[-1][1] = True
            stack.append([i, False])
        elif (ch == "}" or ch == "]") and stack:
            opened, nested = stack.pop()
            if not nested:
                flats.append((opened, i + 1))
            if not stack:
                return i + 1, flats
        i += 1
    return -1, flats


def read_at(text: str, start: int) -> Found:
    """The value whose opening bracket is ``text[start]``: strict JSON first (fast), then the repairs."""
    try:
        value, end = _DECODER.raw_decode(text, start)
        return Found(start, end, value)
    except (ValueError, RecursionError):
        pass
    end, flats = brackets(text, start)
    value = loads(text[start:end]) if end >= 0 else NOT_JSON
    return Found(start, end, value, tuple(flats))


def scan(text: str, *, descend: bool = False) -> Iterator[Found]:
    """Every top-level bracketed value in ``text``, in order.

    Args:
        text: Free text.
        descend: After a value that cannot be read (or never closes), look for values inside it (from the
            character after its opening bracket) instead of going on after its end; a value that is cut off
            ends the scan unless ``descend``.
    """
    pos, n = 0, len(text)
    while pos < n:
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            return
        found = read_at(text, min(starts))
        yield found
        if found.ok:
            pos = found.end
        elif descend:
            pos = found.start + 1
        elif found.end < 0:
            return
        else:
            pos = found.end


def values(text: str) -> list[Any]:
    """Every readable JSON-ish value in ``text``: those in its code fences first, then the whole text's.

    A value that cannot be read is searched for readable values inside it.
    """
    return [f.value for source in [*fenced_blocks(text), text] for f in scan(source, descend=True) if f.ok]


__all__ = ["NOT_JSON", "Found", "brackets", "fenced_blocks", "loads", "read_at", "scan", "values"]
