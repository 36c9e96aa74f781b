"""The report's figures (matplotlib on the Agg canvas, embedded as base64 PNG) and the sections built
around them: the discriminator score curve and the causal graphs of θ.

Figures use the object-oriented API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``, so rendering a
report neither switches nor depends on the caller's interactive backend.
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError

INSTALL_HINT = "pip install 'mallm-gan[report]'"
Edge = tuple[str, str]

# colour-blind safe (Okabe-Ito)
BLUE, ORANGE, GREEN, VERMILION, GREY, INK, FAINT = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#8c8c8c",
    "#333333",
    "#c4c4c4",
)
DPI = 110
REJECT_COLOURS = ("#D55E00", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#999999")


# -- small HTML helpers (shared with report.py) ---------------------------------------------------------
def esc(value: Any) -> str:
    """HTML-escaped text of anything (users and models write column names and instructions)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; missing or non-finite values as an en dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def legend(items: Sequence[tuple[str, str, str]]) -> str:
    """An HTML legend of line styles: (colour, CSS border style, label)."""
    keys = "".join(
        f'<span><i style="border-top:3px {style} {colour}"></i>{esc(label)}</span>' for colour, style, label in items
    )
    return f'<p class="legend">{keys}</p>'


def entry_score(entry: Mapping[str, Any]) -> float | None:
    """An entry's final re-scored accuracy (its raw score if it was never re-scored)."""
    for key in ("score", "raw_score"):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def edges_of(theta: Any) -> list[Edge]:
    """The (parent, child) edges of a θ dict, tolerating a missing or malformed ``dag``."""
    dag = theta.get("dag") if isinstance(theta, Mapping) else None
    if not isinstance(dag, list):
        return []
    return [(str(e[0]), str(e[1])) for e in dag if isinstance(e, (list, tuple)) and len(e) == 2]


# -- matplotlib ----------------------------------------------------------------------------------------------
def require() -> None:
    """Fail early, with the install hint, when matplotlib or networkx is missing."""
    for module in ("matplotlib", "networkx"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ConfigError(f"the HTML report needs {module}: {INSTALL_HINT}") from exc


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(f"the HTML report needs matplotlib: {INSTALL_HINT}") from exc
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def data_uri(fig: Any) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.12)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plain(text: Any) -> str:
    """Text for a matplotlib label: a ``$`` in a user-given name would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _nan(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) and v is not None else float("nan") for v in values]


# -- discriminator score -----------------------------------------------------------------------------------
def best_so_far(entries: Sequence[Mapping[str, Any]], selection: str = "lowest") -> list[float | None]:
    """The re-scored accuracy of the loop's best θ after each iteration, by the run's ``selection`` rule.

    Entry ``i``'s ``rescored[j]`` is its score after iteration ``i + j``; where that list is short (older
    files), the final score stands in at the last iteration and the raw score at the entry's own. The noise
    of each score comes from the entry's final synthetic recall and held-out size (the only ones kept).
    """
    from .optimizer import best_index

    out: list[float | None] = []
    for t in range(len(entries)):
        known: list[tuple[float, float | None, int]] = []
        for i, entry in enumerate(entries[: t + 1]):
            rescored = entry.get("rescored") if isinstance(entry.get("rescored"), list) else []
            value = rescored[t - i] if t - i < len(rescored) else None
            if value is None and t == len(entries) - 1:
                value = entry_score(entry)
            if value is None and i == t:
                value = entry.get("raw_score")
            if isinstance(value, (int, float)) and math.isfinite(value):
                recall = entry.get("recall")
                held_out = entry.get("held_out")
                known.append((float(value), float(recall) if isinstance(recall, (int, float)) else None,
                              int(held_out) if isinstance(held_out, int) else 0))
        out.append(known[best_index(known, selection)][0] if known else None)
    return out


def _score_se(entry: Mapping[str, Any]) -> float:
    """Standard error of an entry's score from its synthetic held-out rows (NaN when not recorded)."""
    from .optimizer import score_se

    recall, held_out = entry.get("recall"), entry.get("held_out")
    if not isinstance(recall, (int, float)) or not isinstance(held_out, int) or held_out < 1:
        return float("nan")
    return score_se(float(recall), held_out)


