"""Yield of generator calls on a table with rules, with and without the allowed-combinations ``anyOf``.

On ``tests/data/clinic.csv`` (60 synthetic clinical rows) with six rules (dates, a comparison, an
implication, a linear bound, allowed (sex, pregnant) combinations), the same generator requests (same θ,
same example rows, same seeds) are sent twice to a real model: once with the plain rows JSON schema (rules
are told in the prompt and checked on every row) and once with the schema narrowed by the
allowed-combinations rule (a grammar backend then cannot write a forbidden combination). Every answer goes
through the same parser and validator; the yield is accepted rows / rows written.

    PYTHONPATH=src python benchmarks/constraint_yield.py --model local:smollm2-135m --calls 24

Figures are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLINIC = ROOT / "tests" / "data" / "clinic.csv"
RULES = [
    "discharge_date >= admission_date",
    "discharge_date - admission_date <= 30",
    "age_at_diagnosis <= age",
    'smoker != "yes" -> cigarettes_per_day == 0',
    "dose_mg <= 10 * weight_kg",
    "(sex, pregnant) in training",
]
DAG = [("admission_date", "discharge_date"), ("age", "age_at_diagnosis"), ("smoker", "cigarettes_per_day"),
       ("sex", "pregnant"), ("weight_kg", "dose_mg")]
CONTEXT = "Adults admitted to a hospital ward and treated in one of two arms of a trial."


def setup() -> tuple[Any, Any, pd.DataFrame]:
    from mallm_gan.settings import Settings
    from mallm_gan.synthesizer.inputs import constrained_schema, normalised_train
    from mallm_gan.table.schema import TableSchema
    from mallm_gan.theta.process import DataGenerationProcess

    data = pd.read_csv(CLINIC)
    schema = TableSchema.from_dataframe(data, target="outcome")
    train = normalised_train(data, schema)
    schema = constrained_schema(Settings(constraints=RULES), schema, train)
    return schema, DataGenerationProcess(CONTEXT, tuple(DAG)), train


async def run_mode(client: Any, schema: Any, theta: Any, train: pd.DataFrame, *, narrow: bool, calls: int,
                   rows_per_call: int, n_examples: int, seed: int, temperature: float) -> dict[str, Any]:
    from mallm_gan.gan.answer_schema import rows_json_schema
    from mallm_gan.gan.parsing import parse_rows
    from mallm_gan.gan.prompts import generator_messages
    from mallm_gan.gan.row_rules import narrow_to_combinations
    from mallm_gan.gan.validation import RejectionReport, RowValidator

    validator = RowValidator(schema, train)
    plain = rows_json_schema(schema, rows_per_call, dialect=client.schema_dialect)
    json_schema = narrow_to_combinations(plain, schema) if narrow else plain
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(calls):
        examples = train.iloc[rng.choice(len(train), size=n_examples, replace=False)]
        messages = generator_messages(theta, schema, examples, n_rows=rows_per_call)
        requests.append(client.complete(messages, role="generator", temperature=temperature, max_tokens=600,
                                        json_schema=json_schema, seed=seed + i))
    started = time.perf_counter()
    completions = await asyncio.gather(*requests)
    seconds = time.perf_counter() - started
    report = RejectionReport()
    for completion in completions:
        for text in completion.texts:
            parsed = parse_rows(text, schema.names)
            report.add(validator.validate(parsed.records).report).add_parse(parsed)
    by_rule = Counter({rule: n for (reason, rule), n in report.by_column.items() if reason == "constraint_violated"})
    return {"report": report, "by_rule": by_rule, "seconds": seconds}


async def probe(client: Any, schema: Any, theta: Any, train: pd.DataFrame, *, rows: int, seed: int) -> tuple[int, int]:
    """Is the ``anyOf`` followed? One request whose branches are all forced to (male, pregnant), a combination
    the model does not write on its own (and the rule forbids): rows written, rows that follow it."""
    from mallm_gan.gan.answer_schema import rows_json_schema
    from mallm_gan.gan.parsing import parse_rows
    from mallm_gan.gan.prompts import generator_messages
    from mallm_gan.gan.row_rules import narrow_to_combinations

    json_schema = narrow_to_combinations(rows_json_schema(schema, rows, dialect=client.schema_dialect), schema)
    sex, pregnant = schema.names.index("sex"), schema.names.index("pregnant")
    for branch in json_schema["properties"]["rows"]["items"]["anyOf"]:
        if "prefixItems" in branch:  # tuples (the in-process engine)
            branch["prefixItems"][sex], branch["prefixItems"][pregnant] = {"enum": ["male"]}, {"enum": ["yes"]}
        else:  # keyed objects (an HTTP endpoint)
            branch["properties"] = {**branch["properties"], "sex": {"enum": ["male"]}, "pregnant": {"enum": ["yes"]}}
    messages = generator_messages(theta, schema, train.head(3), n_rows=rows)
    completion = await client.complete(messages, role="generator", temperature=0.5, max_tokens=600,
                                       json_schema=json_schema, seed=seed)
    records = [r for text in completion.texts for r in parse_rows(text, schema.names).records]
    followed = sum(1 for r in records if r.get("sex") == "male" and r.get("pregnant") == "yes")
    return len(records), followed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="local:smollm2-135m")
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--rows-per-call", type=int, default=5)
    parser.add_argument("--n-examples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.5, help="the generator's (default: the method's)")
    parser.add_argument("--modes", default="check,anyof,probe", help="any of check, anyof, probe (comma separated)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per call (a busy machine is slow)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")  # grammar fallbacks

    from mallm_gan.llm.registry import create_llm

    schema, theta, train = setup()
    client = create_llm(args.model, timeout=args.timeout)
    combos = [r for r in schema.constraints if "in {" in r]
    print(f"model {args.model}; {args.calls} calls x {args.rows_per_call} rows, {args.n_examples} examples each, "
          f"temperature {args.temperature}; {len(schema.constraints)} rules; load average {os.getloadavg()[0]:.1f}")
    print(f"combination rule narrowed into the JSON schema: {combos}")
    modes = set(args.modes.split(","))
    for narrow in [m == "anyof" for m in ("check", "anyof") if m in modes]:
        result = asyncio.run(run_mode(client, schema, theta, train, narrow=narrow, calls=args.calls,
                                      rows_per_call=args.rows_per_call, n_examples=args.n_examples,
                                      seed=args.seed, temperature=args.temperature))
        report = result["report"]
        label = "check + anyOf" if narrow else "check only   "
        share = report.accepted / report.generated if report.generated else float("nan")
        print(f"{label}: written {report.generated}, accepted {report.accepted} (yield {share:.1%}), "
              f"{result['seconds']:.0f} s")
        print(f"    rejected by rule: {dict(result['by_rule'].most_common())}")
        others = {k: v for k, v in report.reasons.items() if k != "constraint_violated"}
        print(f"    other rejections: {others}; parse problems: {dict(report.parse_problems)}")
    if "probe" not in modes:
        return 0
    written, followed = asyncio.run(probe(client, schema, theta, train, rows=args.rows_per_call, seed=args.seed))
    print(f"probe (every anyOf branch forced to sex=male, pregnant=yes): {followed} of {written} rows follow it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
