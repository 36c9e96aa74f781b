"""The ``simulated`` backend: a statistical stand-in for an LLM. **It is not a language model.**

It answers the two kinds of request the method sends, reading only what a real model would read in them:

- generator requests: the example rows (``<examples>``), the causal structure (``A -> B`` lines) and the
  answer's JSON schema (column names, categories, bounds, precision). It writes new rows column by column in
  the causal order: each value comes from an example whose parents' values match the row being built (or
  the closest ones), numbers jittered within the schema's bounds, occasionally a category seen in the schema
  but not in the examples. So rows follow the given DAG, as a model that obeys θ would.
- optimizer requests: it takes the best (last) version's causal structure and instruction and returns them
  with one random edge added, removed or reversed, kept acyclic. When the prompt carries a feedback block
  (``<feedback>``), it follows the block's first structure hint instead, half of the time: it adds the
  strongest real dependency the structure leaves out, or removes an edge the real rows do not show. That
  is a scripted reading of the hints, not a model's; it checks whether the hints point the right way.
  Asked for the edit form (schema title ``theta_edits``), it answers with the same change as named edits.

It is served through :class:`~mallm_gan.testing.fake_server.FakeOpenAIServer`, so the real HTTP client
(concurrency, retries, JSON schema response formats, ``n``, seeds) is exercised. Its purposes are fast tests
of the loop's mechanics and the benchmark grid; its rows say nothing about what a language model would write.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from typing import Any

import numpy as np

from ..gan.answer_schema import column_schemas

_EXAMPLES = re.compile(r"<examples>.*?(\{\s*\"columns\".*?\]\s*\]?\s*\})\s*</examples>", re.DOTALL)
_DAG_SECTION = re.compile(r"<causal structure>(.*?)</causal structure>", re.DOTALL)
_VERSION = re.compile(r"<version \d+>(.*?)</version \d+>", re.DOTALL)
_EDGE = re.compile(r"^\s*(.+?)\s*->\s*(.+?)\s*$")
_N_ROWS = re.compile(r"Write exactly (\d+) new row")


def _request_rng(request: dict[str, Any]) -> np.random.Generator:
    text = json.dumps(request.get("messages", []), sort_keys=True)
    digest = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
    return np.random.default_rng([digest, int(request.get("seed", 0) or 0)])


def _edges(text: str) -> list[tuple[str, str]]:
    edges = []
    for line in text.splitlines():
        match = _EDGE.match(line)
        if match and not line.strip().startswith(("Each line", "#")):
            edges.append((match.group(1).strip(), match.group(2).strip()))
    return edges


def _schema_of(request: dict[str, Any]) -> dict[str, Any] | None:
    fmt = request.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    grammar = request.get("grammar")
    if isinstance(grammar, str) and "%json" in grammar:
        return json.loads(grammar.split("%json", 1)[1])
    return None


class SimulatedResponder:
    """Callable responder for :class:`FakeOpenAIServer` (see the module docstring). Not a language model.

    Args:
        explore: Chance of writing a schema category not among the examples (keeps rare categories alive).
        follow: Chance of following the first structure hint of a feedback block, when there is one.
        jitter: Standard deviation of numeric noise, as a share of the column's range.
    """

    def __init__(self, *, explore: float = 0.05, jitter: float = 0.05, follow: float = 0.5) -> None:
        self.explore = explore
        self.jitter = jitter
        self.follow = follow
        self._lock = threading.Lock()
        self.calls = {"generator": 0, "optimizer": 0, "other": 0}

    def __call__(self, request: dict[str, Any]) -> str:
        messages = request.get("messages", [])
        text = "\n".join(str(m.get("content", "")) for m in messages)
        schema = _schema_of(request) or {}
        kind = schema.get("title")
        if kind == "theta" or "<version " in text:
            self._count("optimizer")
            return self._optimize(request, text, schema)
        if kind == "rows" or "<examples>" in text or _N_ROWS.search(text):
            self._count("generator")
            return self._generate(request, text, schema)
        self._count("other")
        return json.dumps({"error": "the simulated backend only answers generator and optimizer prompts"})

    def _count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1

    # -- generator ----------------------------------------------------------------------------------
    def _generate(self, request: dict[str, Any], text: str, schema: dict[str, Any]) -> str:
        rng = _request_rng(request)
        match = _EXAMPLES.search(text)
        payload = json.loads(match.group(1)) if match else {"columns": [], "rows": []}
        columns: list[str] = payload.get("columns", [])
        examples: list[list[Any]] = payload.get("rows", [])
        rows_spec = (schema.get("properties") or {}).get("rows") or {}
        slots = column_schemas(schema)
        if slots:
            columns = list(slots)
        as_objects = "properties" in (rows_spec.get("items") or {})
        n_rows = rows_spec.get("minItems")
        if n_rows is None:
            found = _N_ROWS.search(text)
            n_rows = int(found.group(1)) if found else 5
        spec = {c: slots.get(c, {}) for c in columns}
        dag_match = _DAG_SECTION.search(text)
        edges = [e for e in _edges(dag_match.group(1) if dag_match else "") if e[0] in spec and e[1] in spec]
        order = _topological(columns, edges)
        parents = {c: [p for p, ch in edges if ch == c] for c in columns}
        position = {c: i for i, c in enumerate(columns)}
        out = []
        for _ in range(int(n_rows)):
            row: dict[str, Any] = {}
            for column in order:
                row[column] = self._value(column, parents[column], row, examples, position, spec[column], rng)
            out.append({c: row[c] for c in columns} if as_objects else [row[c] for c in columns])
        return json.dumps({"rows": out}, separators=(",", ":"))

    def _value(
        self, column: str, parents: list[str], row: dict[str, Any], examples: list[list[Any]],
        position: dict[str, int], spec: dict[str, Any], rng: np.random.Generator,
    ) -> Any:
        enum = [v for v in spec.get("enum", []) if v is not None]
        if enum and (not examples or rng.random() < self.explore):
            return enum[int(rng.integers(len(enum)))]
        if not examples:
            return _draw_number(spec, rng)
        if parents:
            scores = [sum(_close(ex[position[p]], row[p], spec) for p in parents) for ex in examples]
            top = max(scores)
            candidates = [ex for ex, s in zip(examples, scores, strict=True) if s == top]
        else:
            candidates = examples
        value = candidates[int(rng.integers(len(candidates)))][position[column]]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not enum:
            value = self._jitter(value, spec, rng)
        return value

    # -- optimizer ----------------------------------------------------------------------------------
    def _optimize(self, request: dict[str, Any], text: str, schema: dict[str, Any]) -> str:
        from ..theta.causal import validate_dag
        from ..theta.graphs import random_edit

        rng = _request_rng(request)
        versions = _VERSION.findall(text)
        best = versions[-1] if versions else ""
        structure = best.split("Task instruction:", 1)[0]
        instruction = best.split("Task instruction:", 1)[1].split("\nScore:", 1)[0].strip() if (
            "Task instruction:" in best) else ""
        properties = schema.get("properties") or {}
        edge = (properties.get("dag") or properties.get("add") or {}).get("items") or {}
        names = (edge.get("items") or {}).get("enum", [])
        if not names:
            found = re.search(r"column names, spelled exactly as here: (\[.*?\])", text)
            names = json.loads(found.group(1)) if found else []
        edges = list(validate_dag(_edges(structure), names).edges) if names else _edges(structure)
        # the coin is tossed only when there is a hint, so prompts without feedback get the same edits as before
        hinted = _follow_hint(edges, text)
        if hinted is not None and not rng.random() < self.follow:
            hinted = None
        edited = hinted if hinted is not None else random_edit(edges, names, rng) if names else tuple(edges)
        if schema.get("title") == "theta_edits":
            added = [e for e in edited if e not in edges]
            reversed_ = [e for e in edges if (e[1], e[0]) in added]
            return json.dumps({
                "add": [list(e) for e in added if (e[1], e[0]) not in edges],
                "remove": [list(e) for e in edges if e not in edited and e not in reversed_],
                "reverse": [list(e) for e in reversed_], "instruction": instruction,
            })
        return json.dumps({"dag": [list(e) for e in edited], "instruction": instruction})

    def _jitter(self, value: float, spec: dict[str, Any], rng: np.random.Generator) -> float | int:
        low, high = spec.get("minimum"), spec.get("maximum")
        span = (high - low) if low is not None and high is not None else abs(value) or 1.0
        value = value + rng.normal(0, self.jitter * span)
        if low is not None:
            value = max(low, value)
        if high is not None:
            value = min(high, value)
        return _quantise(value, spec)


_FEEDBACK = re.compile(r"<feedback>(.*?)</feedback>", re.DOTALL)
_HINT_REMOVE = re.compile(r"^- (.+?) -> (.+?): .*consider removing this edge", re.MULTILINE)
_HINT_ADD = re.compile(r"^- (.+?) and (.+?): .*no edge joins them", re.MULTILINE)


def _follow_hint(edges: list[tuple[str, str]], text: str) -> tuple[tuple[str, str], ...] | None:
    """The structure after the feedback block's first hint (add a left-out dependency, else remove an edge
    real rows do not show); None when the prompt has no usable hint."""
    from ..theta.graphs import is_acyclic

    block = _FEEDBACK.search(text)
    if block is None:
        return None
    for a, b in _HINT_ADD.findall(block.group(1)):
        for edge in ((a, b), (b, a)):
            if edge not in edges and is_acyclic([*edges, edge]):
                return (*edges, edge)
    for a, b in _HINT_REMOVE.findall(block.group(1)):
        if (a, b) in edges:
            return tuple(e for e in edges if e != (a, b))
    return None


def _close(a: Any, b: Any, spec: dict[str, Any]) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        low, high = spec.get("minimum"), spec.get("maximum")
        span = (high - low) if low is not None and high is not None else max(abs(a), abs(b), 1.0)
        return abs(a - b) <= 0.1 * span
    return a == b


def _quantise(value: float, spec: dict[str, Any]) -> float | int:
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds:
        return int(round(value))
    step = spec.get("multipleOf")
    if step:
        decimals = max(0, -int(math.floor(math.log10(step) + 1e-9)))
        return round(round(value / step) * step, decimals)
    return value


def _draw_number(spec: dict[str, Any], rng: np.random.Generator) -> Any:
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is None or high is None:
        return None
    return _quantise(rng.uniform(low, high), spec)


def _topological(columns: list[str], edges: list[tuple[str, str]]) -> list[str]:
    indegree = {c: 0 for c in columns}
    for _, child in edges:
        indegree[child] += 1
    ready = [c for c in columns if indegree[c] == 0]
    order = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for parent, child in edges:
            if parent == node:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
    # a cyclic structure (never sent by the loop, but possible by hand) falls back to column order
    return order + [c for c in columns if c not in order]




_SERVER_LOCK = threading.Lock()
_SERVER: Any = None


def shared_server() -> Any:
    """One in-process fake server with the simulated responder, started on first use (127.0.0.1 only)."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            from .fake_server import FakeOpenAIServer

            _SERVER = FakeOpenAIServer(SimulatedResponder()).start()
        return _SERVER


def create_simulated_client(spec: Any, **options: Any) -> Any:
    """Factory of the ``simulated`` spec: the real OpenAI-compatible client talking to the shared server."""
    from ..llm.openai_compat import OpenAICompatClient

    class SimulatedClient(OpenAICompatClient):
        @property
        def schema_dialect(self) -> str:
            return "positional"  # our own server reads the per-column slots of the tuple form

        def describe(self) -> str:
            return "simulated (a statistical stand-in, not a language model)"

    server = shared_server()
    options.pop("base_url", None)
    options.pop("api_key", None)
    return SimulatedClient(model="simulated", base_url=server.url, api_key="simulated", **options)
