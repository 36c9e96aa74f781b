"""One self-contained HTML page per run: what ran, how θ evolved, what it produced, how it evaluated.

The page reads a run directory (``model.json``, or ``checkpoint.json`` for a run in progress, plus the
optional ``evaluation.json``, ``sample_report.json`` and ``demo.json``). Images are embedded as base64 PNG,
the CSS is inline and there is no script, so the file opens anywhere without a network. Every text that
comes from users or models (column names, categories, instructions, LLM names) is HTML-escaped.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import report_plots as plots
from .errors import ConfigError
from .optimizer import SELECTIONS, best_index
from .report_plots import edges_of, entry_score, esc, num, section
from .runstate import CHECKPOINT, MODEL, atomic_write_text, read_json

log = logging.getLogger(__name__)

REPORT_FILE, EVALUATION_FILE, SAMPLE_REPORT_FILE, DEMO_FILE = (
    "report.html",
    "evaluation.json",
    "sample_report.json",
    "demo.json",
)
Edge = tuple[str, str]
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

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;
 margin:0;background:#f4f5f7}
main{max-width:1180px;margin:0 auto;padding:22px 30px 40px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 8px;padding-top:12px;border-top:1px solid #ddd}
h3{font-size:16px;margin:18px 0 6px}p{margin:6px 0}code{font-size:13px;background:#f1f1f1;padding:1px 4px}
.muted{color:#666}.small{font-size:13px}.note{background:#fff6e0;border-left:4px solid #E69F00;
 padding:8px 12px;margin:10px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid #e2e2e2;border-radius:6px;padding:6px 10px}.card span{font-size:12.5px;color:#666}
.card b{display:block;font-size:18px;font-weight:600}.card small{font-size:13px;font-weight:400}
nav a{margin-right:14px;font-size:14px}
table{border-collapse:collapse;font-size:13.5px;margin:8px 0}
th,td{padding:4px 8px;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap}
tr.best td{background:#fff1c9}tr.total td{font-weight:600}
.scroll{overflow-x:auto}td.instr{max-width:360px;min-width:220px}td.edges{min-width:150px;font-size:12.5px}
.add{color:#00734f}.rem{color:#b3421a}.tag{font-size:11.5px;background:#fff1c9;border:1px solid #d9b54a;
 border-radius:3px;padding:0 4px;margin-left:4px;white-space:nowrap}
img{max-width:100%;height:auto}.grid{display:grid;
 gap:16px 20px}
figure{margin:0;border:1px solid #eee;padding:6px;text-align:center}
figcaption{font-size:13.5px;color:#333;margin-top:2px;text-align:left}
details summary{cursor:pointer;color:#0b5cad;font-size:13px}details div{white-space:pre-wrap}
.legend span{margin-right:18px;font-size:13px;white-space:nowrap}
.legend i{display:inline-block;width:26px;margin-right:6px;vertical-align:middle}
footer{margin-top:36px;font-size:12.5px;color:#777;border-top:1px solid #ddd;padding-top:8px}
"""


