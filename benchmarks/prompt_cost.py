"""Prompt cost per accepted synthetic row: the reference serialisation vs ours (issue 12, "Performance").

For each dataset the training rows are cut into the generator's calls as a fit's first epoch does (chunks of
``--n-examples`` real rows, each asking for ``--rows-per-call`` new rows). Every call is written twice:

* ours: :func:`mallm_gan.gan.prompts.generator_messages` (θ as the system prompt; examples as
  ``{"columns": [...], "rows": [[...], ...]}``, every name once) and the answer ``{"rows": [[...], ...]}``;
* reference style: the same θ text and request, but the examples as Python-repr dicts of each row, every key
  repeated (``{'age': 39, 'workclass': 'State-gov', ...}``, values with the schema's dtypes, so integers
  stored as floats in the split files are written as integers, which favours the reference), and the answer
  written the same way, one dict per row.

The answer's rows are the same in both: the simulated responder (not a language model) writes them from the
request, and the project's validator decides which are accepted (copy guard included). Both answers are
written with Python's default spacing (``", "``, ``": "``) so that only the serialisation differs. The cost
is (input + output characters of all calls) / accepted rows; tokens are counted the same way with the
tokenizer of the SmolLM2-135M GGUF model (llama.cpp's ``/tokenize`` through xllamacpp), when that model is
in the local cache. The answer's JSON schema (``response_format``), which the reference does not send, is
shown separately, and so is the part of each call that the serialisation changes (examples block, answer-format
sentence, answer) without θ and the request sentences, which are the same text in both.

Usage::

    python benchmarks/prompt_cost.py                 # adult N=100, insurance N=100 (paper splits), asia N=50
    python benchmarks/prompt_cost.py --no-tokens     # characters only
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import data_dir, finish, print_table, quiet_logs

TARGET_RATIO = 0.6
DATASETS = (("adult", 100), ("insurance", 100), ("asia", 50))

REF_EXAMPLES_INTRO = "Here are examples from real data:"
REF_ANSWER = (
    "Answer with the rows only, no other text: one Python dictionary per row, in the same format as the "
    "examples, with every column as a key."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-examples", type=int, default=5, help="real rows per call (default 5)")
    parser.add_argument("--rows-per-call", type=int, default=5, help="rows asked for per call (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the row order and the answers")
    parser.add_argument("--no-tokens", action="store_true", help="skip token counts")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


# -- the reference serialisation --------------------------------------------------------------------------
def raw_records(frame: Any) -> list[dict[str, Any]]:
    """Rows as the reference passes them: ``DataFrame.to_dict("records")`` (missing values as None)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records]


def reference_messages(system: str, examples: list[dict[str, Any]], request: str) -> list[dict[str, str]]:
    """Same θ (system prompt) and request as ours; the examples as repr dicts and the answer form changed."""
    body = "\n".join(repr(r) for r in examples)
    user = f"{REF_EXAMPLES_INTRO}\n{body}\n\n{request}\n{REF_ANSWER}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def request_text(messages: list[dict[str, str]]) -> str:
    """The request sentences of our user turn without our answer-format paragraph."""
    user = messages[-1]["content"]
    inner = user.split("<request>\n", 1)[1].split("\n</request>", 1)[0]
    return inner.split("\nAnswer with JSON only", 1)[0]


