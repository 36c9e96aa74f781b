"""Loop mechanics with the `simulated` backend (a statistical stand-in, not a language model) on asia.

For several seeds: draw N rows from asia's pool, fit from a starting DAG (none, hill-climb or the true DAG),
and compare the best θ with the start under both selection rules, on the same run (the rule does not change
the run, only which θ is called the best): `significant` (the default: a later θ must score lower by two
standard errors of the difference) and `lowest` (the paper's rule). Each cell gives the re-scored accuracy
and the graph edit distance to the true asia DAG (a reversal counts 1).

    python benchmarks/simulated_mechanics.py --start true
    python benchmarks/simulated_mechanics.py --start hill-climb
    python benchmarks/simulated_mechanics.py --start none

With ``--structures``, no loop runs: each seed scores fixed structures once (one iteration over all rows) to
show what the score can tell apart: the true DAG, no DAG, the hill-climbing DAG and one-edge changes of the
true DAG.

    python benchmarks/simulated_mechanics.py --structures --seeds 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

import pandas as pd

from mallm_gan import MallmGan
from mallm_gan.gan.optimizer import SELECTIONS, best_index
from mallm_gan.theta.graphs import ASIA_TRUE_DAG, graph_edit_distance

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "asia" / "full.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--examples", type=int, default=20, help="examples and rows per call")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--start", default="true", choices=["true", "hill-climb", "none"])
    parser.add_argument("--discriminator", default="xgboost")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--structures", action="store_true", help="score fixed structures instead")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    full = pd.read_csv(args.data)
    if args.structures:
        structures(full, args)
        return
    print(f"asia N={args.rows}, batch {args.batch_size}, {args.examples} examples/call, {args.epochs} epochs, "
          f"start={args.start}, discriminator={args.discriminator}; cells: re-scored accuracy (GED to the "
          "true DAG)")
    print("| seed | start | best, significant | best, lowest | lowest score of the others |")
    print("|---|---|---|---|---|")
    fell = {rule: 0 for rule in SELECTIONS}
    grew = {rule: 0 for rule in SELECTIONS}
    for seed in range(args.seeds):
        train = full.sample(args.rows, random_state=seed).reset_index(drop=True)
        model = MallmGan(llm="simulated", discriminator=args.discriminator, epochs=args.epochs,
                         batch_size=args.batch_size, n_examples=args.examples, rows_per_call=args.examples,
                         random_state=seed)
        model.fit(train, target="Dyspnea", dag=list(ASIA_TRUE_DAG) if args.start == "true" else args.start)
        entries = model.history_.entries
        scored = [(e.score, e.recall, e.held_out) for e in entries]
        start = entries[0]
        start_distance = graph_edit_distance(start.theta.dag, ASIA_TRUE_DAG)
        cells = [f"{start.score:.3f} ({start_distance})"]
        for rule in SELECTIONS:
            best = entries[best_index(scored, rule)]
            distance = graph_edit_distance(best.theta.dag, ASIA_TRUE_DAG)
            fell[rule] += best.score < start.score
            grew[rule] += distance > start_distance
            cells.append(f"{best.score:.3f} ({distance})")
        cells.append(f"{min(e.score for e in entries[1:]):.3f}")
        print(f"| {seed} | " + " | ".join(cells) + " |")
    print()
    for rule in SELECTIONS:
        print(f"{rule}: the best θ scored below the start in {fell[rule]} of {args.seeds} runs; its distance to "
              f"the true DAG grew in {grew[rule]} of {args.seeds}")


def structures(full: pd.DataFrame, args: argparse.Namespace) -> None:
    true = list(ASIA_TRUE_DAG)
    either = "either tuberculosis or lung cancer"
    variants: dict[str, list[tuple[str, str]] | str] = {
        "true DAG": true,
        "no DAG": "none",
        "hill-climbing DAG": "hill-climb",
        "true + smoke -> chest X-ray": [*true, ("smoke", "chest X-ray")],
        "true + lung cancer -> Dyspnea": [*true, ("lung cancer", "Dyspnea")],
        "true - visit to Asia -> tuberculosis": [e for e in true if e[0] != "visit to Asia"],
        "true - smoke -> bronchitis": [e for e in true if e != ("smoke", "bronchitis")],
        "true - either -> chest X-ray": [e for e in true if e != (either, "chest X-ray")],
        "true, bronchitis -> Dyspnea reversed": [*(e for e in true if e != ("bronchitis", "Dyspnea")),
                                                 ("Dyspnea", "bronchitis")],
    }
    scores: dict[str, list[float]] = {name: [] for name in variants}
    for seed in range(args.seeds):
        train = full.sample(args.rows, random_state=seed).reset_index(drop=True)
        for name, dag in variants.items():
            model = MallmGan(llm="simulated", discriminator=args.discriminator, epochs=1, batch_size=args.rows,
                             n_examples=args.examples, rows_per_call=args.examples, random_state=seed)
            model.fit(train, target="Dyspnea", dag=dag)
            scores[name].append(model.history_.entries[0].raw_score)
    print(f"asia N={args.rows}, one iteration over all rows, {args.examples} examples/call, "
          f"discriminator={args.discriminator}, {args.seeds} seeds")
    print("| structure | GED to the true DAG | score, mean | sd |")
    print("|---|---|---|---|")
    for name, values in scores.items():
        dag = variants[name]
        distance = graph_edit_distance(dag, ASIA_TRUE_DAG) if isinstance(dag, list) else (
            len(ASIA_TRUE_DAG) if dag == "none" else "varies")
        print(f"| {name} | {distance} | {statistics.mean(values):.3f} | {statistics.stdev(values):.3f} |")


if __name__ == "__main__":
    main()
