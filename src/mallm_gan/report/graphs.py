"""The report's causal graphs of θ: the layered layout, the drawings and the section around them."""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from ..gan.optimizer import HistoryEntry
from ..theta.edges import Edge
from ..theta.graphs import graph_edit_distance
from .html import esc, img, legend, section
from .plots import BLUE, DPI, FAINT, GREEN, INK, ORANGE, VERMILION, figure, plain


def layered_positions(
    nodes: Sequence[str], edges: Sequence[Edge], *, per_row: int = 4
) -> tuple[dict[str, tuple[float, float]], int, int]:
    """Top-down layered layout: the topological generations of ``edges`` become rows.

    A generation wider than ``per_row`` is split over staggered rows so long wrapped labels never collide;
    columns no edge touches go to the last rows. Within a row, nodes are ordered by the mean position of
    their parents (one barycentre pass), which removes most crossings in graphs of 8-15 nodes.

    Returns:
        (positions, number of rows, widest row in node slots).
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((a, b) for a, b in edges if a in graph and b in graph and a != b)
    if not nx.is_directed_acyclic_graph(graph):
        graph.remove_edges_from(list(graph.edges))
    order = {n: i for i, n in enumerate(nodes)}
    connected = [n for n in nodes if graph.degree(n) > 0]
    layers = [sorted(g, key=order.__getitem__) for g in nx.topological_generations(graph.subgraph(connected))]
    isolated = [n for n in nodes if graph.degree(n) == 0]
    if isolated:
        layers.append(isolated)
    pos: dict[str, tuple[float, float]] = {}
    row, widest = 0, 1.0
    for layer in layers:

        def centre(node: str) -> float:
            xs = [pos[p][0] for p in graph.predecessors(node) if p in pos]
            return sum(xs) / len(xs) if xs else 0.0

        layer = sorted(layer, key=lambda n: (centre(n), order[n]))
        for k in range(0, len(layer), per_row):
            chunk = layer[k : k + per_row]
            stagger = 0.5 if (k // per_row) % 2 == 1 else 0.0
            for i, node in enumerate(chunk):
                pos[node] = (i - (len(chunk) - 1) / 2 + stagger, -float(row))
            widest = max(widest, len(chunk) + 2 * stagger)
            row += 1
    return pos, row, int(math.ceil(widest))


def dag_size(rows: int, widest: int) -> tuple[float, float]:
    """Figure size (inches) of a DAG drawing: 1.6 in per node slot, rows closer together when many."""
    return max(5.0, 1.6 * widest + 0.6), max(2.2, (1.0 if rows <= 6 else 0.85) * rows + 0.4)


def dag_plot(
    pos: Mapping[str, tuple[float, float]],
    rows: int,
    widest: int,
    edges: Sequence[Edge],
    *,
    reference: Sequence[Edge] | None,
    reference_is_truth: bool,
    target: str | None = None,
) -> str:
    """One causal graph on fixed positions, its edges coloured against a reference graph.

    Against the true DAG: green = true edge, orange dashed = reversed, vermilion = not in the true DAG,
    light dotted = true edge missing. Against the initial θ: dark = kept, blue = added, light dotted =
    removed. Without a reference every edge is dark. An edge whose straight line would cross another
    column's box is bent around it.
    """
    fig = figure(*dag_size(rows, widest))
    fig.subplots_adjust(0, 0, 1, 1)
    ax = fig.subplots()
    half = max(widest, 2) / 2
    ax.set_xlim(-half - 0.05, half + 0.05)
    ax.set_ylim(-(rows - 1) - 0.55, 0.55)
    ax.axis("off")
    boxes = _draw_boxes(ax, pos, target)
    fig.canvas.draw()  # lays out the label boxes: their sizes route the edges and clip the arrows
    _draw_edges(ax, pos, boxes, _edge_styles(edges, reference, reference_is_truth))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # no tight bbox: the layout (and the arrow clipping) stays as drawn
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_boxes(ax: Any, pos: Mapping[str, tuple[float, float]], target: str | None) -> dict[str, Any]:
    """One label box per column (the target's in yellow); the text artists by column name."""
    boxes = {}
    for node, (x, y) in pos.items():
        mine = node == target
        boxes[node] = ax.text(
            x,
            y,
            plain(textwrap.fill(str(node), 15)),
            ha="center",
            va="center",
            fontsize=9.5,
            zorder=2,
            fontweight="bold" if mine else "normal",
            bbox={
                "boxstyle": "round,pad=0.35",
                "fc": "#fff1c9" if mine else "#eef3fb",
                "ec": "#b07d00" if mine else "#5b7db1",
                "lw": 1.0,
            },
        )
    return boxes


def _draw_edges(
    ax: Any,
    pos: Mapping[str, tuple[float, float]],
    boxes: Mapping[str, Any],
    styled: list[tuple[Edge, str, str, bool]],
) -> None:
    """The arrows, clipped at the label boxes and bent around the boxes in their way."""
    extents = {}
    for node, text in boxes.items():
        box = text.get_bbox_patch().get_window_extent()
        extents[node] = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, box.width, box.height)
    for (a, b), colour, style, arrow in styled:
        if a not in pos or b not in pos or a == b:
            continue
        ax.annotate(
            "",
            xy=pos[b],
            xytext=pos[a],
            zorder=3,
            arrowprops={
                "arrowstyle": "-|>" if arrow else "-",
                "color": colour,
                "lw": 1.4,
                "ls": style,
                "mutation_scale": 15,
                "shrinkA": 1,
                "shrinkB": 1,
                "patchA": boxes[a].get_bbox_patch(),
                "patchB": boxes[b].get_bbox_patch(),
                "connectionstyle": f"arc3,rad={_bend(a, b, extents):.3f}",
            },
        )


