"""Reading the optimizer's reply: a causal structure and a task instruction, from JSON or from prose.

Small models answer in many shapes (JSON with other key names, JSON cut off, Python literals, Markdown
lists of ``A -> B`` lines, tagged sections); this finds the edges and the instruction in any of them and
maps column names leniently to the schema's. Pure functions, no network.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError

Edge = tuple[str, str]

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_ARROW = re.compile(r"\s*(?:-+>|→|⟶|=>)\s*")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_DAG_KEYS = ("dag", "causal_structure", "causal structure", "causal_graph", "edges", "graph")
_INSTRUCTION_KEYS = ("instruction", "task_instruction", "task instruction", "task", "guidance")
_INSTRUCTION_TAG = re.compile(
    r"<\s*task(?: instruction)?\s*>(.*?)<\s*[/\\]\s*task(?: instruction)?\s*>", re.DOTALL | re.IGNORECASE
)
# "instruction": "... in a JSON answer cut off before its end
_INSTRUCTION_JSONISH = re.compile(
    r"[\"']?(?:task_)?instruction[\"']?\s*:\s*[\"'](.*?)(?:(?<!\\)[\"']\s*[,}]|\Z)", re.DOTALL | re.IGNORECASE
)
_INSTRUCTION_LINE = re.compile(
    r"^\s*[*#_\s]*(?:task\s+)?instruction[*_\s]*:[*_\s]*(.+?)(?:\n\s*\n|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


def _balanced(text: str, start: int) -> str | None:
    """The bracketed span opening at ``text[start]``, honouring strings; None if it never closes."""
    pairs = {"{": "}", "[": "]"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start : i + 1]
    return None


def _load(candidate: str) -> Any:
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
        try:
            return ast.literal_eval(attempt)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return None


def _structures(text: str) -> list[Any]:
    """Every JSON or Python literal object/list found in ``text``, fenced blocks first."""
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    found: list[Any] = []
    for source in sources:
        i = 0
        while i < len(source):
            if source[i] in "{[":
                span = _balanced(source, i)
                if span is not None:
                    value = _load(span)
                    if value is not None:
                        found.append(value)
                        i += len(span)
                        continue
            i += 1
    return found


def _lookup(data: Mapping[str, Any], keys: Sequence[str]) -> tuple[bool, Any]:
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    for key in keys:
        if key in lowered:
            return True, lowered[key]
    return False, None


def _resolver(columns: Sequence[str]):
    loose = {" ".join(c.split()).casefold(): c for c in columns}

    def resolve(name: str) -> str:
        name = name.strip().strip("\"'`*").strip()
        return name if name in columns else loose.get(" ".join(name.split()).casefold(), name)

    return resolve


def _edge_from(item: Any, resolve) -> Edge | None:
    if isinstance(item, str):
        parts = [p for p in _ARROW.split(item.strip()) if p.strip()]
        return (resolve(parts[0]), resolve(parts[1])) if len(parts) == 2 else None
    if isinstance(item, Mapping):
        for a, b in (("parent", "child"), ("from", "to"), ("source", "target"), ("cause", "effect")):
            found_a, left = _lookup(item, (a,))
            found_b, right = _lookup(item, (b,))
            if found_a and found_b and isinstance(left, str) and isinstance(right, str):
                return resolve(left), resolve(right)
        return None
    if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return resolve(item[0]), resolve(item[1])
    return None


def _edges_from_value(value: Any, resolve) -> list[Edge] | None:
    """Edges from a "dag" value; None when the value has no usable shape at all."""
    if isinstance(value, str):
        return _edges_from_lines(value, resolve)
    if isinstance(value, Mapping):  # {"parent": ["child", ...]} adjacency form
        edges = []
        for parent, kids in value.items():
            for kid in [kids] if isinstance(kids, str) else kids if isinstance(kids, list) else []:
                if isinstance(kid, str):
                    edges.append((resolve(str(parent)), resolve(kid)))
        return edges
    if not isinstance(value, (list, tuple)):
        return None
    edges: list[Edge] = []
    for item in value:
        if isinstance(item, str) and not _ARROW.search(item):
            continue
        chain = [p for p in _ARROW.split(item.strip()) if p.strip()] if isinstance(item, str) else None
        if chain and len(chain) > 2:
            edges.extend((resolve(a), resolve(b)) for a, b in itertools.pairwise(chain))
            continue
        edge = _edge_from(item, resolve)
        if edge is not None:
            edges.append(edge)
    return edges if edges or not value else None


def _edges_from_lines(text: str, resolve) -> list[Edge]:
    edges: list[Edge] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", raw).strip().strip("`").rstrip(".,;")
        if not _ARROW.search(line) or len(line) > 400:
            continue
        chain = [p.strip() for p in _ARROW.split(line)]
        if any(not p for p in chain):
            continue
        edges.extend((resolve(a), resolve(b)) for a, b in itertools.pairwise(chain))
    return edges


def _instruction_from_text(text: str) -> str:
    tagged = _INSTRUCTION_TAG.search(text)
    if tagged:
        return tagged.group(1).strip()
    jsonish = _INSTRUCTION_JSONISH.search(text)
    if jsonish and jsonish.group(1).strip():
        return jsonish.group(1).replace('\\"', '"').strip()
    line = _INSTRUCTION_LINE.search(text)
    return line.group(1).strip().strip("\"'") if line else ""


def parse_optimizer_reply(text: str | None, columns: Sequence[str]) -> tuple[list[Edge], str]:
    """Read a new causal structure and instruction from the optimizer's answer, whatever its shape.

    Accepts a JSON object (bare, fenced or inside prose; Python-repr dicts and trailing commas too) with
    "dag" as [parent, child] pairs, ``"A -> B"`` strings, a text block of such lines, or
    ``{"parent": ..., "child": ...}`` objects, and the instruction under "instruction" or
    "task_instruction"; failing that, ``A -> B`` lines and an ``Instruction: ...`` line or ``<task>`` tag in
    plain text. Column names are mapped to ``columns`` ignoring case and spacing; unknown names are kept
    for :func:`mallm_gan.theta.causal.validate_dag` to report, and acyclicity is not checked here.

    Raises:
        ParseError: the reply is empty, or holds neither a causal structure nor an instruction.
    """
    if text is None or not text.strip():
        raise ParseError("the optimizer's reply is empty")
    resolve = _resolver(list(columns))
    problems: list[str] = []
    for value in _structures(text):
        if isinstance(value, Mapping):
            has_dag, dag = _lookup(value, _DAG_KEYS)
            has_instruction, instruction = _lookup(value, _INSTRUCTION_KEYS)
            if not has_dag and not has_instruction:
                continue
            if isinstance(instruction, list):
                instruction = " ".join(str(x) for x in instruction)
            instruction = instruction.strip() if isinstance(instruction, str) else ""
            edges = _edges_from_value(dag, resolve) if has_dag and dag is not None else []
            if edges is None:
                problems.append(f"'dag' has an unusable shape ({type(dag).__name__}: {str(dag)[:80]!r})")
                edges = []
            if edges or instruction:
                return edges, instruction
        elif isinstance(value, list) and value:
            edges = _edges_from_value(value, resolve)
            if edges:
                return edges, _instruction_from_text(text)
    edges = _edges_from_lines(text, resolve)
    instruction = _instruction_from_text(text)
    if edges or instruction:
        return edges, instruction
    problems.append("no JSON object with 'dag' or 'instruction', no 'A -> B' lines, no 'Instruction:' line")
    snippet = " ".join(text.split())[:200]
    raise ParseError(
        f"could not read a causal structure or instruction from the optimizer's reply "
        f"({'; '.join(problems)}): {snippet!r}",
        problems=problems,
    )


# -- the edit form: named edge changes to the best version's structure --------------------------------------
EDIT_KINDS = ("add", "remove", "reverse")
_EDIT_KEYS = {"add": ("add", "add_edges", "added"), "remove": ("remove", "remove_edges", "removed", "delete"),
              "reverse": ("reverse", "reverse_edges", "reversed", "flip")}
_EDIT_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*(add|remove|delete|reverse|flip)\s*:?\s*(.+)$", re.IGNORECASE)
_EDIT_ALIAS = {"delete": "remove", "flip": "reverse"}


@dataclass(frozen=True)
class EditReply:
    """The optimizer's answer in the edit form: edges to add, remove and reverse, and the new instruction."""

    add: tuple[Edge, ...] = ()
    remove: tuple[Edge, ...] = ()
    reverse: tuple[Edge, ...] = ()
    instruction: str = ""

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove or self.reverse or self.instruction)