def score_plot(entries: Sequence[Mapping[str, Any]], best: int | None, selection: str = "lowest") -> str:
    """Raw and final re-scored accuracy per iteration, the running best, 0.5 marked, epochs shaded."""
    raw = _nan([e.get("raw_score") for e in entries])
    final = _nan([entry_score(e) for e in entries])
    running = _nan(best_so_far(entries, selection))
    epochs = [e.get("epoch") if isinstance(e.get("epoch"), int) else None for e in entries]
    fig = _figure(10.0, 4.0)
    ax = fig.subplots()
    xs = list(range(1, len(entries) + 1))
    start = 0
    for i in range(1, len(xs) + 1):  # shade every other epoch
        if i == len(xs) or epochs[i] != epochs[start]:
            if epochs[start] is not None and int(epochs[start]) % 2 == 1:
                ax.axvspan(start + 0.5, i + 0.5, color="#f0f0f0", zorder=0, lw=0)
            start = i
    ax.axhline(0.5, color=GREEN, lw=1.2, ls="--", zorder=1)
    # outside the axes, so no marker ever hides it
    ax.text(
        1.01,
        0.5,
        "0.5 =\nindistinguishable",
        transform=ax.get_yaxis_transform(),
        ha="left",
        va="center",
        color=GREEN,
        fontsize=8.5,
    )
    ax.plot(xs, raw, "o-", color=GREY, lw=1, ms=4, label="raw score, when the θ was tried", zorder=2)
    spread = [_score_se(e) for e in entries]
    if any(math.isfinite(v) for v in spread):
        ax.errorbar(xs, final, yerr=[v if math.isfinite(v) else 0.0 for v in spread], fmt="s", color=BLUE,
                    ms=5.5, elinewidth=1, capsize=3, zorder=3,
                    label="re-scored by the final discriminator, ± one standard error")
    else:
        ax.plot(xs, final, "s", color=BLUE, ms=5.5, label="re-scored by the final discriminator", zorder=3)
    # the running best holds from one iteration to the next, so the last step extends half an iteration
    ax.step(
        [*xs, len(xs) + 0.5],
        [*running, running[-1]],
        where="post",
        color=VERMILION,
        lw=2,
        zorder=4,
        label="the best θ's re-scored accuracy after each iteration (the loop's pick)",
    )
    if best is not None and math.isfinite(final[best]):
        ax.plot(
            [best + 1], [final[best]], "*", color=VERMILION, ms=17, zorder=5, markeredgecolor="white", label="best θ"
        )
    values = [v for v in (*raw, *final, *running) if math.isfinite(v)]
    ax.set_ylim(max(-0.04, min([0.45, *values]) - 0.04), min(1.04, max([0.55, *values]) + 0.04))
    ax.set_xlim(0.5, len(xs) + 0.5)
    shaded = len({e for e in epochs if e is not None}) > 1
    ax.set_xlabel("iteration" + ("   (shading alternates by epoch)" if shaded else ""))
    ax.set_ylabel("discriminator accuracy\n(lower is better)")
    if len(xs) <= 30:
        ax.set_xticks(xs)
    ax.grid(axis="y", color="#e5e5e5")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False, fontsize=8.5)
    return data_uri(fig)


def score_section(entries: Sequence[Mapping[str, Any]], best: int | None, selection: str = "lowest") -> str:
    if not entries:
        return section("score", "Discriminator score per iteration", "<p>No iteration has finished yet.</p>")
    rule = (
        "The loop keeps the earliest θ that no later one beats by more than two standard errors (smaller "
        "differences are noise of the held-out rows)"
        if selection == "significant"
        else "The loop keeps the θ with the lowest re-scored accuracy"
    )
    text = (
        "<p>How well the discriminator tells the real held-out rows (the same for every θ, never trained on) "
        "from each θ's held-out synthetic rows, as balanced accuracy: <b>raw</b> when the θ was tried, "
        "<b>re-scored</b> by the discriminator as it is at the end (it keeps learning, so an old θ usually "
        f"scores higher later). {rule}; 0.5 means the rows cannot be told apart.</p>"
    )
    return section(
        "score",
        "Discriminator score per iteration",
        text + img(score_plot(entries, best, selection), "discriminator score per iteration"),
    )


