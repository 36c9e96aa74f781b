"""The report's evaluation section: machine-learning efficacy, distance to closest record and fidelity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..runstate import EVALUATION as EVALUATION_FILE
from .html import esc, img, num, section, table
from .plots import dcr_plot


def _efficacy_rows(synthetic: Mapping[str, Any], real: Mapping[str, Any] | None) -> tuple[list[str], list[Any]]:
    metric = synthetic.get("metric") or "f1"
    scores = synthetic.get("scores") or {}
    ref = (real or {}).get("scores") or {}
    metrics = [metric] + [m for m in ("accuracy",) if any(m in s for s in scores.values()) and m != metric]
    head = ["model"] + [f"{m} (synthetic)" for m in metrics] + ([f"{m} (real data)" for m in metrics] if ref else [])
    rows = []
    for model in dict.fromkeys([*scores, *ref]):
        name = esc(model.replace("_", " "))
        if model == synthetic.get("best_model"):
            name += '<span class="tag">best</span>'
        cells = [num((scores.get(model) or {}).get(m)) for m in metrics]
        rows.append([name, *cells, *([num((ref.get(model) or {}).get(m)) for m in metrics] if ref else [])])
    best_row = ["<b>best</b>", f"<b>{num(synthetic.get('best_score'))}</b>", *[""] * (len(metrics) - 1)]
    if ref:
        best_row += [f"<b>{num(real.get('best_score'))}</b>", *[""] * (len(metrics) - 1)]  # type: ignore[union-attr]
    return head, [*rows, best_row]


def _quantile_name(key: str) -> str:
    """``q00`` -> min, ``q50`` -> median, ``q05`` -> 5%."""
    names = {"q00": "min", "q50": "median", "q100": "max"}
    if key in names:
        return names[key]
    return f"{int(key[1:])}%" if key[:1] == "q" and key[1:].isdigit() else esc(key)


def evaluation_section(evaluation: Mapping[str, Any] | None) -> str:
    title = "Evaluation"
    if not evaluation:
        return section(
            "evaluation",
            title,
            "<p>No evaluation was run for this run directory (no "
            f"{EVALUATION_FILE}); <code>mallm-gan evaluate</code> writes one.</p>",
        )
    body = ""
    synthetic = evaluation.get("efficacy") or evaluation.get("mle")
    if isinstance(synthetic, dict) and synthetic.get("scores"):
        real = evaluation.get("reference") or evaluation.get("real")
        head, rows = _efficacy_rows(synthetic, real if isinstance(real, dict) else None)
        body += (
            f"<h3>Machine-learning efficacy</h3><p>Models trained on the synthetic rows (and, for "
            f"reference, on the real training rows), tested on {num(synthetic.get('n_test'))} real held-out "
            f"rows; target {esc(synthetic.get('target'))}.</p>"
            + table(head, rows, range(1, len(head)), ["" for _ in rows[:-1]] + ["total"])
        )
        body += "".join(f'<p class="small muted">{esc(n)}</p>' for n in synthetic.get("notes") or [])
    else:
        body += "<p>No machine-learning efficacy in the evaluation.</p>"
    dcr = evaluation.get("privacy") or evaluation.get("dcr")
    body += "<h3>Distance to closest record</h3>"
    if isinstance(dcr, dict):
        body += (
            f"<p>Exact copies of training rows: <b>{num(dcr.get('exact_copies'))}</b> of "
            f"{num(dcr.get('n_synthetic'))}; of held-out rows: {num(dcr.get('exact_copies_holdout'))}. Share "
            f"of synthetic rows closer to a training row than to any held-out row: "
            f"<b>{num(dcr.get('share_closer_to_train'), 2)}</b> (ties: {num(dcr.get('share_ties'), 2)}; "
            f"{num(dcr.get('n_train'))} training vs {num(dcr.get('n_holdout'))} held-out rows).</p>"
        )
        if isinstance(dcr.get("to_train"), list):
            body += img(dcr_plot(dcr["to_train"], dcr.get("to_holdout")), "DCR histograms")
        quantiles = [(k, dcr.get(k)) for k in ("quantiles_train", "quantiles_holdout") if dcr.get(k)]
        if quantiles:
            keys = list(quantiles[0][1])
            rows = [[label.replace("quantiles_", "to "), *(num(q.get(k), 2) for k in keys)] for label, q in quantiles]
            body += table(["distance", *(_quantile_name(k) for k in keys)], rows, range(1, len(keys) + 1))
        if not isinstance(dcr.get("to_train"), list):
            body += '<p class="small muted">Per-row distances were not saved, so no histogram is drawn.</p>'
    else:
        body += "<p>No distances in the evaluation.</p>"
    quality = evaluation.get("fidelity")
    body += "<h3>Fidelity</h3>"
    if isinstance(quality, dict):
        items = [
            ("overall", "overall"),
            ("column shapes", "shape_score"),
            ("pair trends", "trend_score"),
            ("detection AUC (0.5 = undetectable)", "detection_auc"),
        ]
        body += table([k for k, _ in items], [[num(quality.get(v)) for _, v in items]], range(len(items)))
        shapes = sorted(
            (quality.get("column_shapes") or {}).items(),
            key=lambda kv: (not isinstance(kv[1], (int, float)), kv[1] if isinstance(kv[1], (int, float)) else 0),
        )
        if shapes:
            body += (
                '<p class="small">Column shapes, worst first: '
                + ", ".join(f"{esc(c)} {num(v, 2)}" for c, v in shapes)
                + "</p>"
            )
    else:
        body += "<p>No fidelity scores in the evaluation.</p>"
    return section("evaluation", title, body)


__all__ = ["evaluation_section"]
