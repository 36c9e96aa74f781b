"""Completion tokens per row of each structured-output dialect and mode, with a real local model.

The same generator requests (insurance N=100, 5 example rows and 5 new rows per call, seeds 0..CALLS-1) go
to SmolLM2-135M twice over: in-process (llama.cpp with LLGuidance, the ``local:`` backend) and through
llama.cpp's own HTTP server (``openai:MODEL@URL``, started in-process on 127.0.0.1). For each path and form
it prints completion tokens per requested row and per valid row (parsed, coerced and validated).

Forms: ``positional`` (tuples, what the in-process engine is sent), ``portable`` (keyed objects, what every
HTTP endpoint is sent), and, on the server, the fallbacks ``json_object`` and ``none`` (plain prompt,
tolerant parsing). The server refuses the positional form (HTTP 400), which is why it is not measured there.

    python benchmarks/dialects.py --calls 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mallm_gan.gan.answer_schema import rows_json_schema
from mallm_gan.gan.generator import Generator
from mallm_gan.gan.parsing import parse_rows
from mallm_gan.gan.prompts import generator_messages
from mallm_gan.gan.validation import RowValidator
from mallm_gan.llm import create_llm
from mallm_gan.table.schema import TableSchema
from mallm_gan.testing.llama_server import llama_server
from mallm_gan.theta.process import DataGenerationProcess

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "insurance" / "splits" / "n100" / "train.csv"
ROWS = 5
THETA = DataGenerationProcess(
    context="Medical insurance customers in the US and the charges billed to them.", dag=(("smoker", "charges"),
    ("age", "charges"), ("bmi", "charges")), instruction="Write realistic, diverse rows.",
)


class _Dialect:
    """A stand-in that only says which dialect a client would be sent (for the generator's completion cap)."""

    def __init__(self, client: Any, dialect: str) -> None:
        self.client, self.schema_dialect = client, dialect


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("INSURANCE_N100", DATA)))
    parser.add_argument("--calls", type=int, default=4, help="requests per path and form")
    parser.add_argument("--model", default="smollm2-135m")
    return parser.parse_args()


async def _measure(client: Any, schema: TableSchema, train: pd.DataFrame, form: str, calls: int) -> dict[str, Any]:
    # the completion cap a run would set for this dialect (so truncation shows as it would in a fit)
    sizing = Generator(_Dialect(client, "positional" if form == "positional" else "portable"), schema)
    validator = RowValidator(schema, train, copy_policy="never")
    tokens = valid = 0
    started = time.perf_counter()
    for seed in range(calls):
        examples = train.sample(ROWS, random_state=seed)
        messages = generator_messages(THETA, schema, examples, n_rows=ROWS)
        dialect = "positional" if form == "positional" else "portable"
        answer = await client.complete(
            messages, role="generator", temperature=0.5, seed=seed, json_schema=rows_json_schema(
                schema, ROWS, dialect=dialect), max_tokens=sizing._max_tokens(examples, ROWS),
        )
        tokens += answer.completion_tokens
        valid += len(validator.validate(parse_rows(answer.text, schema.names).records).rows)
    await client.aclose()
    return {"form": form, "calls": calls, "tokens": tokens, "per_row": tokens / (calls * ROWS),
            "per_valid_row": tokens / valid if valid else float("nan"), "valid": f"{valid}/{calls * ROWS}",
            "seconds": time.perf_counter() - started}


def main() -> int:
    args = _args()
    if not args.data.exists():
        print(f"insurance N=100 not found at {args.data} (set --data)", file=sys.stderr)
        return 2
    train = pd.read_csv(args.data)
    schema = TableSchema.from_dataframe(train, target="charges")
    results: list[tuple[str, dict[str, Any]]] = []
    for form in ("positional", "portable"):
        client = create_llm(f"local:{args.model}", n_parallel=1, structured="json_schema")
        results.append(("in-process llama.cpp", asyncio.run(_measure(client, schema, train, form, args.calls))))
    with llama_server(args.model, n_parallel=1, n_ctx=4096) as url:
        for form, mode in (("portable", "json_schema"), ("json_object", "json_object"), ("none", "none")):
            client = create_llm(f"openai:{args.model}@{url}", structured=mode, timeout=600)
            results.append(("llama.cpp server", asyncio.run(_measure(client, schema, train, form, args.calls))))
    print(f"model {args.model}, insurance N=100 ({len(schema)} columns), {ROWS} rows per call, "
          f"{args.calls} calls each, load average {os.getloadavg()[0]:.1f}\n")
    print("| path | form sent | completion tokens | tokens per row | tokens per valid row | valid rows | s |")
    print("|---|---|---|---|---|---|---|")
    for path, r in results:
        print(f"| {path} | {r['form']} | {r['tokens']} | {r['per_row']:.1f} | {r['per_valid_row']:.1f} | "
              f"{r['valid']} | {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