@dataclass
class RunData:
    """What a run directory holds, as read by :func:`load_run`.

    Attributes:
        run_dir: The run directory.
        source: The file the run was read from (``model.json`` or ``checkpoint.json``).
        state: Its content (see ``MallmGan._state``).
        evaluation: ``evaluation.json`` (an ``EvaluationReport.to_dict()``), if present.
        sample_report: ``sample_report.json`` (the final sampling's ``RejectionReport.to_dict()``).
        true_dag: Edges known to be the true causal graph, if given or recorded.
        true_dag_source: Where ``true_dag`` came from, in words.
        notes: Problems met while reading the optional parts.
    """

    run_dir: Path
    source: Path
    state: dict[str, Any]
    evaluation: dict[str, Any] | None = None
    sample_report: dict[str, Any] | None = None
    true_dag: list[Edge] | None = None
    true_dag_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[dict[str, Any]]:
        return [c for c in self.state["schema"].get("columns") or [] if isinstance(c, dict)]

    @property
    def names(self) -> list[str]:
        return [str(c.get("name")) for c in self.columns]

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [e for e in self.state.get("history") or [] if isinstance(e, dict)]

    @property
    def selection(self) -> str:
        """The rule that chose the best θ (runs written before the rule existed used the lowest score)."""
        params = self.state.get("params") if isinstance(self.state.get("params"), dict) else {}
        return params["selection"] if params.get("selection") in SELECTIONS else "lowest"

    @property
    def best_index(self) -> int | None:
        """The best entry, by the selection rule the run used (as the loop decides)."""
        scores = [entry_score(e) for e in self.entries]
        scored = [i for i, s in enumerate(scores) if s is not None]
        if not scored:
            return None
        selection = self.selection
        triples = [(float(scores[i]), _number(self.entries[i].get("recall")),  # type: ignore[arg-type]
                    int(_number(self.entries[i].get("held_out")) or 0)) for i in scored]
        return scored[best_index(triples, selection)]


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def read_edges(source: Any) -> list[Edge]:
    """Edges from a list of ``[parent, child]`` pairs or ``"A -> B"`` strings, or from a JSON file holding
    one (or an object with a ``true_dag``, ``dag`` or ``edges`` list)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"true DAG file {path} does not exist")
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"true DAG file {path} is not valid JSON: {exc}") from exc
        if isinstance(source, dict):
            source = next((source[k] for k in ("true_dag", "dag", "edges") if k in source), None)
    if not isinstance(source, (list, tuple)):
        raise ConfigError('a true DAG must be a list of [parent, child] pairs or "A -> B" strings')
    edges: list[Edge] = []
    for item in source:
        if isinstance(item, str) and "->" in item:
            parent, _, child = item.partition("->")
            edges.append((parent.strip(), child.strip()))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            edges.append((str(item[0]), str(item[1])))
        else:
            raise ConfigError(f'true DAG edge {item!r} is neither a [parent, child] pair nor "A -> B"')
    return edges


def _optional(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except ConfigError as exc:
        notes.append(f"{path.name} could not be read and is left out: {exc.message}")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} does not hold a JSON object and is left out")
        return None
    return data


def load_run(run_dir: str | Path, *, true_dag: Any = None) -> RunData:
    """Read a run directory (or its ``model.json`` / ``checkpoint.json``) and the optional parts.

    Args:
        run_dir: The directory written by ``fit`` or ``demo``, or the run file itself.
        true_dag: Edges of the true causal graph (anything :func:`read_edges` takes); without it the
            schema's ``extra["true_dag"]`` or ``demo.json``'s ``true_dag`` is used when present.
    """
    path = Path(run_dir)
    if path.is_file():
        source, path = path, path.parent
    elif not path.is_dir():
        raise ConfigError(f"run directory {path} does not exist")
    elif (path / MODEL).exists() or (path / CHECKPOINT).exists():
        model, checkpoint = path / MODEL, path / CHECKPOINT
        # a finished run resumed with more epochs has a checkpoint newer than its model
        newer = checkpoint.exists() and (not model.exists() or checkpoint.stat().st_mtime > model.stat().st_mtime + 1)
        source = checkpoint if newer else model
    else:
        raise ConfigError(
            f"{path} holds neither {MODEL} nor {CHECKPOINT}; is it a run directory written by `mallm-gan fit --out`?"
        )
    state = read_json(source)
    if not isinstance(state, dict) or not isinstance(state.get("schema"), dict):
        raise ConfigError(f"{source} is not a mallm-gan run file (it has no schema)")
    run = RunData(path, source, state)
    run.evaluation = _optional(path / EVALUATION_FILE, run.notes)
    run.sample_report = _optional(path / SAMPLE_REPORT_FILE, run.notes)
    demo = _optional(path / DEMO_FILE, run.notes) or {}
    extra = state["schema"].get("extra") or {}
    for value, where in (
        (true_dag, "as given"),
        (extra.get("true_dag"), "as recorded in the schema"),
        (demo.get("true_dag"), f"as recorded in {DEMO_FILE}"),
    ):
        if value is None:
            continue
        try:
            edges = read_edges(value)
        except ConfigError as exc:
            if true_dag is not None:
                raise
            run.notes.append(f"the true DAG {where} could not be read and is left out: {exc.message}")
            continue
        unknown = [e for e in edges if e[0] not in run.names or e[1] not in run.names]
        if unknown:
            run.notes.append(
                f"{len(unknown)} edge(s) of the true DAG name columns this run does not have and "
                f"are left out: {'; '.join(f'{a} -> {b}' for a, b in unknown[:5])}"
            )
        run.true_dag = [e for e in edges if e not in unknown]
        run.true_dag_source = where
        break
    return run


def write_report(run_dir: str | Path, out: str | Path | None = None, *, true_dag: Any = None) -> Path:
    """Write the self-contained HTML report of a run.

    Args:
        run_dir: A run directory (or its ``model.json`` / ``checkpoint.json``).
        out: Where to write (default ``RUN_DIR/report.html``).
        true_dag: Edges of the known true causal graph: pairs or ``"A -> B"`` strings, or a JSON file of
            them. The DAG drawings then show the graph edit distance to it.

    Returns:
        The path written.

    Raises:
        ConfigError: the run cannot be read, or matplotlib / networkx are not installed.
    """
    plots.require()
    run = load_run(run_dir, true_dag=true_dag)
    path = Path(out) if out is not None else run.run_dir / REPORT_FILE
    atomic_write_text(path, render_report(run))
    log.info("report written to %s", path)
    return path


def render_report(run: RunData) -> str:
    """The report of ``run`` as one HTML document."""
    plots.require()
    entries, best = run.entries, run.best_index
    distance = None
    if run.true_dag is not None:
        try:
            from .graphs import graph_edit_distance as distance
        except ImportError:
            run.notes.append("the graph edit distance is unavailable: mallm_gan.causal could not be imported")
    initial = edges_of(run.state.get("initial_theta") or (entries[0].get("theta") if entries else None))
    body = [
        _header(run),
        _data_section(run),
        _usage_section(run.state.get("usage") or {}),
        plots.score_section(entries, best, run.selection),
        _trajectory_section(run, distance),
        plots.dag_section(
            run.names,
            plots.dag_panels(initial, entries, best),
            truth=run.true_dag,
            truth_source=run.true_dag_source,
            target=run.state["schema"].get("target"),
            distance=distance,
        ),
        _rows_section(entries, run.sample_report),
        _evaluation_section(run.evaluation),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>mallm-gan report: {esc(run.run_dir.name)}</title><style>{CSS}</style></head><body><main>"
        + "\n".join(body)
        + "<footer>Written by mallm-gan. This page holds summary statistics of the training data, category "
        "names and the θ texts, but no individual rows.</footer></main></body></html>\n"
    )


# -- sections ----------------------------------------------------------------------------------------------
def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
    classes: Sequence[str] | None = None,
    column_class: Mapping[int, str] | None = None,
) -> str:
    """An HTML table of already-escaped cells; ``numeric`` columns are right-aligned, ``classes`` style
    rows and ``column_class`` the body cells of single columns."""
    styles = {i: "n" for i in numeric} | dict(column_class or {})

    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(
            f"<{tag}{f' class={styles[i]}' if i in styles and (tag == 'td' or styles[i] == 'n') else ''}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f'<tr class="{(classes or [""] * len(rows))[k]}">{cells(r, "td")}</tr>' for k, r in enumerate(rows))
    return f'<div class="scroll"><table><tr>{cells(head, "th")}</tr>{body}</table></div>'


def quality_note(llm: str, spec: str = "") -> str | None:
    """The warning (HTML) shown when the LLM that ran cannot show the method's quality, else None."""
    if "simulated" in f"{llm} {spec}".lower():
        return (
            "This run used the <b>simulated</b> backend, a statistical stand-in that is <b>not a language "
            "model</b>: the report shows the mechanics of the loop, not what a language model would write."
        )
    if _TINY.search(f"{llm} {spec}"):
        return (
            "This run used a very small local language model: it shows the mechanics of the method (θ, its "
            "causal graph and the scores evolving), not the quality a capable model reaches."
        )
    return None