# -- causal graphs -----------------------------------------------------------------------------------------
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
    fig = _figure(*dag_size(rows, widest))
    fig.subplots_adjust(0, 0, 1, 1)
    ax = fig.subplots()
    half = max(widest, 2) / 2
    ax.set_xlim(-half - 0.05, half + 0.05)
    ax.set_ylim(-(rows - 1) - 0.55, 0.55)
    ax.axis("off")
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
    fig.canvas.draw()  # lays out the label boxes: their sizes route the edges and clip the arrows
    extents = {}
    for node, text in boxes.items():
        box = text.get_bbox_patch().get_window_extent()
        extents[node] = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, box.width, box.height)
    for (a, b), colour, style, arrow in _edge_styles(edges, reference, reference_is_truth):
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # no tight bbox: the layout (and the arrow clipping) stays as drawn
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
    initial: list[Edge], entries: Sequence[Mapping[str, Any]], best: int | None
) -> list[tuple[str, list[Edge]]]:
    """(title, edges) of the initial θ, an intermediate θ and the best θ.

    The intermediate one is taken halfway between the first and the best iteration (halfway through the
    run if the first is the best), preferring a θ whose graph differs from both ends.
    """
    panels = [("Initial θ", initial)]
    if best is None:
        return panels
    best_edges = edges_of(entries[best].get("theta"))
    others = [i for i in range(1, len(entries)) if i != best]
    between = [i for i in others if i < best] or others
    ends = (set(initial), set(best_edges))
    pool = [i for i in between if set(edges_of(entries[i].get("theta"))) not in ends] or between
    if pool:
        middle = pool[len(pool) // 2]
        panels.append((f"Intermediate θ (iteration {middle + 1})", edges_of(entries[middle].get("theta"))))
    panels.append((f"Best θ (iteration {best + 1})", best_edges))
    return panels


def dag_section(
    names: Sequence[str],
    panels: list[tuple[str, list[Edge]]],
    *,
    truth: list[Edge] | None,
    truth_source: str,
    target: str | None,
    distance: Callable[[Sequence[Edge], Sequence[Edge]], int] | None,
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
            pos,
            rows,
            widest,
            edges,
            reference=None if is_truth else reference,
            reference_is_truth=truth is not None,
            target=target,
        )
        caption = f"<b>{esc(name)}</b> · {len(edges)} edge{'' if len(edges) == 1 else 's'}"
        if truth is not None and distance is not None and not is_truth:
            caption += f" · graph edit distance to the true DAG: <b>{distance(edges, truth)}</b>"
        figures.append(f"<figure>{img(uri, name)}<figcaption>{caption}</figcaption></figure>")
    if truth is not None:
        keys = legend(
            [
                (GREEN, "solid", "edge of the true DAG"),
                (ORANGE, "dashed", "true edge, reversed"),
                (VERMILION, "solid", "not in the true DAG"),
                (FAINT, "dotted", "true edge missing"),
            ]
        )
        note = (
            f"True DAG {esc(truth_source)}. Graph edit distance: edges to add or delete to reach it, a "
            "reversed edge counting 1 (structural Hamming distance)."
        )
        if distance is None:
            note += " The distance could not be computed here (mallm_gan.causal is unavailable)."
    else:
        keys = legend(
            [
                (INK, "solid", "edge of the initial θ"),
                (BLUE, "solid", "added since the initial θ"),
                (FAINT, "dotted", "initial edge removed"),
            ]
        )
        note = "No true DAG is known for this data (give one with --true-dag to see distances to it)."
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


# -- rows and privacy ----------------------------------------------------------------------------------------
def rows_plot(accepted: Sequence[int], rejected: Mapping[str, Sequence[int]]) -> str:
    """Stacked bars per iteration: accepted rows, then rejections by reason (largest reasons first)."""
    fig = _figure(9.0, 3.3)
    ax = fig.subplots()
    xs = list(range(1, len(accepted) + 1))
    ax.bar(xs, accepted, color=GREEN, label="accepted", width=0.75)
    bottom = list(accepted)
    for (reason, counts), colour in zip(rejected.items(), REJECT_COLOURS, strict=False):
        ax.bar(xs, counts, bottom=bottom, color=colour, width=0.75, label=f"rejected: {plain(reason)}")
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_xlabel("iteration")
    ax.set_ylabel("rows written")
    _integer_ticks(ax)
    if len(xs) <= 30:
        ax.set_xticks(xs)
    ax.set_xlim(0.4, len(xs) + 0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5")
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5)
    return data_uri(fig)


def dcr_plot(to_train: Sequence[Any], to_holdout: Sequence[Any] | None) -> str:
    """Overlaid histograms of each synthetic row's distance to its closest training / held-out row."""
    train = [float(v) for v in to_train if isinstance(v, (int, float)) and math.isfinite(v)]
    holdout = [float(v) for v in to_holdout or () if isinstance(v, (int, float)) and math.isfinite(v)]
    fig = _figure(8.0, 3.3)
    ax = fig.subplots()
    top = max([*train, *holdout], default=1.0) or 1.0
    bins = [top * i / 30 for i in range(31)]
    # light fills with strong outlines: where the two overlap both stay readable
    series = [(train, VERMILION, "synthetic → closest training row")]
    if to_holdout is not None:
        series.append((holdout, BLUE, "synthetic → closest held-out row"))
    for values, colour, label in series:
        ax.hist(values, bins=bins, color=colour, alpha=0.22, histtype="stepfilled")
        ax.hist(values, bins=bins, color=colour, lw=1.8, histtype="step", label=label)
    _integer_ticks(ax)
    ax.set_xlabel("distance to closest record (standardised L1; 0 = an exact copy)")
    ax.set_ylabel("synthetic rows")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8.5)
    return data_uri(fig)


__all__ = [
    "INSTALL_HINT",
    "best_so_far",
    "dag_panels",
    "dag_plot",
    "dag_section",
    "data_uri",
    "dcr_plot",
    "edges_of",
    "entry_score",
    "esc",
    "layered_positions",
    "legend",
    "num",
    "plain",
    "require",
    "rows_plot",
    "score_plot",
    "score_section",
    "section",
]
