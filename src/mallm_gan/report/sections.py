"""The report's sections read from the run state: header, data and schema, LLM usage, θ trajectory, rows."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..gan.optimizer import HistoryEntry
from ..llm.usage import STRUCTURED_KEY
from ..theta.edges import Edge
from ..theta.graphs import graph_edit_distance
from .html import esc, img, num, section, table
from .plots import rows_plot
from .run import RunData, entry_score, finite

# models too small to show more than the mechanics of the method
_TINY = re.compile(r"smollm|tinyllama|gemma-?3-?(?:270m|1b)|\b(?:135|270|360)m\b", re.I)
_SHORT = 150  # characters of an instruction shown before "full text"
_TOC = (
    ("data", "Data"),
    ("usage", "LLM usage"),
    ("score", "Score"),
    ("trajectory", "θ trajectory"),
    ("dag", "Causal graphs"),
    ("rows", "Rows"),
    ("evaluation", "Evaluation"),
)


def quality_note(llm: str, spec: str = "") -> str | None:
    """The warning (plain text) when the LLM that ran cannot show the method's quality, else None.

    The one judgement of "too small to show quality": the report and the demo both print it.
    """
    if "simulated" in f"{llm} {spec}".lower():
        return (
            "This run used the simulated backend, a statistical stand-in that is not a language model: it shows "
            "the mechanics of the loop, not what a language model would write."
        )
    if _TINY.search(f"{llm} {spec}"):
        return (
            "This run used a very small local language model: it shows the mechanics of the method (θ, its "
            "causal graph and the scores evolving), not the quality a capable model reaches."
        )
    return None


def header(run: RunData) -> str:
    state, params = run.state, run.state.get("params") or {}
    llm, spec = str(state.get("llm") or ""), str(params.get("llm") or "")
    train, entries, best = state.get("train") or [], run.entries, run.best_index
    notes = [esc(n) for n in [quality_note(llm, spec)] if n]
    if not state.get("complete", True):
        notes.append(
            f"This run is in progress or was interrupted: read from {esc(run.source.name)} after "
            f"{len(entries)} finished iteration(s)."
        )
    if state.get("stopped"):
        notes.append(f"The run stopped early: {esc(state['stopped'])}.")
    notes += [esc(n) for n in run.notes]
    epochs, batch = params.get("epochs"), params.get("batch_size")
    planned = (
        epochs * math.ceil(len(train) / batch)
        if (isinstance(epochs, int) and isinstance(batch, int) and batch > 0 and train)
        else None
    )
    total = (state.get("usage") or {}).get("total") or {}
    tokens = int(total.get("prompt_tokens") or 0) + int(total.get("completion_tokens") or 0)
    schema = state["schema"]
    cards = [
        ("training rows", f"{len(train):,}"),
        ("columns", str(len(run.columns))),
        (
            "target",
            f"{esc(schema['target'])} <small>({esc(schema.get('task') or '?')})</small>"
            if schema.get("target")
            else "none",
        ),
        ("iterations", f"{len(entries)}" + (f" of {planned}" if planned else "")),
        (
            "best θ's re-scored accuracy",
            "–" if best is None else f"{num(entry_score(entries[best]))} <small>(iteration {best + 1})</small>",
        ),
        ("LLM calls · tokens", f"{int(total.get('calls') or 0):,} · {tokens:,}"),
        ("loop time", f"{sum(e.seconds for e in entries):,.0f} s"),
    ]
    who = [f"<b>LLM that ran:</b> {esc(llm) if llm else 'not recorded'}"]
    if spec and spec.lower() not in llm.lower():
        who.append(f"<b>spec:</b> <code>{esc(spec)}</code>")
    if params.get("optimizer_llm"):
        who.append(f"<b>optimizer:</b> <code>{esc(params['optimizer_llm'])}</code>")
    return (
        "<header><h1>MALLM-GAN run report</h1>"
        f'<p class="muted small">{esc(run.run_dir)} · read from {esc(run.source.name)}</p>'
        f"<p>{' · '.join(who)}</p>"
        + "".join(f'<div class="note">{n}</div>' for n in notes)
        + '<div class="cards">'
        + "".join(f'<div class="card"><span>{k}</span><b>{v}</b></div>' for k, v in cards)
        + "</div><nav>"
        + "".join(f'<a href="#{a}">{t}</a>' for a, t in _TOC)
        + "</nav></header>"
    )


def _values(column: Mapping[str, Any]) -> str:
    kind = column.get("kind")
    if kind == "numerical":
        low, high = column.get("min"), column.get("max")
        text = f"{esc(column.get('dtype') or 'float')} in [{esc(low)}, {esc(high)}]"
        decimals = column.get("decimals") or 0
        return text + (f", {decimals} decimal{'s' if decimals != 1 else ''}" if decimals else "")
    if kind == "categorical":
        cats = [esc(c) for c in column.get("categories") or []]
        shown = ", ".join(cats[:6])
        if len(cats) > 6:
            shown += f" <details><summary>all {len(cats)} values</summary><div>{', '.join(cats)}</div></details>"
        return shown or "–"
    if kind == "boolean":
        return "true / false"
    return f"{esc(column.get('min'))} … {esc(column.get('max'))}" if kind == "datetime" else "–"


def _observed(values: list[Any], kind: Any) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "all missing"
    numbers = [float(v) for v in present if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if kind == "numerical" and len(numbers) == len(present):
        mean = sum(numbers) / len(numbers)
        sd = math.sqrt(sum((x - mean) ** 2 for x in numbers) / max(1, len(numbers) - 1))
        return f"mean {mean:,.4g} · sd {sd:,.3g}"
    value, count = Counter(map(str, present)).most_common(1)[0]
    return f"{len(set(map(str, present)))} distinct · most common {esc(value)} ({count / len(values):.0%})"


def data_section(run: RunData) -> str:
    train = [r for r in run.state.get("train") or [] if isinstance(r, dict)]
    schema, context = run.state["schema"], run.initial_theta.context
    rows = []
    for column in run.columns:
        name = esc(column.get("name"))
        if column.get("name") == schema.get("target"):
            name += '<span class="tag">target</span>'
        if column.get("description"):
            name += f'<br><span class="small muted">{esc(column["description"])}</span>'
        rate = column.get("missing_rate")
        rows.append(
            [
                name,
                esc(column.get("kind")),
                _values(column),
                f"{rate:.0%}" if isinstance(rate, (int, float)) and rate else "–",
                _observed([r.get(column.get("name")) for r in train], column.get("kind")),
            ]
        )
    return section(
        "data",
        "Data and schema",
        f"<p><b>Context given:</b> {esc(context) if context else '<i>none</i>'}</p>"
        f"<p>{len(train):,} training rows, {len(run.columns)} columns.</p>"
        + table(["column", "kind", "allowed values", "missing", "in the training rows"], rows, [3]),
    )


def usage_section(usage: Mapping[str, Any]) -> str:
    roles = [(k, v) for k, v in usage.items() if isinstance(v, dict) and k not in ("total", STRUCTURED_KEY)]
    if not roles:
        return section("usage", "LLM usage", "<p>No LLM usage was recorded.</p>")
    keys = ("calls", "cache_hits", "prompt_tokens", "cached_prompt_tokens", "completion_tokens", "retries", "failures")
    rows, classes = [], []
    for role, counts in [*roles, *([("total", usage["total"])] if isinstance(usage.get("total"), dict) else [])]:
        rows.append(
            [esc(role), *(num(int(counts.get(k) or 0)) for k in keys), num(float(counts.get("seconds") or 0), 1)]
        )
        classes.append("total" if role == "total" else "")
    text = table(
        ["role", "calls", "cache hits", "prompt tokens", "of them cached by the provider", "completion tokens",
         "retries", "failures", "time (s)"],
        rows,
        range(1, 8),
        classes,
    )
    if isinstance(usage.get("cost"), (int, float)):
        text += f"<p>Cost at the prices given: <b>{usage['cost']:.4f}</b></p>"
    for endpoint, entry in (usage.get(STRUCTURED_KEY) or {}).items():
        if isinstance(entry, dict):
            text += (f"<p>Structured output of <code>{esc(endpoint)}</code>: <b>{esc(entry.get('mode', '?'))}</b>"
                     f" ({esc(entry.get('reason', ''))})</p>")
    return section(
        "usage",
        "LLM usage",
        text + '<p class="small muted">Time is summed over calls, which run '
        "concurrently; cache hits cost no tokens.</p>",
    )


def _edges_cell(added: list[Edge], removed: list[Edge]) -> str:
    lines = [f'<span class="add">+ {esc(a)} → {esc(b)}</span>' for a, b in added]
    lines += [f'<span class="rem">− {esc(a)} → {esc(b)}</span>' for a, b in removed]
    if len(lines) <= 4:
        return "<br>".join(lines) or '<span class="muted">none</span>'
    return (
        "<br>".join(lines[:3])
        + f"<details><summary>{len(lines) - 3} more</summary>"
        + "<br>".join(lines[3:])
        + "</details>"
    )


def _structure_cell(structure: Any) -> str:
    """Each edge's dependence in real / synthetic rows, the largest differences first (a run file without
    the numbers shows a dash)."""
    if not isinstance(structure, list) or not structure:
        return '<span class="muted">–</span>'

    def gap(item: Mapping[str, Any]) -> float:
        real, synthetic = item.get("real"), item.get("synthetic")
        return abs(abs(real) - abs(synthetic)) if isinstance(real, (int, float)) and isinstance(
            synthetic, (int, float)) else 0.0

    lines = [f"{esc(item['edge'][0])} → {esc(item['edge'][1])}: {num(item.get('real'))} / {num(item.get('synthetic'))}"
             for item in sorted(structure, key=gap, reverse=True) if isinstance(item, Mapping) and item.get("edge")]
    if len(lines) <= 3:
        return "<br>".join(lines)
    return "<br>".join(lines[:2]) + f"<details><summary>{len(lines) - 2} more</summary>" + "<br>".join(lines[2:]) + (
        "</details>")


_SELECTION_NOTES = {
    "significant": "The best θ (selection <i>significant</i>) is the earliest one that no later θ beats by more "
                   "than two standard errors of the difference of their re-scored accuracies: smaller "
                   "differences are within the noise of the held-out rows.",
    "lowest": "The best θ (selection <i>lowest</i>) has the lowest re-scored accuracy.",
}


def trajectory_section(run: RunData) -> str:
    entries, best = run.entries, run.best_index
    if not entries:
        return section("trajectory", "θ trajectory", "<p>No iteration has finished yet.</p>")
    head = ["#", "epoch", "origin", "instruction", "edges", "edges added / removed", "raw", "re-scored"]
    truth = run.true_dag
    head += ["GED to true DAG"] if truth is not None else []
    head += ["edge dependence, real / synthetic"]
    rows, classes = [], []

    previous = run.initial_theta
    for i, entry in enumerate(entries):
        theta = entry.theta
        edges, before = list(theta.dag), list(previous.dag)
        text = theta.instruction
        if i and text == previous.instruction:
            instruction = '<span class="muted">unchanged</span>'
        elif len(text) <= _SHORT:
            instruction = esc(text)
        else:
            instruction = (
                f"{esc(text[:_SHORT].rstrip())}…<details><summary>full text</summary><div>{esc(text)}</div></details>"
            )
        row = [
            str(i + 1) + ('<span class="tag">best</span>' if i == best else ""),
            str(entry.epoch + 1),
            esc(entry.origin),
            instruction,
            str(len(edges)),
            _edges_cell([e for e in edges if e not in before], [e for e in before if e not in edges]),
            num(finite(entry.raw_score)),
            num(entry_score(entry)),
        ]
        row += [str(graph_edit_distance(edges, truth))] if truth is not None else []
        row += [_structure_cell(entry.structure)]
        rows.append(row)
        classes.append("best" if i == best else "")
        previous = theta
    note = (
        '<p class="small muted">Iterations and epochs count from 1. "origin" says how the θ came about '
        "(the optimizer's proposal, a repaired proposal, or the best θ kept when a reply was unusable); "
        "edges are compared with the previous iteration's θ. \"Edge dependence\" is, for each edge of θ, "
        "the dependence of its two columns in the real training rows and in that iteration's synthetic rows "
        "(Cramér's V, correlation or correlation ratio as fits the columns): an edge whose synthetic number "
        "falls well below the real one is a dependency θ claims that the rows do not keep. "
        + _SELECTION_NOTES.get(run.selection, "")
        + "</p>"
    )
    body = table(head, rows, [0, 1, 4, 6, 7, 8], classes, {3: "instr", 5: "edges", len(head) - 1: "edges"})
    return section("trajectory", "θ trajectory", note + body)


def _count(value: Any) -> int:
    """A count from a JSON value; anything that is not a number counts 0."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def _reasons(report: Mapping[str, Any]) -> Counter[str]:
    """Rejections by reason; rejections a report counts but does not explain become "unspecified"."""
    reasons = Counter({str(k): _count(v) for k, v in (report.get("reasons") or {}).items()})
    total = report.get("rejected", _count(report.get("generated")) - _count(report.get("accepted")))
    if _count(total) > sum(reasons.values()):
        reasons["unspecified"] += _count(total) - sum(reasons.values())
    return +reasons


