"""MALLM-GAN's own rows beside the paper's: Table 2, 3 and 4 style tables, cost per cell, privacy vs utility.

Used by ``compare_with_paper.py method DIR...``: each DIR is a benchmark output directory (``cells.jsonl``).
MALLM-GAN cells are labelled by their backbone (the ``llm`` recorded with the cell), so one directory per
backbone, or several backbones in one directory, both work. Every figure printed is a mean over the seeds
that finished (the count is printed beside it); a cell that failed is counted and its reason listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mallm_gan.benchmark.grid import CELLS_FILE, MALLM_VARIANTS, read_records

DATASETS = ("adult", "insurance", "magic", "asia")
TABLE2_SIZES = (25, 50, 100)
BASELINE_ORDER = ("real", "smote", "gaussian-copula", "ctgan", "tvae")
# parameters of the catalogue backbones, for the Table 3 column (from the model names)
BACKBONE_SIZE = {
    "smollm2-135m": "135M",
    "gemma3-270m": "270M",
    "qwen2.5-coder-0.5b": "0.5B",
    "qwen2.5-coder-1.5b": "1.5B",
}
ABLATION = ("mallm-gan-few-shot", "mallm-gan-few-shot-dag", "mallm-gan")
ABLATION_SIZES = (25, 100)


def backbone(record: dict[str, Any]) -> str:
    """The backbone a MALLM-GAN cell ran on: the catalogue name of ``local:NAME``, else the spec."""
    spec = str((record.get("params") or {}).get("llm") or "default")
    name = spec.split(":", 1)[1] if spec.startswith("local:") else spec
    return Path(name).stem if name.endswith(".gguf") else name


def label(record: dict[str, Any]) -> str:
    model = record["model"]
    return f"{model} [{backbone(record)}]" if model in MALLM_VARIANTS else model


def load_cells(dirs: Iterable[str]) -> list[dict[str, Any]]:
    """The latest record of every cell over all directories (paper splits, asia's seeded draws)."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for directory in dirs:
        for record in read_records(Path(directory) / CELLS_FILE):
            key = (label(record), record["dataset"], int(record["n"]), int(record["seed"]))
            latest[key] = record
    return list(latest.values())


def _group(cells: Sequence[dict[str, Any]]) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in cells:
        groups[(label(record), record["dataset"], int(record["n"]))].append(record)
    return groups


def _ok(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok" and r.get("score") is not None]


def _fmt(records: Sequence[dict[str, Any]] | None) -> str:
    if not records:
        return ""
    ok = _ok(records)
    skipped = sum(r.get("status") == "skipped" for r in records)
    failed = len(records) - len(ok) - skipped
    if not ok:
        return f"failed ({failed})" if failed else "no split"
    scores = [r["score"] for r in ok]
    text = f"{np.mean(scores):.2f} ± {np.std(scores):.2f} ({len(ok)})"
    return text + (f", {failed} failed" if failed else "")


def _models(groups: dict[tuple[str, str, int], list[dict[str, Any]]]) -> list[str]:
    seen = list(dict.fromkeys(k[0] for k in groups))
    return [m for m in BASELINE_ORDER if m in seen] + sorted(m for m in seen if m not in BASELINE_ORDER)


def table2(cells: Sequence[dict[str, Any]], paper: dict[tuple[str, int], dict[str, float]]) -> str:
    groups = _group(cells)
    columns = [(d, n) for d in DATASETS for n in TABLE2_SIZES if any(k[1:] == (d, n) for k in groups)]
    lines = [
        "| model | " + " | ".join(f"{d} N={n}" for d, n in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for model in _models(groups):
        lines.append(f"| {model} | " + " | ".join(_fmt(groups.get((model, d, n))) for d, n in columns) + " |")
    for name in ("mallm-gan", "smote", "ctgan", "tvae"):
        values = [paper.get((d, n), {}).get(name) for d, n in columns]
        if any(v is not None for v in values):
            who = "MALLM-GAN, GPT-4o" if name == "mallm-gan" else name
            cells_text = ["" if v is None else f"{v:.2f}" for v in values]
            lines.append(f"| paper: {who} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines)


def table3(cells: Sequence[dict[str, Any]], paper: dict[str, float]) -> str:
    groups = _group(cells)
    backbones = sorted({backbone(r) for r in cells if r["model"] == "mallm-gan"}, key=_size_key)
    lines = ["| backbone | size | adult N=25 F1 | insurance N=25 R² |", "|---|---|---|---|"]
    for name in backbones:
        model = f"mallm-gan [{name}]"
        adult, insurance = _fmt(groups.get((model, "adult", 25))), _fmt(groups.get((model, "insurance", 25)))
        lines.append(f"| {name} (ours) | {BACKBONE_SIZE.get(name, '?')} | {adult} | {insurance} |")
    for name, value in paper.items():
        lines.append(f"| {name} (paper) |  | {value:.2f} |  |")
    return "\n".join(lines)


def _size_key(name: str) -> float:
    size = BACKBONE_SIZE.get(name, "")
    if not size:
        return float("inf")
    return float(size[:-1]) * (1e3 if size.endswith("B") else 1.0)


def best_backbone(cells: Sequence[dict[str, Any]]) -> str | None:
    """The backbone with the most finished ablation cells (ties: the larger model)."""
    counts: dict[str, int] = defaultdict(int)
    for record in _ok(cells):
        if record["model"] in ("mallm-gan-few-shot", "mallm-gan-few-shot-dag"):
            counts[backbone(record)] += 1
    if not counts:
        return None
    return max(counts, key=lambda b: (counts[b], _size_key(b)))


def table4(cells: Sequence[dict[str, Any]], paper: dict[str, tuple[float, float, float]]) -> str:
    chosen = best_backbone(cells)
    if chosen is None:
        return "(no ablation cells yet)"
    groups = _group(cells)
    lines = [
        f"Backbone: {chosen}. Columns: few-shot (no DAG, no optimizer), few-shot + DAG, full method; "
        "mean ± sd (seeds).",
        "",
        "| dataset | N | few-shot | + DAG | + DAG + optimizer | paper (few-shot / + causal / full) |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in ("adult", "insurance", "asia"):
        for n in ABLATION_SIZES:
            values = [_fmt(groups.get((f"{m} [{chosen}]", dataset, n))) for m in ABLATION]
            if not any(values):
                continue
            ref = paper.get(dataset)
            ref_text = " / ".join(f"{v:.2f}" for v in ref) if ref else ""
            lines.append(f"| {dataset} | {n} | " + " | ".join(values) + f" | {ref_text} |")
    return "\n".join(lines)


def cost_table(cells: Sequence[dict[str, Any]]) -> str:
    groups = _group(cells)
    lines = [
        "| model | dataset | N | cells | wall s per cell | LLM calls | prompt tokens | completion tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, dataset, n), records in sorted(groups.items()):
        ok = [r for r in _ok(records) if r.get("llm")]
        if not ok:
            continue

        def mean(key: str, rows: list[dict[str, Any]] = ok) -> str:
            return f"{np.mean([r['llm'][key] for r in rows]):,.0f}"

        seconds = np.mean([r["seconds_generate"] for r in ok])
        lines.append(
            f"| {model} | {dataset} | {n} | {len(ok)} | {seconds:.0f} | {mean('llm_calls')} "
            f"| {mean('prompt_tokens')} | {mean('completion_tokens')} |"
        )
    return "\n".join(lines)


def privacy_points(cells: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[tuple[str, float, float]]]:
    """Per (dataset, N): (model, mean MLE, mean share of synthetic rows closer to train than to test)."""
    out: dict[tuple[str, int], list[tuple[str, float, float]]] = defaultdict(list)
    for (model, dataset, n), records in sorted(_group(cells).items()):
        ok = [r for r in _ok(records) if (r.get("privacy") or {}).get("share_closer_to_train") is not None]
        if ok:
            mle = float(np.mean([r["score"] for r in ok]))
            share = float(np.mean([r["privacy"]["share_closer_to_train"] for r in ok]))
            out[(dataset, n)].append((model, mle, share))
    return out


def privacy_plot(cells: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """One panel per dataset and N: MLE (y) against the DCR share (x); real data sits at x = 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = privacy_points(cells)
    panels = [k for k in sorted(points) if any(m.startswith("mallm-gan") for m, _, _ in points[k])] or sorted(points)
    if not panels:
        return None
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, key in zip(axes.flat, panels, strict=False):
        for model, mle, share in points[key]:
            marker = "*" if model == "real" else ("o" if model.startswith("mallm-gan") else "s")
            ax.scatter(share, mle, marker=marker, s=60)
            ax.annotate(model, (share, mle), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{key[0]} N={key[1]}", fontsize=10)
        ax.set_xlabel("share of rows closer to train than to test", fontsize=8)
        ax.set_ylabel("MLE (F1 or R²)", fontsize=8)
        ax.axvline(0.5, color="0.8", lw=0.8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def failures(cells: Sequence[dict[str, Any]]) -> str:
    bad = [r for r in cells if r.get("status") not in ("ok", None) and r["model"] in MALLM_VARIANTS]
    if not bad:
        return "(none)"
    return "\n".join(
        f"- {label(r)} {r['dataset']} N={r['n']} seed {r['seed']}: {r['status']}: {r.get('message')}" for r in bad
    )


def method_report(
    dirs: Sequence[str],
    paper2: dict[tuple[str, int], dict[str, float]],
    paper3: dict[str, float],
    paper4: dict[str, tuple[float, float, float]],
    *,
    plot: Path | None = None,
) -> str:
    cells = load_cells(dirs)
    parts = [
        "### Table 2 style: MLE per dataset and N, mean ± sd (seeds)\n",
        table2(cells, paper2),
        "\n### Table 3 style: backbones\n",
        table3(cells, paper3),
        "\n### Table 4 style: the ablation\n",
        table4(cells, paper4),
        "\n### Cost per cell (fit + sample of N rows)\n",
        cost_table(cells),
        "\n### MALLM-GAN cells that failed\n",
        failures(cells),
    ]
    if plot is not None:
        written = privacy_plot(cells, plot)
        parts.append(f"\nPrivacy-utility picture: {written}" if written else "\n(no cells to plot)")
    return "\n".join(parts)
