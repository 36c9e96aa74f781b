"""`mallm-gan fit` and `mallm-gan sample`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import runstate
from ..errors import ConfigError
from .app import app, console, handle_errors, setup_logging
from .options import LLM_HELP, BatchSize, MaxConcurrency, MetadataFile, Verbose

# fit's and sample's own options whose declaration does not fit on one line
OptimizerLlm = Annotated[str | None, typer.Option(
    envvar="MALLM_OPTIMIZER_LLM", help="A different LLM for the optimizer.")]
Optimize = Annotated[bool, typer.Option(
    help="Run the adversarial loop; --no-optimize keeps the starting θ (the few-shot ablation).")]
Selection = Annotated[str, typer.Option(
    help="significant (a later θ must score lower by 2 standard errors) or lowest (the paper's rule).")]
ReleaseGate = Annotated[str, typer.Option(
    help="off, auto (threshold calibrated on the training rows) or a distance: reject rows closer than it "
         "to a record that occurs fewer than --copy-k times.")]
Fresh = Annotated[bool, typer.Option(help="Start over in --out, discarding its checkpoint, instead of resuming it.")]
Feedback = Annotated[bool, typer.Option(
    help="Tell the optimizer why the best θ's rows were caught (aggregates only, never a real row).")]
OptimizerForm = Annotated[str | None, typer.Option(
    help="dag (whole structure) or edits (add/remove/reverse); default: the form measured for the model.")]
Candidates = Annotated[int, typer.Option(help="Candidate θ per optimizer step, asked at once; 1 = paper.")]
Constraint = Annotated[list[str] | None, typer.Option(
    "--constraint", help='A rule every row obeys, e.g. "discharge_date >= admission_date" (repeatable).')]
AllowViolations = Annotated[bool, typer.Option(
    help="Keep a rule that some training rows break (it still binds generated rows).")]
Where = Annotated[list[str] | None, typer.Option(
    help='Structured condition, repeatable: "sex=female", "age>65", "region in north|south".')]
SavedLocalOnly = Annotated[bool | None, typer.Option(
    "--local-only/--no-local-only",
    help="Refuse endpoints off this machine (default: as saved by fit; --no-local-only lifts it).")]
SavedMaxExposure = Annotated[int | None, typer.Option(
    help="Most prompts one real row may appear in, counting fit's (default: as saved).")]


def _read_dag(value: str | None) -> Any:
    if value is None or value in ("hill-climb", "none"):
        return value or "hill-climb"
    if not Path(value).is_file():
        raise ConfigError(f"--dag must be 'hill-climb', 'none' or a JSON file of [parent, child] edges; "
                          f"{value} is neither")
    from ..theta.edges import read_edges

    return read_edges(Path(value), what="--dag file")


def progress_callback() -> Any:
    """The ``fit`` progress lines: where rows go, then one line per iteration and how the run stopped."""

    def callback(event: str, info: dict[str, Any]) -> None:
        if event == "start":
            console.print(f"real rows will be sent to: [bold]{info['endpoint']}[/]")
            if info["optimizer"] != info["endpoint"]:
                console.print(f"optimizer: {info['optimizer']}")
            if info["done"]:
                console.print(f"resuming: {info['done']} of {info['iterations']} iterations already done")
            else:
                console.print(f"{info['iterations']} iterations on {info['rows']} rows")
        elif event == "iteration":
            entry, best = info["entry"], info["best"]
            report = entry.report
            console.print(
                f"iteration {entry.iteration + 1}/{info['total']} (epoch {entry.epoch + 1}): "
                f"score {entry.raw_score:.3f} (best θ: iteration {best.iteration + 1}, re-scored {best.score:.3f}); "
                f"rows accepted "
                f"{report.get('accepted', 0)}, rejected {report.get('rejected', 0)}; "
                f"{entry.calls} calls, {sum(entry.tokens.values())} tokens, {entry.seconds:.1f} s"
                + (f"; next θ: {info['next_origin']}" if entry.iteration + 1 < info["total"] else "")
            )
        elif event == "end" and info.get("stopped"):
            console.print(f"[yellow]{info['stopped']}[/]")

    return callback


@app.command()
@handle_errors
def fit(
    data: Annotated[Path, typer.Argument(help="Training table (CSV; ; or tab separated is detected).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (model.json, checkpoint, cache).")],
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression (inferred).")] = None,
    context: Annotated[str | None, typer.Option(help="What the data is, in a sentence or two.")] = None,
    context_file: Annotated[Path | None, typer.Option(help="Read the context from a file.")] = None,
    metadata: MetadataFile = None,
    llm: Annotated[str | None, typer.Option(envvar="MALLM_LLM", help=LLM_HELP)] = None,
    optimizer_llm: OptimizerLlm = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training rows.")] = 5,
    optimize: Optimize = True,
    batch_size: BatchSize = 50,
    n_examples: Annotated[int, typer.Option(help="Example rows per generator call.")] = 5,
    rows_per_call: Annotated[int, typer.Option(help="Rows asked for per generator call.")] = 5,
    seed: Annotated[int | None, typer.Option(help="Random seed (drawn and saved when omitted).")] = None,
    dag: Annotated[str | None, typer.Option(help="hill-climb, none, or a JSON file of edges.")] = None,
    theta: Annotated[Path | None, typer.Option(help="Start from a θ JSON (context, dag, instruction).")] = None,
    discriminator: Annotated[str, typer.Option(help="logistic or xgboost.")] = "logistic",
    patience: Annotated[int | None, typer.Option(help="Stop after N iterations without a new best θ.")] = None,
    selection: Selection = "significant",
    copy_policy: Annotated[str, typer.Option(help="k, never or allow (see README).")] = "k",
    copy_k: Annotated[int, typer.Option(help="A training row may be reproduced if it occurs >= k times.")] = 2,
    release_gate: ReleaseGate = "auto",
    dcr_threshold: Annotated[float | None, typer.Option(help="Same as --release-gate VALUE.")] = None,
    max_exposure: Annotated[int | None, typer.Option(help="Most prompts any one real row may appear in.")] = None,
    max_concurrency: MaxConcurrency = None,
    max_calls: Annotated[int | None, typer.Option(help="Stop cleanly after this many LLM calls.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Stop cleanly after this many tokens.")] = None,
    max_prompt_tokens: Annotated[int, typer.Option(help="Refuse prompts estimated above this.")] = 6000,
    timeout: Annotated[float, typer.Option(help="Seconds per LLM request.")] = 120.0,
    local_only: Annotated[bool, typer.Option(help="Refuse endpoints off this machine.")] = False,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    fresh: Fresh = False,
    feedback: Feedback = False,
    optimizer_form: OptimizerForm = None,
    candidates: Candidates = 1,
    verbose: Verbose = False,
    constraint: Constraint = None,
    allow_violations: AllowViolations = False,
) -> None:
    """Fit θ on a table with the adversarial loop; writes RUN_DIR/model.json."""
    setup_logging(verbose)
    from ..synthesizer import MallmGan

    frame, context, start_theta = _fit_inputs(data, context, context_file, theta)
    model = MallmGan(
        llm=llm, optimizer_llm=optimizer_llm, discriminator=discriminator, epochs=epochs, optimize=optimize,
        batch_size=batch_size, n_examples=n_examples, rows_per_call=rows_per_call, top_k=3,
        max_concurrency=max_concurrency, patience=patience, selection=selection, copy_policy=copy_policy,
        copy_k=copy_k, dcr_threshold=dcr_threshold, release_gate=release_gate, max_exposure=max_exposure,
        random_state=seed, max_calls=max_calls, max_tokens=max_tokens, max_prompt_tokens=max_prompt_tokens,
        local_only=local_only, timeout=timeout, optimizer_feedback=feedback, optimizer_form=optimizer_form,
        optimizer_candidates=candidates, constraints=constraint or None, allow_violations=allow_violations,
    )
    model.fit(frame, target=target, task=task, context=context, metadata=metadata, dag=_read_dag(dag),
              theta=start_theta, run_dir=out, fresh=fresh, callbacks=[progress_callback()])
    _finish_fit(model, out, report=report)


def _fit_inputs(data: Path, context: str | None, context_file: Path | None, theta: Path | None) -> tuple[Any, str, Any]:
    """The training table, the context text (from --context or --context-file) and the starting θ, if any."""
    from ..table.io import read_table
    from ..theta.process import DataGenerationProcess

    if context is not None and context_file is not None:
        raise ConfigError("give --context or --context-file, not both")
    if context_file is not None:
        if not context_file.is_file():
            raise ConfigError(f"--context-file {context_file} does not exist")
        context = context_file.read_text(encoding="utf-8").strip()
    frame = read_table(data)
    start_theta = None
    if theta is not None:
        start_theta = DataGenerationProcess.from_dict(runstate.read_json(theta))
    return frame, context or "", start_theta


def _finish_fit(model: Any, out: Path, *, report: bool) -> None:
    """Say what the fit found (the best θ, or that none was sought), its privacy and where the model went;
    write the report when asked."""
    if model.history_.entries:
        best = model.history_.best()
        console.print(f"best θ: iteration {best.iteration + 1}, re-scored accuracy {best.score:.3f}")
    else:
        console.print("θ not optimised (--no-optimize): sampling uses the starting θ")
    print_privacy(model)
    console.print(f"model written to {out / runstate.MODEL} (it contains real training rows)")
    if report:
        write_report(out)


def print_privacy(model: Any) -> None:
    """The release gate's threshold, where it came from and what it rejected, and the rows' exposure."""
    from ..gan.exposure import privacy_state

    state = privacy_state(model)
    gate, exposure = state["release_gate"] or {}, state["exposure"] or {}
    if gate.get("threshold") is None:
        console.print(f"release gate: {gate.get('source', 'off')}", markup=False)
    else:
        rejected = gate.get("rejected") or {}
        console.print(
            f"release gate: threshold {gate['threshold']:.3f} ({gate['source']}); near copies rejected: "
            f"fit {rejected.get('fit', 0)}, sample {rejected.get('sample', 0)}", markup=False,
        )
    for endpoint, info in (exposure.get("endpoints") or {}).items():
        console.print(
            f"exposure: {info['rows_sent']} real rows in {info['prompts']} prompts to {endpoint}; "
            f"most prompts for one row: {info['max_row_exposure']}"
            + (f" (cap {exposure['max_exposure']})" if exposure.get("max_exposure") else ""), markup=False,
        )


def write_report(run_dir: Path, *, true_dag: Any = None) -> Path | None:
    """Write RUN_DIR/report.html; a missing report extra is a note, not a failure of the run."""
    from ..errors import ConfigError
    from ..report.page import write_report as _write

    try:
        path = _write(run_dir, true_dag=true_dag)
    except ConfigError as exc:
        console.print(f"no report written: {exc.message}")
        return None
    console.print(f"report: {path}")
    return path


@app.command()
@handle_errors
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `fit` (or a model.json).")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="Rows to generate.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output CSV.")] = Path("synthetic.csv"),
    where: Where = None,
    condition: Annotated[str | None, typer.Option(help="Free-text condition put in the prompt.")] = None,
    llm: Annotated[str | None, typer.Option(help="Sample with another LLM than the fitted one.")] = None,
    max_concurrency: MaxConcurrency = None,
    max_calls: Annotated[int | None, typer.Option(help="Stop after this many LLM calls.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Stop after this many tokens.")] = None,
    local_only: SavedLocalOnly = None,
    release_gate: Annotated[str | None, typer.Option(help="off, auto or a distance (default: as saved).")] = None,
    max_exposure: SavedMaxExposure = None,
    verbose: Verbose = False,
) -> None:
    """Generate rows from a fitted model; structured conditions are verified on every row."""
    setup_logging(verbose)
    from ..synthesizer import MallmGan
    from ..table.conditions import Conditions

    # a budget given to `fit` was for fitting: sampling has its own (none unless given here)
    model = MallmGan.load(run_dir, max_calls=max_calls, max_tokens=max_tokens)
    _override_saved(model, llm=llm or None, local_only=local_only, release_gate=release_gate,
                    max_exposure=max_exposure, max_concurrency=max_concurrency)
    conditions = Conditions.from_where(where or [], model.schema_)
    if conditions:
        console.print(f"conditions: {conditions.describe()}")
    written = _write_sample(model, rows, out, run_dir, conditions=conditions, instruction=condition)
    report = model.sample_report_
    console.print(f"{written} rows written to {out}; {report.summary()}")
    print_privacy(model)
    _record_exposure(model, run_dir)


def _override_saved(model: Any, **values: Any) -> None:
    """Replace the saved settings that a flag names (``None``: keep); a privacy setting's change is said out loud."""
    for name, value in values.items():
        if value is None or value == getattr(model, name):
            continue
        if name != "max_concurrency":
            console.print(f"overriding the saved {name}={getattr(model, name)!r} with {value!r}", markup=False)
        model.set_params(**{name: value})
    if values.get("release_gate") is not None:
        model.set_params(dcr_threshold=None)  # a gate named here replaces the saved one in either spelling


