"""θ, the data generation process the generator follows and the optimizer revises.

θ has four parts: a free-text context about the data, the schema (held by :class:`TableSchema`, not here,
because it is fixed for a run), a causal structure given as (parent, child) edges, and a task instruction.
Only the causal structure and the instruction change during training; θ is plain data so that people can
read it, edit it and hand it back (the explicit θ is what invites expert feedback).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError
from ..table.schema import TableSchema
from .edges import Edge, as_edge

DEFAULT_INSTRUCTION = (
    "Write new rows that could have been drawn from the same population as the real examples. "
    "Choose the value of each column given the values of its causes in the causal structure, so that the "
    "relationships between columns stay realistic. Follow the schema exactly: allowed categories, ranges and "
    "number of decimals. Make the rows diverse: vary the values across their realistic ranges and include "
    "less common categories at plausible rates. Do not copy the example rows."
)

ROLE = (
    "You are a skilled data generation model. Your task is to understand the data generation process "
    "described below and to write new rows of tabular data that follow it."
)

#: Section tags of the rendered system prompt, in order.
SECTION_TAGS: tuple[str, ...] = ("context", "schema", "causal structure", "task instruction")

NO_CONTEXT = "No description of the data was given."
NO_EDGES = "No causal relationships between the columns are known."
EDGE_LEGEND = 'Each line "A -> B" means that A is a direct cause of B.'


def _section(tag: str, body: str) -> str:
    return f"<{tag}>\n{body.strip()}\n</{tag}>"


@dataclass(frozen=True)
class DataGenerationProcess:
    """θ: context, causal structure and task instruction (the schema is passed to :meth:`render`).

    Attributes:
        context: What the data is about, in the user's words.
        dag: Causal edges ``(parent, child)``; acyclicity and column names are checked by
            :func:`mallm_gan.theta.causal.validate_dag`, not here, so that a hand-edited θ can be repaired
            with a report instead of refused.
        instruction: The task instruction the generator follows.
    """

    context: str = ""
    dag: tuple[Edge, ...] = ()
    instruction: str = DEFAULT_INSTRUCTION

    def __post_init__(self) -> None:
        if not isinstance(self.context, str):
            raise ConfigError(f"θ context must be a string, got {type(self.context).__name__}")
        if not isinstance(self.instruction, str):
            raise ConfigError(f"θ instruction must be a string, got {type(self.instruction).__name__}")
        if isinstance(self.dag, (str, bytes)) or not isinstance(self.dag, Iterable):
            raise ConfigError("θ dag must be a list of [parent, child] pairs")
        # frozen: normalise lists from JSON into the hashable tuple form once, here
        object.__setattr__(self, "dag", tuple(as_edge(e) for e in self.dag))

    # -- text ---------------------------------------------------------------------------------------
    def edges_text(self) -> str:
        """One ``"A -> B"`` line per edge, or a sentence saying that no edge is known."""
        if not self.dag:
            return NO_EDGES
        return "\n".join(f"{parent} -> {child}" for parent, child in self.dag)

    def render(self, schema: TableSchema) -> str:
        """The generator's system prompt: role, then context, schema, causal structure and task sections."""
        causal = f"{EDGE_LEGEND}\n{self.edges_text()}" if self.dag else NO_EDGES
        sections = [
            ROLE,
            _section("context", self.context.strip() or NO_CONTEXT),
            _section("schema", "Columns, in order:\n" + schema.describe()),
            _section("causal structure", causal),
            _section("task instruction", self.instruction.strip() or DEFAULT_INSTRUCTION),
        ]
        return "\n\n".join(sections)

    # -- changes ------------------------------------------------------------------------------------
    def with_dag(self, edges: Iterable[Any]) -> DataGenerationProcess:
        return replace(self, dag=tuple(edges))

    def with_instruction(self, text: str) -> DataGenerationProcess:
        return replace(self, instruction=text)

    def with_context(self, text: str) -> DataGenerationProcess:
        return replace(self, context=text)

    def diff(self, other: DataGenerationProcess) -> tuple[list[Edge], list[Edge]]:
        """Edges that going from ``self`` to ``other`` adds and removes, each in its θ's edge order."""
        mine, theirs = set(self.dag), set(other.dag)
        added = [e for e in other.dag if e not in mine]
        removed = [e for e in self.dag if e not in theirs]
        return added, removed

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "dag": [[parent, child] for parent, child in self.dag],
            "instruction": self.instruction,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataGenerationProcess:
        """Read θ from :meth:`to_dict` output or a hand-written file.

        ``dag`` may list ``[parent, child]`` pairs or ``"parent -> child"`` strings; a missing
        ``instruction`` means :data:`DEFAULT_INSTRUCTION`, a missing ``context`` the empty string.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"θ must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"context", "dag", "instruction"}
        if unknown:
            raise ConfigError(f"θ has unknown field(s) {sorted(unknown)}; known: ['context', 'dag', 'instruction']")
        dag = data.get("dag") or ()
        if isinstance(dag, str):
            dag = [line for line in dag.splitlines() if line.strip()]
        return cls(
            context=data.get("context") or "",
            dag=dag,
            instruction=data.get("instruction") or DEFAULT_INSTRUCTION,
        )


__all__ = ["DEFAULT_INSTRUCTION", "ROLE", "SECTION_TAGS", "DataGenerationProcess", "Edge"]