def rows_section(entries: Sequence[HistoryEntry], sample: Mapping[str, Any] | None) -> str:
    reports = [e.report for e in entries]
    if not any(reports):
        body = "<p>No row accounting was recorded.</p>"
    else:
        per_entry = [_reasons(report) for report in reports]
        top = [reason for reason, _ in sum(per_entry, Counter()).most_common(5)]
        rejected = {r.replace("_", " "): [c[r] for c in per_entry] for r in top}
        if any(set(c) - set(top) for c in per_entry):
            rejected["other"] = [sum(n for r, n in c.items() if r not in top) for c in per_entry]
        accepted = [_count(report.get("accepted")) for report in reports]
        body = img(rows_plot(accepted, rejected), "rows accepted and rejected per iteration")
        body += "<h3>During training</h3>" + _reasonstable(_merge(reports))
    if sample:
        body += "<h3>Final sampling</h3>" + _reasonstable(sample)
    return section("rows", "Rows generated and rejected", body)


def _merge(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"generated": 0, "accepted": 0, "shared_copies": 0, "unique_copies": 0}
    counters: dict[str, Counter[str]] = {"reasons": Counter(), "notes": Counter(), "parse_problems": Counter()}
    by_column: dict[str, Counter[str]] = {}
    for report in reports:
        for key in out:
            out[key] += _count(report.get(key))
        counters["reasons"].update(_reasons(report))
        for key in ("notes", "parse_problems"):
            counters[key].update({str(k): _count(v) for k, v in (report.get(key) or {}).items()})
        for reason, columns in (report.get("by_column") or {}).items():
            if isinstance(columns, dict):
                by_column.setdefault(reason, Counter()).update({str(k): _count(v) for k, v in columns.items()})
    return out | {k: dict(v) for k, v in counters.items()} | {"by_column": by_column}


