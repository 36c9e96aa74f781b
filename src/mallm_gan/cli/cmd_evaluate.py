"""``mallm-gan evaluate``: efficacy, privacy and fidelity of a synthetic CSV against real train/test CSVs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from ..errors import ConfigError
from .app import app, console, handle_errors, setup_logging
from .options import DebugLogging, MetadataFile


def _read(path: Path, label: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"{label} file {path} does not exist") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label} file {path} could not be read as CSV: {exc}") from exc


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_report(report: dict[str, Any]) -> list[Table]:
    """Rich tables for an :meth:`EvaluationReport.to_dict` result."""
    efficacy, reference = report["efficacy"], report["reference"]
    metric = efficacy["metric"]
    mle = Table(title=f"Machine-learning efficacy ({report['task']}, target {report['target']!r})")
    mle.add_column("model")
    extra = ["accuracy"] if metric == "f1" else []
    for name in [metric, *extra]:
        mle.add_column(f"{name} synthetic", justify="right")
    mle.add_column(f"{metric} real", justify="right")
    for model, scores in efficacy["scores"].items():
        best = " (best)" if model == efficacy["best_model"] else ""
        real = reference["scores"].get(model, {}).get(metric)
        mle.add_row(model + best, *[_fmt(scores.get(k)) for k in [metric, *extra]], _fmt(real))
    privacy, quality = report["privacy"], report["fidelity"]
    other = Table(title="Privacy and fidelity")
    other.add_column("measure")
    other.add_column("value", justify="right")
    rows = [
        ("exact copies of training rows", f"{privacy['exact_copies']} of {privacy['n_synthetic']}"),
        ("exact copies of test rows", _fmt(privacy["exact_copies_holdout"])),
        (
            "DCR to train: 5% / median",
            f"{_fmt(privacy['quantiles_train']['q05'])} / {_fmt(privacy['quantiles_train']['q50'])}",
        ),
        (
            "DCR to test: 5% / median",
            f"{_fmt((privacy['quantiles_holdout'] or {}).get('q05'))} / "
            f"{_fmt((privacy['quantiles_holdout'] or {}).get('q50'))}",
        ),
        ("share closer to train than test", _fmt(privacy["share_closer_to_train"])),
        ("column shapes (1 = identical)", _fmt(quality["shape_score"])),
        ("pair trends (1 = identical)", _fmt(quality["trend_score"])),
        ("detection AUC (0.5 = indistinguishable)", _fmt(quality["detection_auc"])),
    ]
    for label, value in rows:
        other.add_row(label, value)
    return [mle, other, *_attack_table(report.get("attacks"), privacy)]


def _attack_table(attacks: dict[str, Any] | None, privacy: dict[str, Any]) -> list[Table]:
    """The privacy attacks, each beside what fresh real rows would score."""
    if not attacks:
        return []
    table = Table(title="Privacy attacks (members: --train; non-members and yardstick: --test)")
    table.add_column("attack")
    table.add_column("value", justify="right")
    table.add_column("no leak", justify="right")
    low, high = attacks["mia_interval"]
    share = privacy.get("share_interval") or [None, None]
    table.add_row("near copies (closer than 95% of test rows come)",
                  f"{attacks['near_copies']} of {attacks['n_synthetic']} ({_fmt(attacks['near_copy_share'], 2)})",
                  "~0.05")
    table.add_row("membership-inference AUC [95% bootstrap]",
                  f"{_fmt(attacks['mia_auc'], 2)} [{_fmt(low, 2)}, {_fmt(high, 2)}]", "0.50")
    table.add_row("share closer to train than test [95% bootstrap]",
                  f"{_fmt(privacy['share_closer_to_train'], 2)} [{_fmt(share[0], 2)}, {_fmt(share[1], 2)}]",
                  "~n_train / (n_train + n_test)")
    table.add_row("NNDR median (test rows' own)", _fmt(attacks["nndr"]["q50"], 2),
                  _fmt(attacks["nndr_holdout"]["q50"], 2))
    attribute = attacks.get("attribute")
    if attribute:
        table.add_row(f"attribute inference of {attribute['column']!r} ({attribute['metric']})",
                      f"{_fmt(attribute['synthetic'], 2)} (advantage {_fmt(attribute['advantage'], 2)})",
                      f"{_fmt(attribute['baseline'], 2)} (attacker with test rows)")
    return [table]


@app.command("evaluate")
@handle_errors
def evaluate_command(
    train: Annotated[Path, typer.Option("--train", help="Real training rows (CSV) the generator learned from.")],
    test: Annotated[Path, typer.Option("--test", help="Real held-out rows (CSV).")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="Synthetic rows (CSV).")],
    target: Annotated[str, typer.Option("--target", help="Target column for machine-learning efficacy.")],
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: from the target).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    metadata: MetadataFile = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the evaluation models and the bootstrap.")] = 0,
    sensitive: Annotated[str | None, typer.Option(
        help="Column the attribute-inference attack guesses (default: the target).")] = None,
    verbose: DebugLogging = False,
) -> None:
    """Evaluate synthetic rows: MLE (train on synthetic, test on real), DCR, privacy attacks and fidelity."""
    setup_logging(verbose)
    from ..evaluation import evaluate
    from ..table.schema import TableSchema

    real_train = _read(train, "--train")
    real_test = _read(test, "--test")
    rows = _read(synthetic, "--synthetic")
    schema = None
    if metadata is not None:
        schema = TableSchema.from_dataframe(real_train, target=target, task=task, metadata=metadata)
    report = evaluate(rows, real_train, real_test, target=target, task=task, schema=schema, random_state=seed,
                      sensitive=sensitive)
    result = report.to_dict()
    for table in render_report(result):
        console.print(table)
    for note in result["efficacy"]["notes"] + result["fidelity"]["notes"]:
        console.print(f"note: {note}", markup=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"report written to {json_out}")
