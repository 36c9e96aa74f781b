"""The paper's optimizer against feedback, the edit form and K candidates, at the same budget in LLM tokens.

For each dataset (a paper split, N training rows and its 200 test rows), each variant and each seed: fit
until ``--budget`` LLM tokens are spent (``max_tokens``; the run stops cleanly there), then sample 200 rows
from the best θ and measure

* ``acc``: the best θ's re-scored discriminator accuracy (lower is better, 0.5 = indistinguishable);
* ``mle``: the paper's MLE on the 200 test rows (weighted F1, or R² for regression) of models trained on
  the synthetic rows;
* ``copies``: the share of synthetic rows equal to a training row;
* ``ged``: on asia, the graph edit distance of the best θ's DAG to the true asia DAG (start: hill climbing);
  ``ged_lowest`` the same for the θ of lowest re-scored accuracy (the paper's rule), ``ged_last`` for the
  last θ tried (where the optimizer's walk ended);
* ``iters``: iterations the budget allowed.

    python benchmarks/optimizer_feedback.py --llm simulated --datasets asia insurance --seeds 5
    python benchmarks/optimizer_feedback.py --llm local:smollm2-135m --datasets asia --seeds 1 \
        --variants paper feedback --budget 60000

With ``--llm simulated`` (a statistical stand-in, not a language model) the optimizer makes one random edit,
or, when the prompt has a feedback block, follows its first structure hint half of the time: the figures
check the mechanics and whether the hints point towards the true structure, not what a model would do.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mallm_gan import MallmGan
from mallm_gan.evaluation import distance_to_closest_record, mle_score
from mallm_gan.gan.optimizer import best_index
from mallm_gan.theta.graphs import ASIA_TRUE_DAG, graph_edit_distance

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {"optimizer_form": "dag"},
    "feedback": {"optimizer_form": "dag", "optimizer_feedback": True},
    "edits": {"optimizer_form": "edits"},
    "K=3": {"optimizer_form": "dag", "optimizer_candidates": 3},
    "feedback+K=3": {"optimizer_form": "dag", "optimizer_feedback": True, "optimizer_candidates": 3},
}


def run_cell(dataset: str, n: int, variant: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    meta = json.loads((args.data / "datasets.json").read_text())[dataset]
    split = args.data / dataset / "splits" / f"n{n}"
    train, test = pd.read_csv(split / "train.csv"), pd.read_csv(split / "test.csv")
    model = MallmGan(llm=args.llm, epochs=args.max_epochs, batch_size=args.batch_size, n_examples=5,
                     rows_per_call=5, random_state=seed, max_tokens=args.budget, **VARIANTS[variant])
    started = time.perf_counter()
    model.fit(train, target=meta["target"], context=meta.get("context", ""))
    model.max_tokens = None  # the budget is the fit's; sampling for the evaluation is outside it
    synthetic = model.sample(200)
    cell = {
        "dataset": dataset, "variant": variant, "seed": seed, "iters": len(model.history_),
        "acc": model.history_.best().score, "tokens": model.usage_.total.prompt_tokens
        + model.usage_.total.completion_tokens,
        "mle": mle_score(synthetic, test, target=meta["target"], schema=model.schema_, random_state=0),
        "copies": distance_to_closest_record(synthetic, model.train_, schema=model.schema_).exact_copies
        / max(len(synthetic), 1),
        "seconds": time.perf_counter() - started,
    }
    if dataset == "asia":
        entries = model.history_.entries
        lowest = entries[best_index([(e.score, e.recall, e.held_out) for e in entries], "lowest")]
        cell["ged"] = graph_edit_distance(model.theta_.dag, ASIA_TRUE_DAG)
        cell["ged_lowest"] = graph_edit_distance(lowest.theta.dag, ASIA_TRUE_DAG)
        cell["ged_last"] = graph_edit_distance(entries[-1].theta.dag, ASIA_TRUE_DAG)
        cell["ged_start"] = graph_edit_distance(model.initial_theta_.dag, ASIA_TRUE_DAG)
    return cell


def summarise(cells: list[dict[str, Any]], variants: list[str]) -> None:
    keys = ["iters", "acc", "mle", "copies", "ged", "ged_lowest", "ged_last"]
    print("| dataset | variant | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for dataset in dict.fromkeys(c["dataset"] for c in cells):
        for variant in variants:
            group = [c for c in cells if c["dataset"] == dataset and c["variant"] == variant]
            if not group:
                continue
            parts = []
            for key in keys:
                values = [c[key] for c in group if c.get(key) is not None]
                if not values:
                    parts.append("–")
                elif len(values) == 1:
                    parts.append(f"{values[0]:.3g}")
                else:
                    parts.append(f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}")
            print(f"| {dataset} N={group[0].get('n', '')} | {variant} | " + " | ".join(parts) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="simulated")
    parser.add_argument("--datasets", nargs="+", default=["asia", "insurance"])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60_000, help="LLM tokens per fit")
    parser.add_argument("--max-epochs", type=int, default=40, help="upper bound; the budget stops the fit")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="append every cell as a JSON line here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    cells = []
    for dataset in args.datasets:
        for seed in range(args.seeds):
            for variant in args.variants:
                cell = run_cell(dataset, args.n, variant, seed, args) | {"n": args.n}
                cells.append(cell)
                print(json.dumps(cell), flush=True)
                if args.out:
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(cell) + "\n")
    print(f"\nllm={args.llm}, budget {args.budget} tokens per fit, {args.seeds} seeds\n")
    summarise(cells, args.variants)


if __name__ == "__main__":
    main()