def _header(run: RunData) -> str:
    state, params = run.state, run.state.get("params") or {}
    llm, spec = str(state.get("llm") or ""), str(params.get("llm") or "")
    train, entries, best = state.get("train") or [], run.entries, run.best_index
    notes = [n for n in [quality_note(llm, spec)] if n]
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
        ("loop time", f"{sum(float(e.get('seconds') or 0) for e in entries):,.0f} s"),
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


def _data_section(run: RunData) -> str:
    train = [r for r in run.state.get("train") or [] if isinstance(r, dict)]
    schema, theta = run.state["schema"], run.state.get("initial_theta") or {}
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
    context = theta.get("context") if isinstance(theta, dict) else ""
    return section(
        "data",
        "Data and schema",
        f"<p><b>Context given:</b> {esc(context) if context else '<i>none</i>'}</p>"
        f"<p>{len(train):,} training rows, {len(run.columns)} columns.</p>"
        + _table(["column", "kind", "allowed values", "missing", "in the training rows"], rows, [3]),
    )


def _usage_section(usage: Mapping[str, Any]) -> str:
    roles = [(k, v) for k, v in usage.items() if isinstance(v, dict) and k != "total"]
    if not roles:
        return section("usage", "LLM usage", "<p>No LLM usage was recorded.</p>")
    keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "retries", "failures")
    rows, classes = [], []
    for role, counts in [*roles, *([("total", usage["total"])] if isinstance(usage.get("total"), dict) else [])]:
        rows.append(
            [esc(role), *(num(int(counts.get(k) or 0)) for k in keys), num(float(counts.get("seconds") or 0), 1)]
        )
        classes.append("total" if role == "total" else "")
    text = _table(
        ["role", "calls", "cache hits", "prompt tokens", "completion tokens", "retries", "failures", "time (s)"],
        rows,
        range(1, 8),
        classes,
    )
    if isinstance(usage.get("cost"), (int, float)):
        text += f"<p>Cost at the prices given: <b>{usage['cost']:.4f}</b></p>"
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


