"""`mallm-gan demo`: the whole method on a bundled example, end to end, with a report."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import runstate
from .app import app, console, handle_errors, setup_logging
from .cmd_fit import progress_callback, write_report
from .options import LLM_HELP, BatchSize, Verbose


def bundled_example(name: str = "asia") -> tuple[dict[str, Any], Any, Any]:
    """The bundled example's description and its train and test tables."""
    from ..table.io import read_table

    folder = resources.files("mallm_gan") / "data"
    meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    with resources.as_file(folder / meta["train"]) as train_path, \
            resources.as_file(folder / meta["test"]) as test_path:
        return meta, read_table(train_path), read_table(test_path)


#: Bundled examples: adult (mixed numbers and categories, where new rows are visible) and asia (0/1 only).
EXAMPLES = ("adult", "asia")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("mallm-gan-demo"),
    llm: Annotated[str | None, typer.Option(
        envvar="MALLM_LLM", help=LLM_HELP + " Default for the demo: the catalogue's demo model.")] = None,
    example: Annotated[str, typer.Option(help=f"Bundled table: {' or '.join(EXAMPLES)}.")] = "adult",
    epochs: Annotated[int, typer.Option(help="Epochs (about 2 minutes on 2 idle CPU cores with the demo model).")] = 1,
    batch_size: BatchSize = 30,
    rows: Annotated[int, typer.Option(help="Synthetic rows to sample at the end.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    verbose: Verbose = False,
) -> None:
    """Fit, sample, evaluate and report on a bundled example (60 training rows), and say what it shows."""
    setup_logging(verbose)
    from ..errors import ConfigError
    from ..llm.models import DEMO_MODEL
    from ..synthesizer import MallmGan

    if example not in EXAMPLES:
        raise ConfigError(f"--example must be one of {list(EXAMPLES)}, got {example!r}")
    started = time.perf_counter()
    meta, train, test = bundled_example(example)
    run_dir = out / "run"
    console.print(f"demo: {meta['name']} ({len(train)} training rows, {len(test)} held-out rows, "
                  f"{train.shape[1]} columns); output in {out}/")
    # an in-process model cannot drop a request it has started: a timeout and a retry would only double its
    # work on a busy machine, so the demo waits longer than a remote call would
    model = MallmGan(llm=llm or f"local:{DEMO_MODEL}", epochs=epochs, batch_size=batch_size, n_examples=5,
                     rows_per_call=5, random_state=seed, timeout=600.0)
    model.fit(train, target=meta["target"], task=meta["task"], context=meta["context"], run_dir=run_dir,
              callbacks=[progress_callback()])
    phases = {"fit": time.perf_counter() - started}
    from ..report.sections import quality_note

    note = quality_note(model.llm_name_ or "", llm or "")
    console.print(f"LLM: {model.llm_name_}")
    if note:
        console.print(f"[yellow]note:[/] {note}")
    synthetic = _sample(model, rows, out, run_dir)
    phases["sample"] = time.perf_counter() - started - phases["fit"]
    _evaluate(synthetic, train, test, meta, run_dir)
    _summarise(model, synthetic, train, test, meta, run_dir, note=note, seed=seed, started=started, phases=phases)


def _sample(model: Any, rows: int, out: Path, run_dir: Path) -> Any:
    """Sample the demo's rows into OUT/synthetic.csv, with the sampling report beside the run."""
    synthetic = model.sample(rows)
    synthetic_path = out / "synthetic.csv"
    synthetic.to_csv(synthetic_path, index=False)
    runstate.atomic_write_json(run_dir / runstate.SAMPLE_REPORT, model.sample_report_.to_dict())
    console.print(f"sampled {len(synthetic)} rows -> {synthetic_path} ({model.sample_report_.summary()})")
    return synthetic


def _summarise(
    model: Any, synthetic: Any, train: Any, test: Any, meta: dict[str, Any], run_dir: Path, *, note: str | None,
    seed: int, started: float, phases: dict[str, float],
) -> None:
    """What the demo shows (new rows, θ's change, efficacy beside SMOTE): saved, reported and printed."""
    from ..report.demo import efficacy_beside_smote, new_rows, summary_lines, theta_change

    schema = model.schema_
    summary = {
        "rows": new_rows(schema.cast(synthetic), model.train_, schema.cast(test[schema.names]), schema),
        "theta": theta_change(model),
        "efficacy": efficacy_beside_smote(synthetic, train, test, schema, seed=seed),
        "llm": model.llm_name_,
        "seconds": round(time.perf_counter() - started, 1),
    }
    true_dag = meta["true_dag"] or None
    runstate.atomic_write_json(run_dir / runstate.DEMO, {
        "dataset": meta["name"], "true_dag": true_dag, "llm": model.llm_name_, "note": note, "summary": summary,
    })
    write_report(run_dir, true_dag=None if true_dag is None else [tuple(e) for e in true_dag])
    for line in summary_lines(summary):
        console.print(line)
    best = model.history_.best()
    total = time.perf_counter() - started
    console.print(
        f"done in {total:.0f} s (fit {phases['fit']:.0f} s, sample {phases['sample']:.0f} s, evaluation and "
        f"report {total - phases['fit'] - phases['sample']:.0f} s): best θ from iteration {best.iteration + 1}, "
        f"re-scored discriminator accuracy {best.score:.3f} (0.5 = indistinguishable)"
    )


def _evaluate(synthetic: Any, train: Any, test: Any, meta: dict[str, Any], run_dir: Path) -> None:
    from ..evaluation import evaluate, to_jsonable
    from ..runstate import atomic_write_json

    report = evaluate(synthetic, train, test, target=meta["target"], task=meta["task"])
    data = report.to_dict()
    # keep the per-row distances so the report can draw the DCR histograms
    data["privacy"] = to_jsonable(report.privacy.to_dict(rows=True))
    atomic_write_json(run_dir / runstate.EVALUATION, data)
    efficacy, reference = data["efficacy"], data["reference"]
    console.print(
        f"machine-learning efficacy (train on synthetic, test on 200 real rows): best {efficacy['best_model']} "
        f"{efficacy['best_score']:.3f}; the same models trained on the real rows: {reference['best_score']:.3f}"
    )
    privacy = data["privacy"]
    console.print(
        f"privacy: {privacy.get('exact_copies')} synthetic rows equal a training row (allowed only for rows "
        f"shared by >= 2 people); share closer to train than to holdout: {privacy.get('share_closer_to_train')}"
    )
