"""The report's charts (score curve and its section, rows per iteration, DCR histograms) and figure helpers.

Figures are drawn by matplotlib on the Agg canvas and embedded as base64 PNG. They use the object-oriented
API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``, so rendering a report neither switches nor depends
on the caller's interactive backend.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..gan.optimizer import HistoryEntry, best_index, score_se
from .html import img, section
from .run import entry_noise, entry_score, finite

INSTALL_HINT = "pip install 'mallm-gan[report]'"

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


# -- matplotlib ----------------------------------------------------------------------------------------------
def require() -> None:
    """Fail early, with the install hint, when matplotlib or networkx is missing."""
    for module in ("matplotlib", "networkx"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ConfigError(f"the HTML report needs {module}: {INSTALL_HINT}") from exc


def figure(width: float, height: float) -> Any:
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


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _nan(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) and v is not None else float("nan") for v in values]


# -- discriminator score -----------------------------------------------------------------------------------
def best_so_far(entries: Sequence[HistoryEntry], selection: str = "lowest") -> list[float | None]:
    """The re-scored accuracy of the loop's best θ after each iteration, by the run's ``selection`` rule.

    Entry ``i``'s ``rescored[j]`` is its score after iteration ``i + j``; where that list is short (older
    files), the final score stands in at the last iteration and the raw score at the entry's own. The noise
    of each score comes from the entry's final synthetic recall and held-out size (the only ones kept).
    """
    out: list[float | None] = []
    for t in range(len(entries)):
        known: list[tuple[float, float | None, int]] = []
        for i, entry in enumerate(entries[: t + 1]):
            value = finite(entry.rescored[t - i]) if t - i < len(entry.rescored) else None
            if value is None and t == len(entries) - 1:
                value = entry_score(entry)
            if value is None and i == t:
                value = finite(entry.raw_score)
            if value is not None:
                known.append((value, *entry_noise(entry)))
        out.append(known[best_index(known, selection)][0] if known else None)
    return out


def _score_se(entry: HistoryEntry) -> float:
    """Standard error of an entry's score from its synthetic held-out rows (NaN when not recorded)."""
    recall, held_out = entry_noise(entry)
    return float("nan") if recall is None or held_out < 1 else score_se(recall, held_out)


def score_plot(entries: Sequence[HistoryEntry], best: int | None, selection: str = "lowest") -> str:
    """Raw and final re-scored accuracy per iteration, the running best, 0.5 marked, epochs shaded."""
    raw = _nan([finite(e.raw_score) for e in entries])
    final = _nan([entry_score(e) for e in entries])
    running = _nan(best_so_far(entries, selection))
    epochs = [e.epoch for e in entries]
    fig = figure(10.0, 4.0)
    ax = fig.subplots()
    xs = list(range(1, len(entries) + 1))
    _shade_epochs(ax, epochs)
    _mark_indistinguishable(ax)
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
    bars = [f + sign * d for f, d in zip(final, spread, strict=True) for sign in (-1, 1)]
    values = [v for v in (*raw, *final, *running, *bars) if math.isfinite(v)]
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


def _shade_epochs(ax: Any, epochs: Sequence[int | None]) -> None:
    """Shade every other epoch's iterations (x = 1, 2, ... for the entries in order)."""
    start = 0
    for i in range(1, len(epochs) + 1):
        if i == len(epochs) or epochs[i] != epochs[start]:
            if epochs[start] is not None and int(epochs[start]) % 2 == 1:
                ax.axvspan(start + 0.5, i + 0.5, color="#f0f0f0", zorder=0, lw=0)
            start = i


def _mark_indistinguishable(ax: Any) -> None:
    """The 0.5 line, labelled outside the axes so no marker ever hides the label."""
    ax.axhline(0.5, color=GREEN, lw=1.2, ls="--", zorder=1)
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


# -- rows and privacy ----------------------------------------------------------------------------------------
def rows_plot(accepted: Sequence[int], rejected: Mapping[str, Sequence[int]]) -> str:
    """Stacked bars per iteration: accepted rows, then rejections by reason (largest reasons first)."""
    fig = figure(9.0, 3.3)
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
    fig = figure(8.0, 3.3)
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
    "BLUE",
    "DPI",
    "FAINT",
    "GREEN",
    "GREY",
    "INK",
    "INSTALL_HINT",
    "ORANGE",
    "REJECT_COLOURS",
    "VERMILION",
    "best_so_far",
    "data_uri",
    "dcr_plot",
    "figure",
    "plain",
    "require",
    "rows_plot",
    "score_plot",
    "score_section",
]