def _edge_styles(
    edges: Sequence[Edge], reference: Sequence[Edge] | None, truth: bool
) -> list[tuple[Edge, str, str, bool]]:
    """(edge, colour, line style, arrow head) of every edge to draw, including reference edges missing."""
    drawn, ref = list(dict.fromkeys(edges)), set(reference or ())
    styled = []
    for edge in drawn:
        if reference is None:
            styled.append((edge, INK, "-", True))
        elif not truth:
            styled.append((edge, INK if edge in ref else BLUE, "-", True))
        elif edge in ref:
            styled.append((edge, GREEN, "-", True))
        elif (edge[1], edge[0]) in ref:
            styled.append((edge, ORANGE, "--", True))
        else:
            styled.append((edge, VERMILION, "-", True))
    present = set(drawn) | {(b, a) for a, b in drawn}
    return styled + [(e, FAINT, ":", truth) for e in dict.fromkeys(reference or ()) if e not in present]


def _bend(a: str, b: str, extents: Mapping[str, tuple[float, float, float, float]], margin: float = 7.0) -> float:
    """The smallest ``arc3`` curvature whose curve from ``a`` to ``b`` clears every other box.

    ``extents`` holds each box's centre, width and height in pixels.

    A quadratic curve with curvature ``rad`` lies ``2 t (1 - t) rad L`` off the straight line at fraction
    ``t`` of the way; each box in the way forbids an interval of ``rad``. Both sides are tried and the
    gentler bend wins; the bend is capped so a crowded graph still gets a readable curve.
    """
    (x1, y1, _, _), (x2, y2, _, _) = extents[a], extents[b]
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy)
    if length == 0:
        return 0.0
    nx_, ny_ = dy / length, -dx / length  # where arc3 moves the curve for a positive rad
    best = 0.0
    for side in (1.0, -1.0):
        forbidden = []
        for node, (cx, cy, width, height) in extents.items():
            if node in (a, b):
                continue
            px, py = cx - x1, cy - y1
            t = (px * dx + py * dy) / length**2
            if not 0.0 < t < 1.0:
                continue
            offset = side * (px * nx_ + py * ny_)
            clear = abs(nx_) * width / 2 + abs(ny_) * height / 2 + margin
            scale = 2 * t * (1 - t) * length
            forbidden.append(((offset - clear) / scale, (offset + clear) / scale))
        rad = 0.0
        for low, high in sorted(forbidden):
            if low < rad < high:
                rad = high
        rad = min(rad, 0.9)
        if side == 1.0 or rad < abs(best):
            best = side * rad
        if rad == 0.0:
            return 0.0
    return best