def _edits_from_mapping(value: Mapping[str, Any], resolve) -> dict[str, list[Edge]] | None:
    found: dict[str, list[Edge]] = {}
    for kind in EDIT_KINDS:
        has, items = _lookup(value, _EDIT_KEYS[kind])
        if not has or items is None:
            continue
        edges = _edges_from_value(items, resolve)
        if edges is None and isinstance(items, (list, tuple)) and len(items) == 2:
            edges = _edges_from_value([items], resolve)  # one bare pair instead of a list of pairs
        found[kind] = edges or []
    return found or None


def _edits_from_lines(text: str, resolve) -> dict[str, list[Edge]]:
    found: dict[str, list[Edge]] = {kind: [] for kind in EDIT_KINDS}
    for raw in text.splitlines():
        match = _EDIT_LINE.match(raw.strip().strip("`"))
        if match:
            kind = _EDIT_ALIAS.get(match.group(1).lower(), match.group(1).lower())
            found[kind].extend(_edges_from_lines(match.group(2), resolve))
    return found


def parse_optimizer_edits(text: str | None, columns: Sequence[str]) -> EditReply:
    """Read an edit-form answer: ``{"add": [[p, c], ...], "remove": [...], "reverse": [...],
    "instruction": "..."}`` (any of the lists may be missing or empty; edges as pairs or ``"A -> B"``),
    else ``add: A -> B`` style lines and an ``Instruction:`` line. Names are mapped as in
    :func:`parse_optimizer_reply`; whether the edits apply is :func:`apply_edits`' question.

    Raises:
        ParseError: the reply is empty or holds no edit and no instruction.
    """
    if text is None or not text.strip():
        raise ParseError("the optimizer's reply is empty")
    resolve = _resolver(list(columns))
    for value in _structures(text):
        if not isinstance(value, Mapping):
            continue
        edits = _edits_from_mapping(value, resolve)
        has_instruction, instruction = _lookup(value, _INSTRUCTION_KEYS)
        instruction = instruction.strip() if isinstance(instruction, str) else ""
        if edits is not None or (has_instruction and instruction):
            edits = edits or {}
            return EditReply(*(tuple(edits.get(kind, ())) for kind in EDIT_KINDS), instruction=instruction)
    edits = _edits_from_lines(text, resolve)
    reply = EditReply(*(tuple(edits[kind]) for kind in EDIT_KINDS), instruction=_instruction_from_text(text))
    if reply.empty:
        snippet = " ".join(text.split())[:200]
        raise ParseError(f"could not read edits or an instruction from the optimizer's reply: {snippet!r}",
                         problems=["no JSON object with add/remove/reverse/instruction, no 'add: A -> B' line"])
    return reply


def apply_edits(edges: Sequence[Edge], reply: EditReply) -> tuple[list[Edge], list[tuple[Edge, str]]]:
    """``edges`` with the reply's removals, reversals and additions made, in that order, and the edits that
    could not be made with the reason: "remove: no such edge", "reverse: no such edge", "add: already
    there". Acyclicity and column names are left to :func:`mallm_gan.theta.causal.validate_dag`."""
    current = list(dict.fromkeys(edges))
    skipped: list[tuple[Edge, str]] = []
    for edge in reply.remove:
        if edge in current:
            current.remove(edge)
        else:
            skipped.append((edge, "remove: no such edge"))
    for edge in reply.reverse:
        if edge in current:
            current[current.index(edge)] = (edge[1], edge[0])
        else:
            skipped.append((edge, "reverse: no such edge"))
    for edge in reply.add:
        if edge in current:
            skipped.append((edge, "add: already there"))
        else:
            current.append(edge)
    return current, skipped


__all__ = ["EDIT_KINDS", "EditReply", "apply_edits", "parse_optimizer_edits", "parse_optimizer_reply"]
