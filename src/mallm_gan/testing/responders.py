"""Answer makers for :class:`~mallm_gan.testing.fake_server.FakeOpenAIServer`.

A responder is any callable ``(request: dict) -> str | Reply | list[str | Reply]`` that receives the Chat
Completions request body (with ``model``). This module has two ready-made ones: a queue of scripted answers
and a schema-agnostic "echo rows" responder that builds plausible rows from the JSON examples in a prompt.
Neither is a language model.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..table import jsontext


@dataclass(frozen=True)
class Reply:
    """One answer: its text and the finish reason the server reports for it."""

    content: str
    finish_reason: str = "stop"


Answer = str | Reply | list[str | Reply]
Responder = Callable[[dict[str, Any]], Answer]


class ScriptExhaustedError(RuntimeError):
    """A :class:`ScriptedResponder` was asked for more answers than it was given."""


class ScriptedResponder:
    """Answers from a queue, one entry per request (an entry may be a list: the ``n`` choices).

    Args:
        answers: Strings, :class:`Reply` objects, or lists of them.

    Raises:
        ScriptExhaustedError: (on call) every scripted answer has been used.
    """

    def __init__(self, answers: Iterable[Answer]) -> None:
        self._queue: deque[Answer] = deque(answers)
        self._given = len(self._queue)
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    def __call__(self, request: dict[str, Any]) -> Answer:
        with self._lock:
            if not self._queue:
                raise ScriptExhaustedError(
                    f"ScriptedResponder: all {self._given} scripted answers were used; "
                    "this request has none (script more answers)"
                )
            return self._queue.popleft()


def constant_responder(answer: str | Reply) -> Responder:
    """A responder that always gives the same answer."""

    def respond(request: dict[str, Any]) -> Answer:
        return answer

    return respond


# -- echo rows ---------------------------------------------------------------------------------------------
_Scalar = (str, int, float, bool, type(None))
_COUNT_RE = re.compile(
    r"\b(\d{1,4})\s+(?:new\s+|more\s+|synthetic\s+|additional\s+|distinct\s+|different\s+)*"
    r"(?:rows|records|samples|examples|lines|entries)\b",
    re.IGNORECASE,
)


def last_user_text(request: dict[str, Any]) -> str:
    """Text of the last user message (text parts joined when the content is a list of parts)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _is_flat_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, _Scalar) for v in value.values())


def _row_blocks(values: list[Any]) -> list[tuple[list[str], list[list[Any]]]]:
    """Candidate example blocks as (columns, rows of values)."""
    blocks: list[tuple[list[str], list[list[Any]]]] = []
    loose: list[dict[str, Any]] = []

    def add_objects(objects: list[dict[str, Any]]) -> None:
        columns = list(objects[0])
        blocks.append((columns, [[o.get(c) for c in columns] for o in objects]))

    for value in values:
        if isinstance(value, list) and value and all(_is_flat_dict(v) for v in value):
            add_objects(value)
        elif isinstance(value, dict) and isinstance(value.get("columns"), list) and isinstance(value.get("rows"), list):
            columns = [str(c) for c in value["columns"]]
            rows = [list(r) for r in value["rows"] if isinstance(r, list) and len(r) == len(columns)]
            if rows:
                blocks.append((columns, rows))
        elif isinstance(value, dict) and not _is_flat_dict(value):
            for inner in value.values():
                if isinstance(inner, list) and inner and all(_is_flat_dict(v) for v in inner):
                    add_objects(inner)
        elif _is_flat_dict(value):
            loose.append(value)
    if loose:
        same = [o for o in loose if list(o) == list(loose[0])]
        add_objects(same)
    return blocks


@dataclass(frozen=True)
class _Shape:
    wrapper: str | None  # property holding the rows, or None for a top-level list
    as_arrays: bool
    columns: list[str] | None  # column order the schema fixes, when it does
    items: dict[str, Any]  # the item schema (for per-column bounds)
    count: int | None


def _answer_shape(request: dict[str, Any]) -> _Shape:
    fmt = request.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if not isinstance(schema, dict):
        return _Shape(None, False, None, {}, None)
    wrapper, array = None, schema
    if schema.get("type") != "array":
        props = schema.get("properties") or {}
        names = [n for n, p in props.items() if isinstance(p, dict) and p.get("type") == "array"]
        if not names:
            return _Shape(None, False, None, {}, None)
        wrapper = "rows" if "rows" in names else names[0]
        array = props[wrapper]
    items = array.get("items") if isinstance(array.get("items"), dict) else {}
    count = array.get("minItems") or array.get("maxItems")
    if "prefixItems" in items or items.get("type") == "array":
        prefix = items.get("prefixItems") or []
        titles = [p.get("title") for p in prefix if isinstance(p, dict)]
        columns = titles if titles and all(isinstance(t, str) for t in titles) else None
        return _Shape(wrapper, True, columns, items, count)
    columns = list(items.get("properties") or {}) or None
    return _Shape(wrapper, False, columns, items, count)


def _column_schema(shape: _Shape, index: int, name: str) -> dict[str, Any]:
    if shape.as_arrays:
        prefix = shape.items.get("prefixItems") or []
        return prefix[index] if index < len(prefix) and isinstance(prefix[index], dict) else {}
    prop = (shape.items.get("properties") or {}).get(name)
    return prop if isinstance(prop, dict) else {}


def _decimals(value: float) -> int:
    text = repr(value)
    return min(6, len(text.split(".", 1)[1])) if "." in text and "e" not in text else 6


