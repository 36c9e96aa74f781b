"""Print our benchmark results next to the MALLM-GAN paper's numbers, as Markdown tables.

Usage (from the repository root, after the runs listed in benchmarks/README.md)::

    python benchmarks/compare_with_paper.py real benchmarks/table2/real-paper-splits benchmarks/table2/real-draws
    python benchmarks/compare_with_paper.py baselines benchmarks/table2/baselines-paper-splits \
        benchmarks/table2/baselines-asia-draws
    python benchmarks/compare_with_paper.py method --plot benchmarks/table2/privacy_utility.png \
        benchmarks/table2/real-paper-splits benchmarks/table2/baselines-paper-splits \
        benchmarks/table2/baselines-asia-draws benchmarks/table2/mallm-gan-*

The paper's values below are the "Real data" row published with the benchmark data
(../shared/data/README.md) and the Table 2 values quoted in the project's issue; nothing else of Table 2
is reproduced here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from mallm_gan.benchmark.grid import CELLS_FILE, MODELS, read_records
from mallm_gan.benchmark.summary import summary_frame

DATASETS = ("adult", "magic", "asia", "insurance")
SIZES = (25, 50, 100, 200, 400, 800)
# paper's MLE "Real data" row (best model's F1, or R² for insurance), ../shared/data/README.md
PAPER_REAL = {
    "adult": (0.80, 0.76, 0.86, 0.85, 0.83, 0.71),
    "magic": (0.79, 0.79, 0.83, 0.81, 0.82, 0.81),
    "asia": (0.83, 0.82, 0.83, 0.83, 0.84, 0.84),
    "insurance": (0.52, 0.78, 0.82, 0.83, 0.85, 0.85),
}
# paper Table 2 values (GPT-4o backbone for MALLM-GAN) as quoted in the project's issues
PAPER_TABLE2 = {
    ("adult", 100): {"smote": 0.78, "ctgan": 0.66, "tvae": 0.67, "mallm-gan": 0.79},
    ("insurance", 100): {"smote": 0.80, "ctgan": -0.09, "tvae": 0.39, "mallm-gan": 0.72},
}
# paper Table 3 (backbones, adult N=25 F1) as quoted in the project's issue 22
PAPER_TABLE3 = {"Qwen3-1.7B": 0.50, "Llama-3.2-3B": 0.58, "the paper's best backbone": 0.82}
# paper Table 4 (ablation) as quoted in the project's issue 22: few-shot, +causal, +causal +optimizer
PAPER_TABLE4 = {"adult": (0.76, 0.75, 0.79), "asia": (0.23, 0.28, 0.83)}


def load(directory: str) -> pd.DataFrame:
    records = read_records(Path(directory) / CELLS_FILE)
    if not records:
        sys.exit(f"no cells in {directory}/{CELLS_FILE}")
    frame = summary_frame(records, MODELS)
    frame["split"] = records[0].get("split")
    return frame


def cell(frame: pd.DataFrame, model: str, dataset: str, n: int) -> pd.Series | None:
    rows = frame[(frame["model"] == model) & (frame["dataset"] == dataset) & (frame["n"] == n)]
    if rows.empty or rows.iloc[0]["seeds"] == 0:
        return None
    return rows.iloc[0]


def fmt(row: pd.Series | None) -> str:
    return "n/a" if row is None else f"{row['mean']:.2f} ± {row['std']:.2f}"


def real_table(paper_dir: str, draws_dir: str | None) -> str:
    ours = load(paper_dir)
    draws = load(draws_dir) if draws_dir else None
    lines = [
        "| dataset | N | paper | ours, paper split | difference | ours, 5 pool draws |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in DATASETS:
        for n, paper in zip(SIZES, PAPER_REAL[dataset], strict=True):
            row = cell(ours, "real", dataset, n)
            diff = "" if row is None else f"{row['mean'] - paper:+.2f}"
            flag = " **>0.05**" if row is not None and abs(row["mean"] - paper) > 0.05 else ""
            drawn = fmt(cell(draws, "real", dataset, n)) if draws is not None else ""
            lines.append(f"| {dataset} | {n} | {paper:.2f} | {fmt(row)} | {diff}{flag} | {drawn} |")
    return "\n".join(lines)


def baseline_table(*dirs: str) -> str:
    frames = [load(d) for d in dirs]
    models = [m for m in MODELS if m != "mallm-gan"]
    columns = [(d, n) for d in DATASETS for n in (100, 200)]
    header = "| model | " + " | ".join(f"{d} N={n}" for d, n in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for model in models:
        cells = []
        for dataset, n in columns:
            found = next((r for f in frames if (r := cell(f, model, dataset, n)) is not None), None)
            text = fmt(found)
            paper = PAPER_TABLE2.get((dataset, n), {}).get(model)
            if paper is not None:
                text += f" (paper {paper:.2f})"
            cells.append(text)
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("real", "baselines", "method"):
        sys.exit(__doc__)
    if argv[0] == "real":
        print(real_table(argv[1], argv[2] if len(argv) > 2 else None))
    elif argv[0] == "baselines":
        print(baseline_table(*argv[1:]))
    else:
        from method_tables import method_report

        plot = None
        rest = argv[1:]
        if rest[:1] == ["--plot"]:
            plot, rest = Path(rest[1]), rest[2:]
        print(method_report(rest, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE4, plot=plot))


if __name__ == "__main__":
    main(sys.argv[1:])