def _write_sample(model: Any, rows: int, out: Path, run_dir: Path, **options: Any) -> int:
    """Stream the sampled rows to OUT (via OUT.partial) and return how many were written.

    On a failure the rows produced so far are kept in OUT.partial (and said so), the exposure so far is
    recorded, and the error propagates; a sample of no rows still writes the header.
    """
    partial = out.with_name(out.name + ".partial")
    written = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            def announce(event: str, info: dict[str, Any]) -> None:
                if event == "start":
                    console.print(f"real rows will be sent to: [bold]{info['endpoint']}[/]")

            for i, frame in enumerate(model.iter_sample(rows, callbacks=[announce], **options)):
                frame.to_csv(handle, header=(i == 0), index=False)
                handle.flush()
                written += len(frame)
    except BaseException:
        _record_exposure(model, run_dir)
        if written:
            console.print(f"[yellow]{written} rows produced before the failure are kept in {partial}[/]")
        else:
            partial.unlink(missing_ok=True)
        raise
    if written == 0:
        partial.write_text(",".join(f'"{n}"' for n in model.schema_.names) + "\n", encoding="utf-8")
    os.replace(partial, out)
    return written


def _record_exposure(model: Any, run_dir: Path) -> None:
    """Add this sampling's exposure (and gate rejections) to the saved model's record."""
    from ..gan.exposure import record_sampling

    target = run_dir / runstate.MODEL if run_dir.is_dir() else run_dir
    if target.is_file() and getattr(model, "exposure_", None) is not None:
        record_sampling(model, target)
        console.print(f"exposure recorded in {target}")