def jitter(value: Any, rng: random.Random, scale: float = 0.05, bounds: dict[str, Any] | None = None) -> Any:
    """``value`` moved by up to ``scale`` of itself (numbers only; ints stay ints, floats keep precision)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    moved: float = value * (1.0 + rng.uniform(-scale, scale))
    bounds = bounds or {}
    if isinstance(bounds.get("minimum"), int | float):
        moved = max(moved, bounds["minimum"])
    if isinstance(bounds.get("maximum"), int | float):
        moved = min(moved, bounds["maximum"])
    if isinstance(value, int):
        return round(moved)
    return round(moved, _decimals(value))


class EchoRowsResponder:
    """Rows made by copying the prompt's JSON examples and jittering their numbers a little.

    It reads the last user message, finds example rows given either as a JSON list of objects or as
    ``{"columns": [...], "rows": [[...], ...]}``, and answers in the shape the request's ``json_schema``
    response format asks for (``{"rows": [...]}`` of arrays or objects, or a top-level array); without a
    schema it answers a JSON list of objects. The number of rows comes from the schema's ``minItems`` /
    ``maxItems``, else from "N rows" in the prompt, else the number of examples. Without examples it echoes
    the prompt back. Strings are kept as they are, so it never invents categories; it is not a model.

    Args:
        seed: Seed of its random generator.
        scale: Relative jitter of numbers.
    """

    def __init__(self, *, seed: int | None = None, scale: float = 0.05) -> None:
        self.seed = seed
        self.scale = scale
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> str:
        text = last_user_text(request)
        shape = _answer_shape(request)
        blocks = _row_blocks([found.value for found in jsontext.scan(text, descend=True) if found.ok])
        if not blocks:
            return f"echo: {text}"
        columns, examples = self._pick(blocks, shape.columns)
        count = shape.count
        if count is None:
            match = _COUNT_RE.search(text)
            count = int(match.group(1)) if match else len(examples)
        count = max(1, min(int(count), 1000))
        out_columns = shape.columns or columns
        rows = []
        with self._lock:
            for _ in range(count):
                example = dict(zip(columns, self._rng.choice(examples), strict=True))
                row = [
                    jitter(example.get(name), self._rng, self.scale, _column_schema(shape, i, name))
                    for i, name in enumerate(out_columns)
                ]
                rows.append(row if shape.as_arrays else dict(zip(out_columns, row, strict=True)))
        answer: Any = rows if shape.wrapper is None else {shape.wrapper: rows}
        return json.dumps(answer, ensure_ascii=False)

    @staticmethod
    def _pick(
        blocks: list[tuple[list[str], list[list[Any]]]], wanted: list[str] | None
    ) -> tuple[list[str], list[list[Any]]]:
        # Prompts may also carry JSON that is not examples (a column list, a schema): prefer the block whose
        # columns match what the answer must contain, else the last block (examples usually come last).
        if wanted:
            best = max(range(len(blocks)), key=lambda i: (len(set(blocks[i][0]) & set(wanted)), i))
            return blocks[best]
        return blocks[-1]


# -- a memorising stand-in ---------------------------------------------------------------------------------
class MemorisingResponder:
    """Plays a model that memorises: a share of its rows are an example row of the prompt with every number
    moved by less than ``scale`` of itself; the other rows and every optimizer answer come from ``inner``
    (the statistical :class:`~mallm_gan.testing.simulated.SimulatedResponder` by default). Not a model.

    Args:
        inner: Responder for everything that is not a memorised row.
        share: Chance that a row is a memorised example.
        scale: Largest relative move of a memorised number (0.005: below 0.5%).
        seed: Seed of which rows are memorised and how they move.
    """

    def __init__(self, inner: Responder | None = None, *, share: float = 0.5, scale: float = 0.005,
                 seed: int | None = 0) -> None:
        if inner is None:
            from .simulated import SimulatedResponder

            inner = SimulatedResponder()
        self.inner = inner
        self.share = share
        self.scale = scale
        self.seed = seed
        self._lock = threading.Lock()
        self.memorised = 0

    def __call__(self, request: dict[str, Any]) -> Answer:
        answer = self.inner(request)
        text = last_user_text(request)
        start, end = text.find("<examples>"), text.find("</examples>")
        if not isinstance(answer, str) or start < 0 or end < start:
            return answer
        try:
            examples = json.loads(text[text.index("{", start):text.rindex("}", start, end) + 1])
            payload = json.loads(answer)
            columns, rows = list(examples["columns"]), examples["rows"]
        except (ValueError, KeyError, TypeError):
            return answer
        if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list) or not rows:
            return answer
        # one generator per request, from its content: the same request gets the same answer in any order
        rng = random.Random(f"{self.seed}:{json.dumps(request.get('messages'), sort_keys=True)}:{request.get('seed')}")
        memorised = 0
        for i, row in enumerate(payload["rows"]):
            # rows come as positional lists or, in the portable dialect, as objects keyed by column
            keyed = isinstance(row, dict) and list(row) == columns
            if not (keyed or (isinstance(row, list) and len(row) == len(columns))) or rng.random() >= self.share:
                continue
            echoed = [jitter(v, rng, self.scale) for v in rng.choice(rows)]
            payload["rows"][i] = dict(zip(columns, echoed, strict=True)) if keyed else echoed
            memorised += 1
        with self._lock:
            self.memorised += memorised
        return json.dumps(payload, separators=(",", ":"))


__all__ = [
    "Answer",
    "EchoRowsResponder",
    "MemorisingResponder",
    "Reply",
    "Responder",
    "ScriptExhaustedError",
    "ScriptedResponder",
    "constant_responder",
    "jitter",
    "last_user_text",
]