_SELECTION_NOTES = {
    "significant": "The best θ (selection <i>significant</i>) is the earliest one that no later θ beats by more "
                   "than two standard errors of the difference of their re-scored accuracies: smaller "
                   "differences are within the noise of the held-out rows.",
    "lowest": "The best θ (selection <i>lowest</i>) has the lowest re-scored accuracy.",
}


def _trajectory_section(run: RunData, distance: Any) -> str:
    entries, best = run.entries, run.best_index
    if not entries:
        return section("trajectory", "θ trajectory", "<p>No iteration has finished yet.</p>")
    head = ["#", "epoch", "origin", "instruction", "edges", "edges added / removed", "raw", "re-scored"]
    truth = run.true_dag if distance is not None else None
    head += ["GED to true DAG"] if truth is not None else []
    rows, classes = [], []

    def theta_of(value: Any) -> Mapping[str, Any]:
        return value if isinstance(value, dict) else {}

    previous = theta_of(run.state.get("initial_theta") or entries[0].get("theta"))
    for i, entry in enumerate(entries):
        theta = theta_of(entry.get("theta"))
        edges, before = edges_of(theta), edges_of(previous)
        text = str(theta.get("instruction") or "")
        if i and text == str(previous.get("instruction") or ""):
            instruction = '<span class="muted">unchanged</span>'
        elif len(text) <= _SHORT:
            instruction = esc(text)
        else:
            instruction = (
                f"{esc(text[:_SHORT].rstrip())}…<details><summary>full text</summary><div>{esc(text)}</div></details>"
            )
        row = [
            str(i + 1) + ('<span class="tag">best</span>' if i == best else ""),
            str(entry["epoch"] + 1) if isinstance(entry.get("epoch"), int) else "–",
            esc(entry.get("origin") or ""),
            instruction,
            str(len(edges)),
            _edges_cell([e for e in edges if e not in before], [e for e in before if e not in edges]),
            num(entry.get("raw_score")),
            num(entry_score(entry)),
        ]
        row += [str(distance(edges, truth))] if truth is not None else []
        rows.append(row)
        classes.append("best" if i == best else "")
        previous = theta
    note = (
        '<p class="small muted">Iterations and epochs count from 1. "origin" says how the θ came about '
        "(the optimizer's proposal, a repaired proposal, or the best θ kept when a reply was unusable); "
        "edges are compared with the previous iteration's θ. "
        + _SELECTION_NOTES.get(run.selection, "")
        + "</p>"
    )
    table = _table(head, rows, [0, 1, 4, 6, 7, 8], classes, {3: "instr", 5: "edges"})
    return section("trajectory", "θ trajectory", note + table)


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


def _rows_section(entries: Sequence[Mapping[str, Any]], sample: Mapping[str, Any] | None) -> str:
    reports = [e.get("report") if isinstance(e.get("report"), dict) else {} for e in entries]
    if not any(reports):
        body = "<p>No row accounting was recorded.</p>"
    else:
        per_entry = [_reasons(report) for report in reports]
        top = [reason for reason, _ in sum(per_entry, Counter()).most_common(5)]
        rejected = {r.replace("_", " "): [c[r] for c in per_entry] for r in top}
        if any(set(c) - set(top) for c in per_entry):
            rejected["other"] = [sum(n for r, n in c.items() if r not in top) for c in per_entry]
        accepted = [_count(report.get("accepted")) for report in reports]
        body = plots.img(plots.rows_plot(accepted, rejected), "rows accepted and rejected per iteration")
        body += "<h3>During training</h3>" + _reasons_table(_merge(reports))
    if sample:
        body += "<h3>Final sampling</h3>" + _reasons_table(sample)
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


def _reasons_table(report: Mapping[str, Any]) -> str:
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
        text += _table(["rejected because", "rows", "share of written", "columns concerned"], rows, [1, 2])
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


def _evaluation_section(evaluation: Mapping[str, Any] | None) -> str:
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
            + _table(head, rows, range(1, len(head)), ["" for _ in rows[:-1]] + ["total"])
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
            body += plots.img(plots.dcr_plot(dcr["to_train"], dcr.get("to_holdout")), "DCR histograms")
        quantiles = [(k, dcr.get(k)) for k in ("quantiles_train", "quantiles_holdout") if dcr.get(k)]
        if quantiles:
            keys = list(quantiles[0][1])
            rows = [[label.replace("quantiles_", "to "), *(num(q.get(k), 2) for k in keys)] for label, q in quantiles]
            body += _table(["distance", *(_quantile_name(k) for k in keys)], rows, range(1, len(keys) + 1))
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
        body += _table([k for k, _ in items], [[num(quality.get(v)) for _, v in items]], range(len(items)))
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


__all__ = ["REPORT_FILE", "RunData", "load_run", "quality_note", "read_edges", "render_report", "write_report"]
