"""The one edge parser: causal edges from pairs, ``"A -> B"`` text, objects and files.

Two readings share one grammar. :func:`as_edge` / :func:`read_edges` are strict, for what a person wrote
(a θ file, ``--dag``, a true DAG): an edge that cannot be read is a :class:`ConfigError` naming it.
:func:`edge_from`, :func:`edges_from_value` and :func:`edges_from_lines` are lenient, for a model's answer:
they skip what they cannot read and also take chains (``A -> B -> C``), bullets, other arrows (``-->``,
``=>``, ``→``) and ``{"parent": .., "child": ..}`` objects. Column names are not checked here
(:func:`mallm_gan.theta.causal.validate_dag` does that, with a reason per edge).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..runstate import read_json

Edge = tuple[str, str]
Resolve = Callable[[str], str]

ARROW = re.compile(r"\s*(?:-+>|→|⟶|=>)\s*")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_OBJECT_KEYS = (("parent", "child"), ("from", "to"), ("source", "target"), ("cause", "effect"))
#: Keys under which a JSON object holds its edge list, in order of preference.
EDGE_LIST_KEYS = ("true_dag", "dag", "edges")
_LONGEST_LINE = 400


def _same(name: str) -> str:
    return name


def chain(text: str) -> list[str]:
    """The names an arrow line joins (``"A -> B -> C"`` gives three); empty names are dropped."""
    return [p for p in ARROW.split(text.strip()) if p.strip()]


def _lookup(data: Mapping[Any, Any], key: str) -> tuple[bool, Any]:
    for k, v in data.items():
        if str(k).strip().lower() == key:
            return True, v
    return False, None


def edge_from(item: Any, resolve: Resolve = _same) -> Edge | None:
    """One edge from ``"A -> B"``, a ``[parent, child]`` pair of strings or a parent/child object; else None."""
    if isinstance(item, str):
        parts = chain(item)
        return (resolve(parts[0]), resolve(parts[1])) if len(parts) == 2 else None
    if isinstance(item, Mapping):
        for a, b in _OBJECT_KEYS:
            found_a, left = _lookup(item, a)
            found_b, right = _lookup(item, b)
            if found_a and found_b and isinstance(left, str) and isinstance(right, str):
                return resolve(left), resolve(right)
        return None
    if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return resolve(item[0]), resolve(item[1])
    return None


def as_edge(item: Any) -> Edge:
    """One edge from what a person wrote (strict :func:`edge_from`).

    Raises:
        ConfigError: ``item`` is not an edge; the message quotes it.
    """
    edge = edge_from(item)
    if edge is not None:
        return edge
    if isinstance(item, str):
        raise ConfigError(f'edge {item!r} is not of the form "parent -> child"')
    raise ConfigError(f'edge {item!r} is neither a [parent, child] pair of column names nor "parent -> child"')


def edges_from_lines(text: str, resolve: Resolve = _same) -> list[Edge]:
    """Edges from every arrow line of a text (bullets, backticks and chains allowed); other lines are skipped."""
    edges: list[Edge] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", raw).strip().strip("`").rstrip(".,;")
        if not ARROW.search(line) or len(line) > _LONGEST_LINE:
            continue
        names = [p.strip() for p in ARROW.split(line)]
        if all(names):
            edges.extend((resolve(a), resolve(b)) for a, b in itertools.pairwise(names))
    return edges


def edges_from_value(value: Any, resolve: Resolve = _same) -> list[Edge] | None:
    """Edges from a model's "dag" value, whatever its shape; None when it has no usable shape at all.

    Takes a text of arrow lines, an adjacency object ``{"parent": ["child", ...]}``, or a list mixing
    pairs, arrow strings (chains too) and parent/child objects; list items that are no edge are skipped.
    """
    if isinstance(value, str):
        return edges_from_lines(value, resolve)
    if isinstance(value, Mapping):
        edges = []
        for parent, kids in value.items():
            for kid in [kids] if isinstance(kids, str) else kids if isinstance(kids, list) else []:
                if isinstance(kid, str):
                    edges.append((resolve(str(parent)), resolve(kid)))
        return edges
    if not isinstance(value, (list, tuple)):
        return None
    edges = []
    for item in value:
        if isinstance(item, str) and len(names := chain(item)) > 2:
            edges.extend((resolve(a), resolve(b)) for a, b in itertools.pairwise(names))
            continue
        edge = edge_from(item, resolve)
        if edge is not None:
            edges.append(edge)
    return edges if edges or not value else None


def read_edges(source: Any, *, what: str = "DAG file") -> list[Edge]:
    """Edges a person gave: a list of ``[parent, child]`` pairs or ``"A -> B"`` strings, or a JSON file (a
    ``str`` or ``Path``) holding one, or an object with a ``true_dag``, ``dag`` or ``edges`` list.

    Raises:
        ConfigError: the file is missing or not JSON, holds no edge list, or an edge cannot be read.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        source = read_json(path, what=what)
        if isinstance(source, Mapping):
            source = next((source[k] for k in EDGE_LIST_KEYS if k in source), None)
        if not isinstance(source, list):
            raise ConfigError(f'{what} {path} must hold a list of [parent, child] pairs or "A -> B" strings')
    if not isinstance(source, (list, tuple)):
        raise ConfigError(f'a DAG must be a list of [parent, child] pairs or "A -> B" strings, got {source!r}')
    return [as_edge(item) for item in source]


__all__ = [
    "ARROW",
    "EDGE_LIST_KEYS",
    "Edge",
    "as_edge",
    "chain",
    "edge_from",
    "edges_from_lines",
    "edges_from_value",
    "read_edges",
]