# -- token counts ---------------------------------------------------------------------------------------
class Tokenizer:
    """Counts tokens with a GGUF model's tokenizer through llama.cpp's HTTP ``/tokenize`` (no download)."""

    def __init__(self, path: str) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = 512
        params.n_parallel = 1
        params.verbosity = 0
        self._key = secrets.token_hex(16)
        params.api_keys = [self._key]
        self._server = xllamacpp.Server(params)
        self._url = self._server.listening_address.rstrip("/") + "/tokenize"

    def count(self, text: str) -> int:
        request = urllib.request.Request(
            self._url,
            data=json.dumps({"content": text, "add_special": False}).encode("utf-8"),
            headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return len(json.loads(response.read())["tokens"])


def open_tokenizer() -> tuple[Tokenizer | None, str]:
    from mallm_gan.errors import MallmGanError

    try:
        from mallm_gan.llm.models import model_path

        path = model_path("smollm2-135m")
        if not path.is_file():
            return None, f"SmolLM2-135M GGUF not in the local cache ({path}); run `mallm-gan models pull`"
        return Tokenizer(str(path)), f"SmolLM2-135M tokenizer ({path.name})"
    except (ImportError, OSError, RuntimeError, ValueError, MallmGanError) as exc:
        # no tokenizer only means no token counts
        return None, f"no offline tokenizer ({type(exc).__name__}: {exc})"


# -- one dataset --------------------------------------------------------------------------------------------
@dataclass
class Cost:
    calls: int = 0
    accepted: int = 0
    chars: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    lossless: bool = True

    def add(self, kind: str, chars: int, tokens: int | None) -> None:
        self.chars[kind] = self.chars.get(kind, 0) + chars
        if tokens is not None:
            self.tokens[kind] = self.tokens.get(kind, 0) + tokens


def measure(name: str, n: int, args: argparse.Namespace, tokenizer: Tokenizer | None) -> Cost:
    from mallm_gan.benchmark.datasets import dataset_info, load_paper_split
    from mallm_gan.gan.answer_schema import rows_json_schema
    from mallm_gan.gan.parsing import parse_rows
    from mallm_gan.gan.prompts import example_rows, generator_messages
    from mallm_gan.gan.validation import RowValidator
    from mallm_gan.llm.base import BaseClient
    from mallm_gan.table.coerce import normalise_frame
    from mallm_gan.table.schema import TableSchema
    from mallm_gan.testing.simulated import SimulatedResponder
    from mallm_gan.theta.causal import hill_climb_dag
    from mallm_gan.theta.process import DEFAULT_INSTRUCTION, DataGenerationProcess

    info = dataset_info(name, data_dir())
    train, _ = load_paper_split(name, n, data_dir())
    schema = TableSchema.from_dataframe(train, target=info.target, task=info.task)
    cast = schema.cast(train[schema.names])
    theta = DataGenerationProcess(
        context=info.context, dag=hill_climb_dag(cast, schema, random_state=args.seed), instruction=DEFAULT_INSTRUCTION
    )
    validator = RowValidator(schema, cast, copy_policy="k", copy_k=2)
    responder = SimulatedResponder()
    client = BaseClient(model="benchmark")  # only to build the request dict exactly as the client sends it
    order = np.random.default_rng(args.seed).permutation(len(train))
    k, m = args.n_examples, args.rows_per_call
    answer_schema = rows_json_schema(schema, m, dialect="positional")  # what the figures were measured with
    cost = Cost()

    def count(text: str) -> int | None:
        return tokenizer.count(text) if tokenizer is not None else None

    for call, start in enumerate(range(0, len(order), k)):
        idx = order[start : start + k]
        ours = generator_messages(theta, schema, cast.iloc[idx], n_rows=m)
        request = client.build_request(ours, temperature=0.5, json_schema=answer_schema, seed=args.seed + call)
        answer = responder(request)
        parsed = parse_rows(answer, schema.names)
        accepted = validator.validate(parsed.records).rows
        cost.calls += 1
        cost.accepted += len(accepted)
        # the model's rows, written both ways with the same (default) spacing
        rows = [[r.get(c) for c in schema.names] for r in parsed.records]
        ours_out = json.dumps({"rows": rows}, ensure_ascii=False)
        ref_out = "\n".join(repr(dict(zip(schema.names, row, strict=True))) for row in rows)
        shared = request_text(ours)
        ref = reference_messages(ours[0]["content"], raw_records(cast.iloc[idx]), shared)
        for kind, messages in (("ours_in", ours), ("ref_in", ref)):
            for message in messages:
                cost.add(kind, len(message["content"]), count(message["content"]))
            # the user turn without the request sentences both share: what the serialisation changes
            own = messages[-1]["content"].replace(shared, "", 1)
            cost.add(kind.replace("_in", "_ser"), len(own), count(own))
        schema_text = json.dumps(request["response_format"], ensure_ascii=False)
        cost.add("ours_schema", len(schema_text), count(schema_text))
        cost.add("ours_out", len(ours_out), count(ours_out))
        cost.add("ref_out", len(ref_out), count(ref_out))
        cost.add("ours_ser", len(ours_out), count(ours_out))
        cost.add("ref_ser", len(ref_out), count(ref_out))
        # nothing the prompt needs is lost: our example values are the training values at the schema's precision
        sent = [tuple(r) for r in example_rows(cast.iloc[idx], schema)]
        cost.lossless &= sent == [tuple(r) for r in normalise_frame(cast.iloc[idx], schema)]
    return cost


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    tokenizer, token_note = (None, "skipped (--no-tokens)") if args.no_tokens else open_tokenizer()
    print(
        f"{args.n_examples} examples and {args.rows_per_call} rows per call; tokens: {token_note}; "
        "tiktoken is not used: its wheel carries no BPE files and downloads them on first use"
    )
    char_rows, token_rows, serial_rows, targets = [], [], [], []
    for name, n in DATASETS:
        cost = measure(name, n, args, tokenizer)
        for unit, table, values in (("chars", char_rows, cost.chars), ("tokens", token_rows, cost.tokens)):
            if not values:
                continue
            per = {key: value / max(cost.accepted, 1) for key, value in values.items()}
            ours = per["ours_in"] + per["ours_out"]
            ref = per["ref_in"] + per["ref_out"]
            with_schema = ours + per["ours_schema"]
            table.append(
                (
                    f"{name} N={n}",
                    cost.calls,
                    cost.accepted,
                    per["ref_in"],
                    per["ref_out"],
                    ref,
                    per["ours_in"],
                    per["ours_out"],
                    ours,
                    f"{ours / ref:.2f}x",
                    per["ours_schema"],
                    f"{with_schema / ref:.2f}x",
                )
            )
            targets.append(
                (
                    f"{name} N={n}: {unit} per accepted row <= {TARGET_RATIO}x reference",
                    ours / ref <= TARGET_RATIO,
                    f"{ours / ref:.2f}x",
                )
            )
            serial_rows.append(
                (
                    f"{name} N={n}",
                    unit,
                    per["ref_ser"],
                    per["ours_ser"],
                    f"{per['ours_ser'] / per['ref_ser']:.2f}x",
                    f"{100 * (per['ref_in'] - per['ref_ser'] + per['ref_out']) / ref:.0f}%",
                )
            )
        targets.append(
            (
                f"{name} N={n}: example values lossless at the schema's precision",
                cost.lossless,
                "yes" if cost.lossless else "NO",
            )
        )
    headers = [
        "data",
        "calls",
        "accepted rows",
        "ref in",
        "ref out",
        "ref total",
        "ours in",
        "ours out",
        "ours total",
        "ours / ref",
        "+ answer schema",
        "(ours + schema) / ref",
    ]
    print_table(headers, char_rows, title="Characters per accepted row (input = all message contents)")
    if token_rows:
        print_table(headers, token_rows, title=f"Tokens per accepted row ({token_note})")
    print_table(
        ["data", "unit", "ref", "ours", "ours / ref", "shared text (θ + request) in the ref total"],
        serial_rows,
        title="Per accepted row, only what the serialisation changes (examples block, answer-format sentence, answer)",
    )
    return finish(targets, args.strict)


if __name__ == "__main__":
    sys.exit(main())