def dag_panels(
    initial: list[Edge], entries: Sequence[HistoryEntry], best: int | None
) -> list[tuple[str, list[Edge]]]:
    """(title, edges) of the initial θ, an intermediate θ and the best θ.

    The intermediate one is taken halfway between the first and the best iteration (halfway through the
    run if the first is the best), preferring a θ whose graph differs from both ends.
    """
    panels = [("Initial θ", initial)]
    if best is None:
        return panels
    best_edges = list(entries[best].theta.dag)
    others = [i for i in range(1, len(entries)) if i != best]
    between = [i for i in others if i < best] or others
    ends = (set(initial), set(best_edges))
    pool = [i for i in between if set(entries[i].theta.dag) not in ends] or between
    if pool:
        middle = pool[len(pool) // 2]
        panels.append((f"Intermediate θ (iteration {middle + 1})", list(entries[middle].theta.dag)))
    panels.append((f"Best θ (iteration {best + 1})", best_edges))
    return panels


def _key_and_note(truth: list[Edge] | None, truth_source: str) -> tuple[str, str]:
    """The colour legend of the drawings and the note under it."""
    if truth is None:
        keys = [
            (INK, "solid", "edge of the initial θ"),
            (BLUE, "solid", "added since the initial θ"),
            (FAINT, "dotted", "initial edge removed"),
        ]
        return legend(keys), "No true DAG is known for this data (give one with --true-dag to see distances to it)."
    keys = [
        (GREEN, "solid", "edge of the true DAG"),
        (ORANGE, "dashed", "true edge, reversed"),
        (VERMILION, "solid", "not in the true DAG"),
        (FAINT, "dotted", "true edge missing"),
    ]
    note = (
        f"True DAG {esc(truth_source)}. Graph edit distance: edges to add or delete to reach it, a "
        "reversed edge counting 1 (structural Hamming distance)."
    )
    return legend(keys), note


def dag_section(
    names: Sequence[str],
    panels: list[tuple[str, list[Edge]]],
    *,
    truth: list[Edge] | None,
    truth_source: str,
    target: str | None,
) -> str:
    """The drawings of ``panels`` (and of the true DAG when known), on shared positions."""
    title = "Causal structure (DAG) of θ"
    if not names:
        return section("dag", title, "<p>The schema lists no columns.</p>")
    if truth is not None:
        panels = [*panels, ("True DAG", list(truth))]
    # columns without an edge in any drawing are named below instead of drawn, which keeps graphs compact
    linked = {node for _, edges in panels for edge in edges for node in edge}
    drawn = [n for n in names if n in linked] or list(names)
    unlinked = [n for n in names if n not in drawn]
    pos, rows, widest = layered_positions(drawn, truth if truth is not None else panels[-1][1])
    reference = truth if truth is not None else panels[0][1]
    figures = []
    for name, edges in panels:
        is_truth = name == "True DAG"
        uri = dag_plot(
            pos, rows, widest, edges,
            reference=None if is_truth else reference, reference_is_truth=truth is not None, target=target,
        )
        caption = f"<b>{esc(name)}</b> · {len(edges)} edge{'' if len(edges) == 1 else 's'}"
        if truth is not None and not is_truth:
            caption += f" · graph edit distance to the true DAG: <b>{graph_edit_distance(edges, truth)}</b>"
        figures.append(f"<figure>{img(uri, name)}<figcaption>{caption}</figcaption></figure>")
    keys, note = _key_and_note(truth, truth_source)
    text = (
        "<p>All drawings share one layout: causes above effects, rows following the "
        f"{'true DAG' if truth is not None else 'best θ'}'s causal order, the target column in yellow.</p>"
    )
    if unlinked:
        note += f" Columns without an edge in any drawing: {', '.join(esc(n) for n in unlinked)}."
    # two drawings side by side only when that shrinks them by at most 10 %, else one per row
    width = round(0.9 * dag_size(rows, widest)[0] * DPI)
    grid = f'<div class="grid" style="grid-template-columns:repeat(auto-fit,minmax({width}px,1fr))">'
    return section("dag", title, f'{text}{keys}<p class="small muted">{note}</p>{grid}{"".join(figures)}</div>')


__all__ = ["dag_panels", "dag_plot", "dag_section", "dag_size", "layered_positions"]
