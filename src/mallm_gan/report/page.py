"""One self-contained HTML page per run: what ran, how θ evolved, what it produced, how it evaluated.

The page reads a run directory (``model.json``, or ``checkpoint.json`` for a run in progress, plus the
optional ``evaluation.json``, ``sample_report.json`` and ``demo.json``). Images are embedded as base64 PNG,
the CSS is inline and there is no script, so the file opens anywhere without a network. Every text that
comes from users or models (column names, categories, instructions, LLM names) is HTML-escaped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..runstate import REPORT as REPORT_FILE
from ..runstate import atomic_write_text
from . import plots
from .demo import demo_section
from .evaluation import evaluation_section, privacy_section
from .graphs import dag_panels, dag_section
from .html import esc
from .run import RunData, load_run
from .sections import data_section, header, rows_section, trajectory_section, usage_section

log = logging.getLogger(__name__)


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
    initial = list(run.initial_theta.dag)
    body = [
        header(run),
        demo_section((run.demo or {}).get("summary")),
        data_section(run),
        usage_section(run.state.get("usage") or {}),
        plots.score_section(entries, best, run.selection),
        trajectory_section(run),
        dag_section(
            run.names,
            dag_panels(initial, entries, best),
            truth=run.true_dag,
            truth_source=run.true_dag_source,
            target=run.state["schema"].get("target"),
        ),
        rows_section(entries, run.sample_report),
        privacy_section(run.state.get("privacy")),
        evaluation_section(run.evaluation),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>mallm-gan report: {esc(run.run_dir.name)}</title><style>{CSS}</style></head><body><main>"
        + "\n".join(body)
        + "<footer>Written by mallm-gan. This page holds summary statistics of the training data, category "
        "names and the θ texts, but no individual rows.</footer></main></body></html>\n"
    )


__all__ = ["REPORT_FILE", "render_report", "write_report"]
