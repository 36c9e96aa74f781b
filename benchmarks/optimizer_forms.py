"""Which answer form a backbone gets right: the whole DAG (the paper's) or named edits of the best DAG.

For each dataset (a paper split, N=50 by default), a short fit with the ``simulated`` backend gives a real
history of (θ, score) pairs (hill-climbing start, one epoch); the optimizer prompt the loop would send next
is then put to the backbone ``--calls`` times per form, each with its own seed, as the loop sends it
(JSON schema response format, the loop's temperature and token limit). Each answer is counted as

* ``parsed``: edges or an instruction could be read (else the loop keeps the best θ);
* ``unchanged``: parsed, and survived repair unchanged (no edge dropped: unknown column, self loop,
  duplicate, cycle, or an edit naming an edge that is not there / already there);
* ``moves``: parsed, and the resulting DAG differs from the best θ's (the answer proposes something).

    python benchmarks/optimizer_forms.py --llm local:smollm2-135m --calls 24
    python benchmarks/optimizer_forms.py --llm local:smollm2-135m --calls 24 --feedback

The better form (higher ``unchanged``, then ``moves``) is the model's default in
``mallm_gan.gan.proposals.FORM_BY_MODEL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from mallm_gan import MallmGan
from mallm_gan.gan.optimizer import Optimizer
from mallm_gan.gan.proposals import history_feedback
from mallm_gan.llm.registry import create_llm

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FORMS = ("dag", "edits")


def history_of(dataset: str, n: int, data: Path) -> MallmGan:
    meta = json.loads((data / "datasets.json").read_text())[dataset]
    train = pd.read_csv(data / dataset / "splits" / f"n{n}" / "train.csv")
    model = MallmGan(llm="simulated", epochs=1, batch_size=25, n_examples=5, rows_per_call=5, random_state=0)
    return model.fit(train, target=meta["target"], context=meta.get("context", ""))


async def ask(model: MallmGan, llm: str, form: str, calls: int, feedback: bool) -> list[tuple[str, bool]]:
    client = create_llm(llm, max_concurrency=4, timeout=600)
    try:
        optimizer = Optimizer(client, model.schema_, temperature=model.optimizer_temperature, top_k=model.top_k,
                              form=form)
        text = ""
        if feedback:
            # no discriminator here: the columns are ranked by the size of their gaps alone
            text = history_feedback(model.history_, model.schema_, model.train_, None, top_k=model.top_k,
                                    form=form, max_prompt_tokens=model.max_prompt_tokens)
        best = model.history_.top_k(1)[0].theta
        results = await asyncio.gather(*(optimizer.propose(model.history_, seed=s, feedback=text)
                                         for s in range(calls)))
        return [(origin, set(theta.dag) != set(best.dag)) for theta, origin in results]
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="local:smollm2-135m")
    parser.add_argument("--datasets", nargs="+", default=["asia", "insurance"])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--calls", type=int, default=24, help="optimizer calls per form and dataset")
    parser.add_argument("--feedback", action="store_true", help="put the feedback block in the prompt")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        model = history_of(dataset, args.n, args.data)
        for form in FORMS:
            answers = asyncio.run(ask(model, args.llm, form, args.calls, args.feedback))
            origins = Counter(origin.split(":")[0] for origin, _ in answers)
            repairs = Counter(origin.rsplit("(", 1)[-1].rstrip(")") for origin, _ in answers
                              if origin.startswith("repaired"))
            row = {"llm": args.llm, "dataset": dataset, "form": form, "calls": len(answers),
                   "parsed": sum(not o.startswith("kept best") for o, _ in answers) / len(answers),
                   "unchanged": origins["proposed"] / len(answers),
                   "moves": sum(moved for o, moved in answers if not o.startswith("kept best")) / len(answers),
                   "repairs": dict(repairs), "feedback": args.feedback}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{args.llm}, {args.calls} calls per form and dataset, feedback {'on' if args.feedback else 'off'}\n")
    print("| dataset | form | calls | parsed | unchanged by repair | moves the DAG |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['dataset']} N={args.n} | {row['form']} | {row['calls']} | {row['parsed']:.0%} | "
              f"{row['unchanged']:.0%} | {row['moves']:.0%} |")


if __name__ == "__main__":
    main()
