"""Reading the optimizer's reply: a causal structure and a task instruction, from JSON or from prose.

Small models answer in many shapes (JSON with other key names, JSON cut off, Python literals, Markdown
lists of ``A -> B`` lines, tagged sections); this finds the edges and the instruction in any of them and
maps column names leniently to the schema's. Pure functions, no network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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


__all__ = ["parse_optimizer_reply"]
