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
from .cmd_fit import LLM_HELP, _progress_callback, write_report


def bundled_example(name: str = "asia") -> tuple[dict[str, Any], Any, Any]:
    """The bundled example's description and its train and test tables."""
    from ..table.io import read_table

    folder = resources.files("mallm_gan") / "data"
    meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    with resources.as_file(folder / meta["train"]) as train_path, \
            resources.as_file(folder / meta["test"]) as test_path:
        return meta, read_table(train_path), read_table(test_path)


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("mallm-gan-demo"),
    llm: Annotated[str | None, typer.Option(envvar="MALLM_LLM", help=LLM_HELP)] = None,
    epochs: Annotated[int, typer.Option(help="Epochs (sized for about 2 minutes on 2 CPU cores).")] = 1,
    batch_size: Annotated[int, typer.Option(help="Real rows per iteration.")] = 20,
    rows: Annotated[int, typer.Option(help="Synthetic rows to sample at the end.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fit, sample, evaluate and report on the bundled asia example (60 training rows)."""
    setup_logging(verbose)
    from ..runstate import atomic_write_json
    from ..synthesizer import MallmGan

    started = time.perf_counter()
    meta, train, test = bundled_example("asia")
    run_dir = out / "run"
    console.print(f"demo: {meta['name']} ({len(train)} training rows, {len(test)} held-out rows, "
                  f"{train.shape[1]} columns); output in {out}/")
    model = MallmGan(llm=llm, epochs=epochs, batch_size=batch_size, n_examples=5, rows_per_call=5,
                     random_state=seed)
    state: dict[str, Any] = {"model": model}
    model.fit(train, target=meta["target"], task=meta["task"], context=meta["context"], run_dir=run_dir,
              callbacks=[_progress_callback(state)])
    from ..report.sections import quality_note

    note = quality_note(model.llm_name_ or "", llm or "")
    console.print(f"LLM: {model.llm_name_}")
    if note:
        console.print(f"[yellow]note:[/] {note}")
    synthetic = model.sample(rows)
    synthetic_path = out / "synthetic.csv"
    synthetic.to_csv(synthetic_path, index=False)
    atomic_write_json(run_dir / runstate.SAMPLE_REPORT, model.sample_report_.to_dict())
    console.print(f"sampled {len(synthetic)} rows -> {synthetic_path} ({model.sample_report_.summary()})")
    _evaluate(synthetic, train, test, meta, run_dir)
    atomic_write_json(run_dir / runstate.DEMO, {"dataset": meta["name"], "true_dag": meta["true_dag"],
                                              "llm": model.llm_name_, "note": note})
    write_report(run_dir, true_dag=[tuple(e) for e in meta["true_dag"]])
    best = model.history_.best()
    console.print(
        f"done in {time.perf_counter() - started:.0f} s: best θ from iteration {best.iteration + 1}, "
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