def _reasonstable(report: Mapping[str, Any]) -> str:
    generated, accepted = _count(report.get("generated")), _count(report.get("accepted"))
    text = (
        f"<p>{generated:,} rows written, <b>{accepted:,} accepted</b>"
        f"{f' ({accepted / generated:.0%})' if generated else ''}; accepted rows equal to a training record "
        f"that occurs at least k times (allowed): {_count(report.get('shared_copies')):,}.</p>"
    )
    reasons = _reasons(report)
    by_column = report.get("by_column") if isinstance(report.get("by_column"), dict) else {}
    if reasons:
        rows = []
        for reason, count in reasons.most_common():
            columns = by_column.get(reason) if isinstance(by_column.get(reason), dict) else {}
            where = ", ".join(f"{esc(c)} ({_count(n)})" for c, n in Counter(columns).most_common(4))
            share = f"{count / generated:.0%}" if generated else "–"
            rows.append([esc(reason.replace("_", " ")), num(count), share, where or "–"])
        text += table(["rejected because", "rows", "share of written", "columns concerned"], rows, [1, 2])
    else:
        text += "<p>No row was rejected.</p>"
    extra = {**(report.get("parse_problems") or {}), **(report.get("notes") or {})}
    if extra:
        text += (
            '<p class="small muted">Answers and repairs: '
            + ", ".join(f"{esc(k)} {_count(v)}" for k, v in extra.items())
            + "</p>"
        )
    return text


__all__ = ["data_section", "header", "quality_note", "rows_section", "trajectory_section", "usage_section"]
