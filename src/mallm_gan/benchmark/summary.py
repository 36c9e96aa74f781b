"""The benchmark summary in the shape of the paper's Table 2: rows = model, columns = dataset x N.

Each cell is the mean ± standard deviation (population std, ``ddof=0``, as in the paper's code) over seeds
of the best model's MLE score (weighted F1 for classification, R² for regression). In every column the
highest mean among the generators is bold; the ``real`` row is the reference and does not compete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
_REFERENCE = "real"


def _latest(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    latest = {(r["dataset"], int(r["n"]), r["model"], int(r["seed"])): r for r in records}
    return list(latest.values())


def _orders(records: Sequence[dict[str, Any]], model_order: Sequence[str]) -> tuple[list[str], list]:
    models_seen = list(dict.fromkeys(r["model"] for r in records))
    models = [m for m in model_order if m in models_seen] + [m for m in models_seen if m not in model_order]
    columns = sorted({(r["dataset"], int(r["n"])) for r in records}, key=lambda c: (c[0], c[1]))
    return models, columns


def summary_frame(records: Sequence[dict[str, Any]], model_order: Sequence[str] = ()) -> pd.DataFrame:
    """Long table: one row per (model, dataset, N) with mean, std, seeds scored, seeds skipped/failed."""
    rows = []
    records = _latest(records)
    models, columns = _orders(records, model_order)
    for model in models:
        for dataset, n in columns:
            cell = [r for r in records if r["model"] == model and r["dataset"] == dataset and int(r["n"]) == n]
            if not cell:
                continue
            scores = [r["score"] for r in cell if r.get("status") == "ok" and r.get("score") is not None]
            seconds = [r.get("seconds_generate", r["seconds"]) for r in cell if r.get("status") == "ok"]
            rows.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "n": n,
                    "metric": next((r.get("metric") for r in cell if r.get("metric")), None),
                    "mean": float(np.mean(scores)) if scores else np.nan,
                    "std": float(np.std(scores)) if scores else np.nan,
                    "seeds": len(scores),
                    "skipped": sum(r.get("status") == "skipped" for r in cell),
                    "failed": sum(r.get("status") in ("error", "failed") for r in cell),
                    "seconds": float(np.mean(seconds)) if seconds else np.nan,
                    "message": next((r.get("message") for r in cell if r.get("status") != "ok"), None),
                }
            )
    return pd.DataFrame(rows)


def _column_label(dataset: str, n: int) -> str:
    return f"{dataset} N={n}"


def _best(long: pd.DataFrame) -> set[tuple[str, str, int]]:
    best = set()
    competing = long[(long["model"] != _REFERENCE) & long["mean"].notna()]
    for (dataset, n), group in competing.groupby(["dataset", "n"]):
        top = round(group["mean"].max(), 2)
        best |= {(m, dataset, n) for m, v in zip(group["model"], group["mean"], strict=True) if round(v, 2) == top}
    return best


def markdown_table(long: pd.DataFrame, value: str = "score") -> str:
    """Markdown table with models as rows and dataset x N as columns (``value``: score or seconds)."""
    if long.empty:
        return "(no cells)\n"
    models = list(dict.fromkeys(long["model"]))
    columns = sorted({(d, int(n)) for d, n in zip(long["dataset"], long["n"], strict=True)})
    best = _best(long) if value == "score" else set()
    max_seeds = long.groupby(["dataset", "n"])["seeds"].max()
    header = "| model | " + " | ".join(_column_label(d, n) for d, n in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for model in models:
        cells = []
        for dataset, n in columns:
            row = long[(long["model"] == model) & (long["dataset"] == dataset) & (long["n"] == n)]
            if row.empty:
                cells.append("")
                continue
            row = row.iloc[0]
            if row["seeds"] == 0:
                cells.append("skipped" if row["skipped"] else "failed")
                continue
            if value == "seconds":
                cells.append(f"{row['seconds']:.1f}")
                continue
            text = f"{row['mean']:.2f} ± {row['std']:.2f}"
            if (model, dataset, n) in best:
                text = f"**{text}**"
            if row["seeds"] < max_seeds[(dataset, n)]:
                text += f" ({row['seeds']} seeds)"
            cells.append(text)
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def quality_table(records: Sequence[dict[str, Any]], model_order: Sequence[str] = ()) -> str:
    """Per model, means over its scored cells of the privacy and fidelity figures."""
    records = [r for r in _latest(records) if r.get("status") == "ok"]
    if not records:
        return "(no cells)\n"
    models, _ = _orders(records, model_order)
    lines = [
        "| model | cells | exact copies (share of rows) | median DCR to train | closer to train than test "
        "| shape | pair trends | detection AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def mean(values: list[Any]) -> str:
        present = [v for v in values if v is not None]
        return f"{np.mean(present):.2f}" if present else ""

    for model in models:
        rows = [r for r in records if r["model"] == model]
        copies = [r["privacy"]["exact_copies"] / max(1, r["n_synthetic"]) for r in rows]
        lines.append(
            f"| {model} | {len(rows)} | {mean(copies)} "
            f"| {mean([r['privacy']['median_to_train'] for r in rows])} "
            f"| {mean([r['privacy']['share_closer_to_train'] for r in rows])} "
            f"| {mean([r['fidelity']['shape_score'] for r in rows])} "
            f"| {mean([r['fidelity']['trend_score'] for r in rows])} "
            f"| {mean([r['fidelity']['detection_auc'] for r in rows])} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(
    records: Sequence[dict[str, Any]], out: str | Path, *, model_order: Sequence[str] = ()
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.csv`` for ``records`` into ``out``; returns their paths."""
    out = Path(out)
    long = summary_frame(records, model_order)
    splits = sorted({str(r.get("split")) for r in records})
    text = [
        "# Benchmark summary\n",
        f"Cells: {len(_latest(records))} (split: {', '.join(splits) or '-'}). MLE = the best evaluation "
        "model's weighted F1 (classification) or R² (regression) on the real test rows, trained on the "
        "generated rows; mean ± std over seeds. Bold: best generator per column (`real` is the reference).\n",
        "## MLE\n",
        markdown_table(long, "score"),
        "\n## Seconds to fit and sample (evaluation not included), mean over seeds\n",
        markdown_table(long, "seconds"),
        "\n## Privacy and fidelity, mean over each model's cells\n",
        quality_table(records, model_order),
    ]
    problems = long[(long["skipped"] > 0) | (long["failed"] > 0)] if not long.empty else long
    if not problems.empty:
        text.append("\n## Skipped or failed cells\n")
        for row in problems.itertuples():
            text.append(f"- {row.model} {row.dataset} N={row.n}: {row.message}")
        text.append("")
    md_path, csv_path = out / SUMMARY_MD, out / SUMMARY_CSV
    md_path.write_text("\n".join(text), encoding="utf-8")
    wide = _wide(long)
    wide.to_csv(csv_path, index=True)
    return md_path, csv_path


def _wide(long: pd.DataFrame) -> pd.DataFrame:
    """Rows = model, columns = ``dataset/N=n/{mean,std,seeds}``."""
    if long.empty:
        return pd.DataFrame(index=pd.Index([], name="model"))
    models = list(dict.fromkeys(long["model"]))
    columns = sorted({(d, int(n)) for d, n in zip(long["dataset"], long["n"], strict=True)})
    data: dict[str, list[Any]] = {}
    for dataset, n in columns:
        for stat in ("mean", "std", "seeds"):
            values = []
            for model in models:
                row = long[(long["model"] == model) & (long["dataset"] == dataset) & (long["n"] == n)]
                values.append(row.iloc[0][stat] if not row.empty else np.nan)
            data[f"{dataset}/N={n}/{stat}"] = values
    return pd.DataFrame(data, index=pd.Index(models, name="model"))


__all__ = ["SUMMARY_CSV", "SUMMARY_MD", "markdown_table", "quality_table", "summary_frame", "write_summary"]
