"""Privacy of the default output: near copies and membership inference, beside utility (issue 16, "Measure").

For each output this prints the near-copy share, the membership-inference AUC, the DCR share and the MLE:

- ``mallm-gan fit`` + ``mallm-gan sample --rows 100`` on insurance N=100 with default settings, against a
  memorising stand-in (the fake OpenAI-compatible server playing a model that answers half its rows with an
  example row whose numbers are moved by < 0.5%; the other rows and the optimizer answers come from the
  statistical ``simulated`` responder): once with the release gate (default), once with ``--release-gate off``,
  and once against the simulated responder alone (no memorising), which separates the gate's own price from
  the loss of the copied rows;
- the same default commands with the real embedded model (``--real``; SmolLM2-135M, slow on 2 cores);
- SMOTE and the Gaussian copula on insurance and adult N=100 (TVAE only where the ``gan`` extra is installed);
- 100 real held-out rows, for reference.

The paper's test split (200 rows) is cut in two: the first 100 rows are the "real held-out rows" output, the
last 100 are the non-members and the yardstick of every privacy figure. MLE is the best model's R2 (insurance)
or F1 (adult) on all 200 test rows, as in the paper.

Every privacy figure is computed twice: by the library (``mallm_gan.evaluation.privacy_attacks``, with 95%
bootstrap intervals) and by an **independent check** written here in plain pandas/numpy (standardised L1 with
pandas' sample standard deviation, a category mismatch counts 1, no project code): a near copy is a
synthetic row closer to a training record than 95% of the held-out rows come to one, and the attack scores
each real person by minus the distance to the closest synthetic row (AUC by scikit-learn). With
``--syntheval`` the SynthEval package (a benchmark-only dependency) adds its own NNDR and median-DCR ratio.

Usage::

    python benchmarks/privacy.py                       # fake server + baselines + real reference
    python benchmarks/privacy.py --real --real-epochs 1 --syntheval
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
TARGETS = {"insurance": "charges", "adult": "Income"}


# -- the independent check: plain code, no project distance --------------------------------------------------
def plain_distances(a: pd.DataFrame, b: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """|a| x |b| matrix: numbers |x - y| / train std (ddof=1), other columns 1 when the text differs."""
    total = np.zeros((len(a), len(b)))
    for col in train.columns:
        if pd.api.types.is_numeric_dtype(train[col]):
            std = float(train[col].std()) or 1.0
            x = pd.to_numeric(a[col], errors="coerce").to_numpy(float)[:, None]
            y = pd.to_numeric(b[col], errors="coerce").to_numpy(float)[None, :]
            diff = np.abs(x - y) / std
            total += np.where(np.isnan(diff), 1.0, diff)
        else:
            x = a[col].astype(str).str.strip().to_numpy()[:, None]
            y = b[col].astype(str).str.strip().to_numpy()[None, :]
            total += x != y
    return total


def independent_check(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    holdout_to_train = plain_distances(holdout, train, train).min(axis=1)
    threshold = float(np.quantile(holdout_to_train, 0.05))
    syn_to_train = plain_distances(synthetic, train, train).min(axis=1)
    near = (syn_to_train < threshold) | (syn_to_train == 0)
    member = plain_distances(train, synthetic, train).min(axis=1)
    outsider = plain_distances(holdout, synthetic, train).min(axis=1)
    labels = np.r_[np.ones(len(member)), np.zeros(len(outsider))]
    auc = float(roc_auc_score(labels, -np.r_[member, outsider]))
    return {"near_copy_share": float(near.mean()), "mia_auc": auc, "exact_copies": int((syn_to_train == 0).sum())}


# -- the library's figures ----------------------------------------------------------------------------------
def library_figures(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, test: pd.DataFrame,
                    target: str, mle: bool) -> dict[str, Any]:
    from mallm_gan.evaluation import distance_to_closest_record, evaluate_efficacy, privacy_attacks
    from mallm_gan.table.schema import TableSchema

    schema = TableSchema.from_dataframe(train, target=target)
    attacks = privacy_attacks(synthetic, train, holdout, schema)
    dcr = distance_to_closest_record(synthetic, train, holdout, schema)
    out = {
        "near_copy_share": attacks.near_copy_share,
        "mia_auc": attacks.mia_auc,
        "mia_interval": list(attacks.mia_interval),
        "dcr_share": dcr.share_closer_to_train,
        "dcr_interval": list(dcr.share_interval or (float("nan"), float("nan"))),
        "nndr_median": attacks.nndr["q50"],
        "exact_copies": attacks.exact_copies,
        "mle": None,
    }
    if mle:
        out["mle"] = float(evaluate_efficacy(synthetic, test, target=target, schema=schema).best_score)
    return out


def syntheval_figures(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, target: str) -> dict:
    cats = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]
    frames = [f[train.columns].copy() for f in (train, holdout, synthetic)]
    for frame in frames:
        for col in train.columns:
            if col not in cats:
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:  # SynthEval writes a config file into the working directory
        os.chdir(scratch)
        try:
            try:
                from syntheval import SynthEval
            except ImportError:
                return {"syntheval": "not installed (pip install syntheval)"}
            evaluator = SynthEval(frames[0], holdout_dataframe=frames[1], cat_cols=cats, verbose=False,
                                  console="off", enable_plots=False, show_warnings=False)
            evaluator.evaluate(frames[2], target, nndr={}, dcr={})
        finally:
            os.chdir(here)
    raw = evaluator._raw_results
    return {"syntheval_nndr_avg": raw["nndr"]["avg"], "syntheval_mdcr": raw["dcr"]["mDCR"]}


# -- outputs ----------------------------------------------------------------------------------------------
def cli(*args: Any) -> list[str]:
    return [sys.executable, "-c", "from mallm_gan.cli import main; main()", *map(str, args)]


def run(command: list[str], log: Path) -> float:
    shown = "mallm-gan " + " ".join(shlex.quote(str(a)) for a in command[3:])
    print(f"$ {shown}", flush=True)
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {shown}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=os.environ | {"NO_COLOR": "1"})
    if result.returncode:
        sys.exit(f"command failed ({result.returncode}), see {log}: {shown}")
    return time.perf_counter() - started


def mallm_gan_output(train_csv: Path, target: str, llm: str, out: Path, seed: int, extra: list[str]) -> pd.DataFrame:
    shutil.rmtree(out, ignore_errors=True)  # a run directory left from before would be resumed, not refitted
    out.mkdir(parents=True)
    log = out / "commands.log"
    run(cli("fit", train_csv, "--target", target, "--llm", llm, "--seed", seed, "--out", out / "run",
            "--no-report", *extra), log)
    run(cli("sample", out / "run", "--rows", 100, "--out", out / "synthetic.csv"), log)
    return pd.read_csv(out / "synthetic.csv")


def fake_outputs(args: argparse.Namespace, work: Path) -> dict[str, pd.DataFrame]:
    from mallm_gan.testing.fake_server import FakeOpenAIServer
    from mallm_gan.testing.responders import MemorisingResponder
    from mallm_gan.testing.simulated import SimulatedResponder

    train_csv = DATA / "insurance" / "splits" / "n100" / "train.csv"
    outputs = {}
    plans = [
        ("memorising stand-in, default (gate auto)", MemorisingResponder, []),
        ("memorising stand-in, --release-gate off", MemorisingResponder, ["--release-gate", "off"]),
        ("simulated responder alone, default", SimulatedResponder, []),
    ]
    for seed in args.seeds:
        for label, kind, extra in plans:
            responder = MemorisingResponder(seed=seed) if kind is MemorisingResponder else SimulatedResponder()
            with FakeOpenAIServer(responder) as server:
                slug = f"fake{len(outputs)}"
                outputs[f"{label}, seed {seed}"] = mallm_gan_output(
                    train_csv, "charges", f"openai:fake@{server.url}", work / slug, seed, extra)
    return outputs


def real_model_output(args: argparse.Namespace, work: Path) -> dict[str, pd.DataFrame]:
    train_csv = DATA / "insurance" / "splits" / "n100" / "train.csv"
    extra = ["--epochs", str(args.real_epochs)] if args.real_epochs != 5 else []
    label = f"SmolLM2-135M (local:smollm2-135m), default{' but --epochs ' + str(args.real_epochs) if extra else ''}"
    return {label: mallm_gan_output(train_csv, "charges", "local:smollm2-135m", work / "real", args.seed, extra)}


def baseline_outputs(dataset: str, train: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    from mallm_gan.baselines import MissingExtraError, make_baseline
    from mallm_gan.table.schema import TableSchema

    schema = TableSchema.from_dataframe(train, target=TARGETS[dataset])
    outputs: dict[str, pd.DataFrame] = {}
    for name in ("smote", "gaussian-copula", "tvae"):
        try:
            outputs[name] = make_baseline(name, random_state=seed).fit(train, schema).sample(100)
        except MissingExtraError as exc:
            print(f"{dataset} {name}: not run ({exc.message})")
    return outputs


# -- table ------------------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_rows(rows: list[dict[str, Any]]) -> None:
    head = ["dataset", "output", "near copies (ind.)", "near copies", "MIA AUC (ind.)", "MIA AUC [95%]",
            "DCR share [95%]", "exact", "MLE"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        lib, ind = r["library"], r["independent"]
        cells = [r["dataset"], r["output"], f"{ind['near_copy_share']:.0%}", f"{lib['near_copy_share']:.0%}",
                 fmt(ind["mia_auc"]), f"{fmt(lib['mia_auc'])} [{fmt(lib['mia_interval'][0])}, "
                 f"{fmt(lib['mia_interval'][1])}]", f"{fmt(lib['dcr_share'])} [{fmt(lib['dcr_interval'][0])}, "
                 f"{fmt(lib['dcr_interval'][1])}]", str(lib["exact_copies"]), fmt(lib["mle"], 3)]
        print("| " + " | ".join(cells) + " |")


def print_means(rows: list[dict[str, Any]]) -> None:
    """Mean over seeds of the rows that differ only in their seed."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if ", seed " in r["output"]:
            groups.setdefault(r["output"].rsplit(", seed ", 1)[0], []).append(r)
    if not groups:
        return
    print("\n| output (mean over seeds) | seeds | near copies (ind.) | MIA AUC (ind.) | DCR share | MLE |")
    print("|---|---|---|---|---|---|")
    for label, group in groups.items():
        def mean(part: str, key: str, group: list[dict[str, Any]] = group) -> float:
            return float(np.mean([g[part][key] for g in group]))
        print(f"| {label} | {len(group)} | {mean('independent', 'near_copy_share'):.0%} | "
              f"{mean('independent', 'mia_auc'):.2f} | {mean('library', 'dcr_share'):.2f} | "
              f"{mean('library', 'mle'):.3f} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the real-model run and the baselines")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the fake-server runs")
    parser.add_argument("--real", action="store_true", help="also run the real embedded model (slow)")
    parser.add_argument("--real-epochs", type=int, default=5, help="epochs of the real-model fit (default 5)")
    parser.add_argument("--skip-fake", action="store_true", help="skip the fake-server runs")
    parser.add_argument("--syntheval", action="store_true", help="add SynthEval's NNDR and median DCR ratio")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data directory (default ../shared/data)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mallm-gan-privacy",
                        help="where run directories and synthetic CSVs go (default: a folder in the temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    global DATA
    DATA = args.data
    if not (DATA / "datasets.json").exists():
        sys.exit(f"data directory {DATA.resolve()} not found (expected ../shared/data beside the repo, or --data)")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    rows = []
    for dataset in ("insurance", "adult"):
        split = DATA / dataset / "splits" / "n100"
        train, test = pd.read_csv(split / "train.csv"), pd.read_csv(split / "test.csv")
        reference, holdout = test.iloc[:100].reset_index(drop=True), test.iloc[100:].reset_index(drop=True)
        outputs: dict[str, pd.DataFrame] = {}
        if dataset == "insurance":
            if not args.skip_fake:
                outputs.update(fake_outputs(args, args.work))
            if args.real:
                outputs.update(real_model_output(args, args.work))
        outputs.update(baseline_outputs(dataset, train, args.seed))
        outputs["real training rows (MLE reference)"] = train
        outputs["100 real held-out rows, for reference"] = reference
        for label, synthetic in outputs.items():
            row = {"dataset": dataset, "output": label,
                   "independent": independent_check(synthetic[train.columns], train, holdout),
                   "library": library_figures(synthetic, train, holdout, test, TARGETS[dataset],
                                              mle="held-out" not in label)}
            if args.syntheval:
                row["library"].update(syntheval_figures(synthetic, train, holdout, TARGETS[dataset]))
            rows.append(row)
    print_rows(rows)
    print_means(rows)
    if args.syntheval:
        print("\n| dataset | output | NNDR median (ours) | SynthEval NNDR mean | SynthEval median DCR ratio |")
        print("|---|---|---|---|---|")
        for r in rows:
            lib = r["library"]
            print(f"| {r['dataset']} | {r['output']} | {fmt(lib['nndr_median'])} | "
                  f"{fmt(lib.get('syntheval_nndr_avg'))} | {fmt(lib.get('syntheval_mdcr'))} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
