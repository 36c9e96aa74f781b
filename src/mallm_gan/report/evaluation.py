"""The report's evaluation and privacy sections: machine-learning efficacy, distance to closest record, the
privacy attacks and fidelity; the release gate's threshold and rejections and the rows' exposure."""

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
    body = _efficacy_html(evaluation)
    body += _dcr_html(evaluation.get("privacy") or evaluation.get("dcr"))
    body += _attacks_html(evaluation.get("attacks"))
    body += _fidelity_html(evaluation.get("fidelity"))
    return section("evaluation", title, body)


def _efficacy_html(evaluation: Mapping[str, Any]) -> str:
    """The efficacy table: each model's score on synthetic rows beside its score on the real rows."""
    synthetic = evaluation.get("efficacy") or evaluation.get("mle")
    if not (isinstance(synthetic, dict) and synthetic.get("scores")):
        return "<p>No machine-learning efficacy in the evaluation.</p>"
    real = evaluation.get("reference") or evaluation.get("real")
    head, rows = _efficacy_rows(synthetic, real if isinstance(real, dict) else None)
    body = (
        f"<h3>Machine-learning efficacy</h3><p>Models trained on the synthetic rows (and, for "
        f"reference, on the real training rows), tested on {num(synthetic.get('n_test'))} real held-out "
        f"rows; target {esc(synthetic.get('target'))}.</p>"
        + table(head, rows, range(1, len(head)), ["" for _ in rows[:-1]] + ["total"])
    )
    return body + "".join(f'<p class="small muted">{esc(n)}</p>' for n in synthetic.get("notes") or [])


def _dcr_html(dcr: Any) -> str:
    """Exact copies, the share closer to training rows, the histograms and the distance quantiles."""
    body = "<h3>Distance to closest record</h3>"
    if not isinstance(dcr, dict):
        return body + "<p>No distances in the evaluation.</p>"
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
    return body


def _fidelity_html(quality: Any) -> str:
    """The fidelity scores and the column shapes, worst first."""
    body = "<h3>Fidelity</h3>"
    if not isinstance(quality, dict):
        return body + "<p>No fidelity scores in the evaluation.</p>"
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
    return body


def _interval(value: Any, bounds: Any) -> str:
    if isinstance(bounds, list) and len(bounds) == 2:
        return f"<b>{num(value, 2)}</b> [{num(bounds[0], 2)}, {num(bounds[1], 2)}]"
    return f"<b>{num(value, 2)}</b>"


def _attacks_html(attacks: Any) -> str:
    """Near copies, NNDR, membership and attribute inference, with what fresh real rows would score."""
    body = "<h3>Privacy attacks</h3>"
    if not isinstance(attacks, dict):
        return body + "<p>No privacy attacks in this evaluation (it predates them).</p>"
    share = attacks.get("near_copy_share")
    rows = [
        ["near copies (closer to a training record than 95% of held-out rows come)",
         f"<b>{num(attacks.get('near_copies'))}</b> of {num(attacks.get('n_synthetic'))} "
         f"({num(share * 100 if isinstance(share, float) else None, 0)}%)", "about 5%"],
        ["membership-inference AUC (distance to the closest synthetic row) [95% bootstrap]",
         _interval(attacks.get("mia_auc"), attacks.get("mia_interval")), "0.50"],
        ["NNDR, median (nearest / second-nearest training record)", num((attacks.get("nndr") or {}).get("q50"), 2),
         num((attacks.get("nndr_holdout") or {}).get("q50"), 2) + " (held-out rows)"],
    ]
    attribute = attacks.get("attribute")
    if isinstance(attribute, dict):
        label = "accuracy" if attribute.get("metric") == "accuracy" else "mean error, in spreads"
        rows.append([f"attribute inference of {esc(attribute.get('column'))} from the other columns ({label})",
                     f"<b>{num(attribute.get('synthetic'), 2)}</b> (advantage {num(attribute.get('advantage'), 2)})",
                     f"{num(attribute.get('baseline'), 2)} (attacker holding held-out rows)"])
    body += table(["attack", "this table", "no leak"], rows, (1, 2))
    return body + (
        f'<p class="small muted">{num(attacks.get("n_members"))} training rows are the members and '
        f"{num(attacks.get('n_non_members'))} held-out rows the non-members; an AUC interval that contains 0.5 "
        "shows no membership signal at this size.</p>"
    )


def privacy_section(privacy: Mapping[str, Any] | None) -> str:
    """The release gate (threshold, its source, rejections) and how often real rows went into prompts."""
    title = "Privacy: release gate and exposure"
    if not isinstance(privacy, dict) or not (privacy.get("release_gate") or privacy.get("exposure")):
        return section("privacy", title, "<p>This run predates the release gate and exposure records.</p>")
    gate = privacy.get("release_gate") or {}
    rejected = gate.get("rejected") or {}
    if gate.get("threshold") is None:
        body = f"<p>Release gate: {esc(gate.get('source', 'off'))}.</p>"
    else:
        body = (
            f"<p>Release gate: a generated row closer than <b>{num(gate.get('threshold'))}</b> (the one project "
            f"distance) to one of the {num(gate.get('protected_records'))} training records that occur fewer than "
            f"copy-k times is withheld; threshold: {esc(gate.get('source'))}. Withheld as near copies: "
            f"<b>{num(rejected.get('fit', 0))}</b> while fitting, <b>{num(rejected.get('sample', 0))}</b> while "
            "sampling.</p>"
        )
    exposure = privacy.get("exposure") or {}
    endpoints = exposure.get("endpoints") or {}
    if endpoints:
        rows = [[esc(name), num(info.get("prompts")), num(info.get("rows_sent")), num(info.get("row_appearances")),
                 num(info.get("max_row_exposure"))] for name, info in endpoints.items()]
        body += table(["endpoint", "prompts", "real rows sent", "row appearances", "most prompts for one row"],
                      rows, (1, 2, 3, 4))
        cap = exposure.get("max_exposure")
        body += (f'<p class="small">{num(exposure.get("rows_sent"))} distinct real rows left in prompts; the most '
                 f"any one row appeared in is {num(exposure.get('max_row_exposure'))}"
                 + (f" (cap: {num(cap)})" if cap else " (no cap; --max-exposure sets one)") + ".</p>")
    return section("privacy", title, body)


__all__ = ["evaluation_section", "privacy_section"]
