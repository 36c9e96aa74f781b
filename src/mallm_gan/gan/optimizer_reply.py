"""Reading the optimizer's reply: a causal structure and a task instruction, from JSON or from prose.

Small models answer in many shapes (JSON with other key names, JSON cut off, Python literals, Markdown
lists of ``A -> B`` lines, tagged sections); this finds the edges and the instruction in any of them and
maps column names leniently to the schema's. Pure functions, no network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ParseError
from ..table import jsontext
from ..theta.edges import Edge, edges_from_lines, edges_from_value

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
    for value in jsontext.values(text):
        if isinstance(value, Mapping):
            has_dag, dag = _lookup(value, _DAG_KEYS)
            has_instruction, instruction = _lookup(value, _INSTRUCTION_KEYS)
            if not has_dag and not has_instruction:
                continue
            if isinstance(instruction, list):
                instruction = " ".join(str(x) for x in instruction)
            instruction = instruction.strip() if isinstance(instruction, str) else ""
            edges = edges_from_value(dag, resolve) if has_dag and dag is not None else []
            if edges is None:
                problems.append(f"'dag' has an unusable shape ({type(dag).__name__}: {str(dag)[:80]!r})")
                edges = []
            if edges or instruction:
                return edges, instruction
        elif isinstance(value, list) and value:
            edges = edges_from_value(value, resolve)
            if edges:
                return edges, _instruction_from_text(text)
    edges = edges_from_lines(text, resolve)
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
        edges = edges_from_value(items, resolve)
        if edges is None and isinstance(items, (list, tuple)) and len(items) == 2:
            edges = edges_from_value([items], resolve)  # one bare pair instead of a list of pairs
        found[kind] = edges or []
    return found or None


def _edits_from_lines(text: str, resolve) -> dict[str, list[Edge]]:
    found: dict[str, list[Edge]] = {kind: [] for kind in EDIT_KINDS}
    for raw in text.splitlines():
        match = _EDIT_LINE.match(raw.strip().strip("`"))
        if match:
            kind = _EDIT_ALIAS.get(match.group(1).lower(), match.group(1).lower())
            found[kind].extend(edges_from_lines(match.group(2), resolve))
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
    for value in jsontext.values(text):
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
