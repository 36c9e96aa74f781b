"""Loop mechanics with the `simulated` backend (a statistical stand-in, not a language model) on asia.

For several seeds: draw N rows from asia's pool, fit from a starting DAG (none or hill-climb), and print, after
each epoch, the best θ's re-scored accuracy and its distance to the true asia DAG (graph edit distance with a
reversal counting 1, and skeleton distance). Two selection rules are shown: the method's (lowest re-scored
accuracy) and a one-standard-error rule (the earliest θ within one standard error of the lowest).

    python benchmarks/simulated_mechanics.py --start none
    python benchmarks/simulated_mechanics.py --start hill-climb
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import pandas as pd

from mallm_gan import MallmGan
from mallm_gan.causal import ASIA_TRUE_DAG, graph_edit_distance, skeleton_distance

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "asia" / "full.csv.gz"


def distances(theta) -> str:
    return f"{graph_edit_distance(theta.dag, ASIA_TRUE_DAG)}/{skeleton_distance(theta.dag, ASIA_TRUE_DAG)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--examples", type=int, default=20, help="examples and rows per call")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--start", default="none", help="none or hill-climb")
    parser.add_argument("--discriminator", default="xgboost")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    full = pd.read_csv(args.data)
    n_test = 0.3 * 2 * args.batch_size
    print(f"asia N={args.rows}, batch {args.batch_size}, {args.examples} examples/call, {args.epochs} epochs, "
          f"start={args.start}, discriminator={args.discriminator}; distances are GED/skeleton to the true DAG")
    print("| seed | start: score, distance | best per epoch (lowest score) | best per epoch (1-SE rule) |")
    print("|---|---|---|---|")
    for seed in range(args.seeds):
        train = full.sample(args.rows, random_state=seed)
        model = MallmGan(llm="simulated", discriminator=args.discriminator, epochs=args.epochs,
                         batch_size=args.batch_size, n_examples=args.examples, rows_per_call=args.examples,
                         random_state=seed)
        model.fit(train, target="Dyspnea", dag=args.start)
        entries = model.history_.entries
        per_epoch = len(entries) // args.epochs
        lowest, one_se = [], []
        for epoch in range(args.epochs):
            seen = entries[: (epoch + 1) * per_epoch]
            best = min(reversed(seen), key=lambda e: e.score)
            lowest.append(f"{best.score:.3f} ({distances(best.theta)})")
            floor = best.score + math.sqrt(best.score * (1 - best.score) / n_test)
            chosen = next(e for e in seen if e.score <= floor)
            one_se.append(f"{chosen.score:.3f} ({distances(chosen.theta)})")
        start = entries[0]
        print(f"| {seed} | {start.score:.3f} ({distances(start.theta)}) | {', '.join(lowest)} | {', '.join(one_se)} |")


if __name__ == "__main__":
    main()
