"""The HTML report: sections, embedded images, escaping, and runs with optional parts missing."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("networkx")

from mallm_gan.errors import ConfigError
from mallm_gan.report.graphs import dag_panels, layered_positions
from mallm_gan.report.page import render_report, write_report
from mallm_gan.report.plots import best_so_far
from mallm_gan.report.run import load_run, read_edges, read_entry
from mallm_gan.report.sections import quality_note
from mallm_gan.theta.graphs import ASIA_COLUMNS, ASIA_TRUE_DAG

IMG = '<img src="data:image/png;base64,'
EVIL = '<script>alert("x")</script> & $income$'
ASIA_TRUE = [list(edge) for edge in ASIA_TRUE_DAG]
NAMES = [*ASIA_COLUMNS, EVIL]
LONG_INSTRUCTION = "Write new rows that follow the causal structure closely. " * 6
# θ per iteration: (dag, instruction, origin)
THETAS = [
    ([*ASIA_TRUE[:3], ["Dyspnea", "bronchitis"]], "Write realistic rows.", "initial"),
    ([*ASIA_TRUE[:3], ["Dyspnea", "bronchitis"], ["smoke", EVIL]], LONG_INSTRUCTION, "proposed"),
    (ASIA_TRUE[:5], LONG_INSTRUCTION, "repaired: dropped 1 edge(s) (cycle)"),
    (ASIA_TRUE[:6], '<img src=x onerror="alert(1)"> keep rates', "proposed"),
    (ASIA_TRUE[:6], '<img src=x onerror="alert(1)"> keep rates', "kept best: unparseable reply"),
]
RAW = [0.9, 0.8, 0.7, 0.62, 0.66]
FINAL = [0.95, 0.86, 0.74, 0.58, 0.61]


def _entry(**fields: Any):
    """A history entry as the loop writes it, with the given fields (the rest neutral)."""
    base = {"iteration": 0, "epoch": 0, "batch": 0, "theta": {"dag": []}, "raw_score": 0.5, "score": 0.5,
            "real_indices": [], "synthetic": [], "split_seed": 0}
    return read_entry({**base, **fields})


def _state(
    *,
    llm: str = "simulated (a statistical stand-in, not a language model)",
    complete: bool = True,
    iterations: int = len(THETAS),
    with_reports: bool = True,
) -> dict[str, Any]:
    columns = [{"name": n, "kind": "categorical", "categories": [0, 1]} for n in NAMES[:-1]]
    columns.append(
        {
            "name": EVIL,
            "kind": "numerical",
            "dtype": "float",
            "min": 0.0,
            "max": 9.5,
            "decimals": 1,
            "missing_rate": 0.1,
            "description": "a <b>bold</b> claim",
        }
    )
    train = [
        {**{n: (i + j) % 2 for j, n in enumerate(NAMES[:-1])}, EVIL: None if i % 10 == 0 else i / 4} for i in range(30)
    ]
    history = []
    for i in range(iterations):
        dag, instruction, origin = THETAS[i]
        report = {
            "generated": 30,
            "accepted": 30 - 2 * i,
            "rejected": 2 * i,
            "reasons": {"out_of_range": i, "copy_of_unique_record": i},
            "by_column": {"out_of_range": {EVIL: i}},
            "shared_copies": 3,
            "unique_copies": 0,
            "notes": {"parse:truncated": 1},
            "parse_problems": {},
        }
        history.append(
            {
                "iteration": i,
                "epoch": i // 2,
                "batch": i % 2,
                "theta": {"context": "A small clinical table.", "dag": dag, "instruction": instruction},
                "raw_score": RAW[i],
                "score": FINAL[i],
                # re-scored after each later iteration, ending at the final score
                "rescored": [RAW[i] + 0.01 * k for k in range(iterations - 1 - i)] + [FINAL[i]],
                "origin": origin,
                "calls": 6,
                "tokens": {"prompt": 3000, "completion": 400},
                "seconds": 2.5,
                "report": report if with_reports else {},
                "split_seed": 7,
                "real_indices": list(range(10)),
                "synthetic": [],
            }
        )
    return {
        "format": 1,
        "complete": complete,
        "warning": "real rows",
        "params": {"llm": "simulated", "optimizer_llm": None, "epochs": 3, "batch_size": 15},
        "identity": {"seed": 0},
        "llm": llm,
        "schema": {"columns": columns, "target": "Dyspnea", "task": "classification"},
        "initial_theta": history[0]["theta"] if history else {"context": "", "dag": [], "instruction": "x"},
        "theta": history[3]["theta"] if iterations > 3 else None,
        "current_theta": history[-1]["theta"] if history else None,
        "history": history,
        "usage": {
            "generator": {
                "calls": 25,
                "cache_hits": 2,
                "prompt_tokens": 12000,
                "completion_tokens": 1500,
                "retries": 1,
                "failures": 0,
                "seconds": 10.0,
            },
            "optimizer": {
                "calls": 4,
                "cache_hits": 0,
                "prompt_tokens": 2000,
                "completion_tokens": 600,
                "retries": 0,
                "failures": 1,
                "seconds": 2.0,
            },
            "total": {
                "calls": 29,
                "cache_hits": 2,
                "prompt_tokens": 14000,
                "completion_tokens": 2100,
                "retries": 1,
                "failures": 1,
                "seconds": 12.0,
            },
            "cost": 0.0123,
        },
        "train": train,
        "stopped": None,
    }


def _evaluation(rows: bool = True) -> dict[str, Any]:
    scores = {"logistic_regression": {"f1": 0.71, "accuracy": 0.72}, "random_forest": {"f1": 0.75, "accuracy": 0.76}}
    privacy: dict[str, Any] = {
        "quantiles_train": {"q00": 0.0, "q05": 0.0, "q25": 0.5, "q50": 1.0, "q75": 2.0, "q95": 3.0},
        "quantiles_holdout": {"q00": 0.0, "q05": 0.2, "q25": 0.7, "q50": 1.2, "q75": 2.2, "q95": 3.4},
        "share_closer_to_train": 0.55,
        "share_ties": 0.1,
        "exact_copies": 4,
        "exact_copies_holdout": 2,
        "n_synthetic": 40,
        "n_train": 30,
        "n_holdout": 50,
    }
    if rows:
        privacy["to_train"] = [0.1 * (i % 30) for i in range(40)]
        privacy["to_holdout"] = [0.12 * (i % 30) for i in range(40)]
    return {
        "target": "Dyspnea",
        "task": "classification",
        "efficacy": {
            "task": "classification",
            "target": "Dyspnea",
            "metric": "f1",
            "scores": scores,
            "best_model": "random_forest",
            "best_score": 0.75,
            "n_train": 40,
            "n_test": 50,
            "notes": ["1 test row(s) without a target value dropped"],
        },
        "reference": {
            "task": "classification",
            "target": "Dyspnea",
            "metric": "f1",
            "scores": {k: {m: v + 0.05 for m, v in s.items()} for k, s in scores.items()},
            "best_model": "random_forest",
            "best_score": 0.80,
            "n_train": 30,
            "n_test": 50,
            "notes": [],
        },
        "privacy": privacy,
        "fidelity": {
            "overall": 0.8,
            "shape_score": 0.85,
            "trend_score": 0.75,
            "detection_auc": 0.6,
            "detection_score": 0.8,
            "column_shapes": {"smoke": 0.9, EVIL: 0.7},
            "notes": [],
        },
    }


def _run_dir(tmp: Path, state: dict[str, Any], *, name: str = "model.json", **extra: Any) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / name).write_text(json.dumps(state), encoding="utf-8")
    for file_name, data in extra.items():
        (tmp / f"{file_name}.json").write_text(json.dumps(data) if not isinstance(data, str) else data, "utf-8")
    return tmp


@pytest.fixture(scope="module")
def full_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = _run_dir(
        tmp_path_factory.mktemp("full"),
        _state(),
        evaluation=_evaluation(),
        sample_report={"generated": 44, "accepted": 40, "reasons": {"copy": 4}},
    )
    path = write_report(run, true_dag=[tuple(e) for e in ASIA_TRUE])
    assert path == run / "report.html"
    return path.read_text(encoding="utf-8")


def test_full_report_has_every_section_and_embedded_images(full_html: str) -> None:
    for anchor in ("data", "usage", "score", "trajectory", "dag", "rows", "evaluation"):
        assert f'<section id="{anchor}">' in full_html
    # score curve, initial / intermediate / best / true DAG, rows bars, DCR histograms
    assert full_html.count(IMG) == 7
    assert "http://" not in full_html and "https://" not in full_html and "<script" not in full_html
    assert "not a language model" in full_html
    for expected in (
        "random forest",
        "0.750",
        "0.800",
        "real data",
        "Exact copies of training rows",
        "Column shapes, worst first",
        "Final sampling",
        "Cost at the prices given",
    ):
        assert expected in full_html


def test_trajectory_table_shows_changes_scores_and_best(full_html: str) -> None:
    trajectory = full_html.split('<section id="trajectory">')[1].split("</section>")[0]
    best_rows = re.findall(r'<tr class="best">(.*?)</tr>', trajectory)
    assert len(best_rows) == 1 and "0.580" in best_rows[0] and ">4<" in best_rows[0]
    assert "<details><summary>full text</summary>" in trajectory  # the long instruction
    assert "repaired: dropped 1 edge(s) (cycle)" in trajectory
    assert "+ lung cancer → either tuberculosis or lung cancer" in trajectory
    assert "− Dyspnea → bronchitis" in trajectory
    assert "GED to true DAG" in trajectory
    assert "unchanged" in trajectory


def test_dag_section_gives_graph_edit_distances(full_html: str) -> None:
    dag = full_html.split('<section id="dag">')[1].split("</section>")[0]
    assert "Initial θ" in dag and "Intermediate θ (iteration" in dag and "Best θ (iteration 4)" in dag
    assert "True DAG" in dag
    # best θ holds the first 6 true edges: 2 missing
    assert re.search(r"Best θ \(iteration 4\)</b> · 6 edges · graph edit distance to the true DAG: <b>2</b>", dag)


def test_user_and_model_text_is_escaped(full_html: str) -> None:
    assert EVIL not in full_html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $income$" in full_html
    assert '<img src=x onerror="alert(1)">' not in full_html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in full_html
    assert "<b>bold</b>" not in full_html


def test_in_progress_run_without_optional_parts(tmp_path: Path) -> None:
    state = _state(complete=False, iterations=2, with_reports=False)
    for entry in state["history"]:
        del entry["rescored"]
    state.pop("usage")
    state["stopped"] = "budget reached: call budget reached"
    html = render_report(load_run(_run_dir(tmp_path, state, name="checkpoint.json")))
    assert "in progress or was interrupted" in html and "budget reached" in html
    assert "No LLM usage was recorded." in html
    assert "No row accounting was recorded." in html
    assert "No evaluation was run" in html
    assert "No true DAG is known" in html
    assert html.count(IMG) == 1 + 2  # score curve, initial and best θ (two iterations: no intermediate)


def test_run_with_no_finished_iteration(tmp_path: Path) -> None:
    html = render_report(load_run(_run_dir(tmp_path, _state(iterations=0), name="checkpoint.json")))
    assert html.count("No iteration has finished yet.") == 2
    assert html.count(IMG) == 1  # the initial θ's graph


def test_unreadable_or_partial_optional_files_are_reported_not_fatal(tmp_path: Path) -> None:
    evaluation = _evaluation(rows=False)
    del evaluation["fidelity"]
    run = _run_dir(
        tmp_path,
        _state(iterations=3),
        evaluation=evaluation,
        sample_report="{not json",
        demo={"true_dag": [*ASIA_TRUE, ["smoke", "no such column"]]},
    )
    html = render_report(load_run(run))
    assert "sample_report.json could not be read" in html
    assert "1 edge(s) of the true DAG name columns this run does not have" in html
    assert "as recorded in demo.json" in html
    assert "Per-row distances were not saved" in html and "median" in html
    assert "No fidelity scores in the evaluation." in html


def test_odd_files_are_read_defensively(tmp_path: Path) -> None:
    finished = _state(iterations=2)
    for entry in finished["history"]:
        entry["report"] = {"generated": 10, "accepted": 7}  # counts without reasons
    resumed = _state(iterations=3, complete=False)
    run = _run_dir(tmp_path, finished, demo={"true_dag": "smoke causes everything"})
    (tmp_path / "checkpoint.json").write_text(json.dumps(resumed), encoding="utf-8")
    os.utime(tmp_path / "model.json", (1_000_000, 1_000_000))
    loaded = load_run(run)
    assert loaded.source.name == "checkpoint.json" and len(loaded.entries) == 3
    assert loaded.true_dag is None and "could not be read" in loaded.notes[0]
    (tmp_path / "checkpoint.json").unlink()
    html = render_report(load_run(run))
    rows = html.split('<section id="rows">')[1]
    assert "unspecified" in rows and "20 rows written, <b>14 accepted</b>" in rows


def test_malformed_entries_do_not_crash_the_report(tmp_path: Path) -> None:
    state = _state(iterations=3)
    state["history"][0] = {"iteration": 0, "theta": "not a theta", "rescored": "x", "epoch": "one"}
    state["history"][1]["report"] = {"reasons": {"copy": "many"}, "by_column": {"copy": 3}}
    state["history"].append("not an entry")
    state["usage"] = {"generator": "broken", "total": {"calls": None}}
    evaluation = _evaluation()
    evaluation["fidelity"]["column_shapes"] = {"a": None, "b": None, "c": 0.5}
    evaluation["efficacy"]["scores"]["svm"] = {"f1": None}
    run = load_run(_run_dir(tmp_path, state, evaluation=evaluation))
    # read through the writer's model: the unreadable entries are left out, each with its reason
    assert len(run.entries) == 2 and [n.split(":")[0] for n in run.notes] == [
        "history entry 1 could not be read and is left out",
        "history entry 4 could not be read and is left out",
    ]
    html = render_report(run)
    assert '<section id="evaluation">' in html and html.count(IMG) >= 4
    assert "history entry 4 could not be read" in html


def test_quality_note_for_small_models_and_the_stand_in_only() -> None:
    assert "very small local language model" in quality_note("local llama.cpp model smollm2-135m (in-process)")
    assert "very small" in quality_note("local llama.cpp model gemma3-270m (in-process)", "local:gemma3-270m")
    assert "not a language model" in quality_note("simulated (a statistical stand-in)", "simulated")
    assert quality_note("openai:gpt-4o at https://api.openai.com/v1 (remote)", "openai:gpt-4o") is None
    assert quality_note("local llama.cpp model big.gguf (in-process)", "local:/models/llama-3-70b.gguf") is None


def test_bad_run_directories_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"neither model\.json nor checkpoint\.json"):
        load_run(tmp_path)
    (tmp_path / "model.json").write_text('{"history": []}', encoding="utf-8")
    with pytest.raises(ConfigError, match="no schema"):
        load_run(tmp_path)


def test_missing_matplotlib_gives_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_dir(tmp_path, _state(iterations=1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"pip install 'mallm-gan\[report\]'"):
        write_report(run)


def test_read_edges_accepts_pairs_arrows_and_files(tmp_path: Path) -> None:
    assert read_edges([["a", "b"], "b -> c"]) == [("a", "b"), ("b", "c")]
    (tmp_path / "dag.json").write_text(json.dumps({"true_dag": [["a", "b"]]}), encoding="utf-8")
    assert read_edges(tmp_path / "dag.json") == [("a", "b")]
    with pytest.raises(ConfigError, match="neither"):
        read_edges([["a", "b", "c"]])
    with pytest.raises(ConfigError, match="does not exist"):
        read_edges(tmp_path / "nope.json")


def test_best_so_far_follows_the_rescored_values() -> None:
    entries = [
        _entry(raw_score=0.8, score=0.9, rescored=[0.8, 0.85, 0.9]),
        _entry(raw_score=0.7, score=0.6, rescored=[0.7, 0.6]),
        _entry(raw_score=0.75, score=0.75, rescored=[0.75]),
    ]
    assert best_so_far(entries) == [0.8, 0.7, 0.6]
    # no rescored lists (an older file): raw score when tried, final score at the end
    assert best_so_far([_entry(raw_score=0.8, score=0.7), _entry(raw_score=0.9, score=0.95)]) == [0.8, 0.7]


def test_layered_layout_puts_causes_above_effects_and_splits_wide_rows() -> None:
    names = [n for n in NAMES if n != EVIL]
    edges = [tuple(e) for e in ASIA_TRUE]
    pos, rows, widest = layered_positions(names, edges)
    assert all(pos[a][1] > pos[b][1] for a, b in edges)
    assert len(set(pos.values())) == len(names) and rows == 4 and widest == 3
    many = [f"column number {i}" for i in range(13)]
    pos, rows, widest = layered_positions(many, [])
    assert rows == 4 and widest <= 5 and len(set(pos.values())) == 13


def test_intermediate_panel_is_between_initial_and_best() -> None:
    entries = [_entry(theta={"dag": dag}) for dag, _, _ in THETAS]
    panels = dag_panels([tuple(e) for e in THETAS[0][0]], entries, 3)
    assert [title for title, _ in panels] == ["Initial θ", "Intermediate θ (iteration 3)", "Best θ (iteration 4)"]
    first = [tuple(e) for e in THETAS[0][0]]
    assert dag_panels(first, entries[:1], 0) == [("Initial θ", first), ("Best θ (iteration 1)", first)]


def test_cli_report_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mallm_gan.cli import _load_commands
    from mallm_gan.cli.app import app
    from mallm_gan.cli.cmd_report import report  # noqa: F401  (registers the command)

    _load_commands()  # with a single command typer would take "report" for an argument
    run = _run_dir(tmp_path / "run", _state(iterations=1))
    (tmp_path / "true.json").write_text(json.dumps(ASIA_TRUE), encoding="utf-8")
    out = tmp_path / "out.html"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out), "--true-dag", str(tmp_path / "true.json")])
    assert result.exit_code == 0, result.output
    assert "graph edit distance to the true DAG" in out.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_best_so_far_follows_the_significant_rule() -> None:
    # 0.66 is within noise of 0.70 on 90 held-out rows; 0.55 is not
    entries = [
        _entry(raw_score=0.70, score=0.70, rescored=[0.70, 0.70, 0.70], recall=0.9, held_out=90),
        _entry(raw_score=0.66, score=0.66, rescored=[0.66, 0.66], recall=0.8, held_out=90),
        _entry(raw_score=0.55, score=0.55, rescored=[0.55], recall=0.6, held_out=90),
    ]
    assert best_so_far(entries, "significant") == [0.70, 0.70, 0.55]
    assert best_so_far(entries, "lowest") == [0.70, 0.66, 0.55]


def test_history_entries_are_read_by_the_writers_model() -> None:
    from mallm_gan.gan.optimizer import HistoryEntry

    entry = _entry(epoch=2, theta={"dag": [["a", "b"]], "instruction": "go"}, rescored=[0.6, float("nan")])
    assert isinstance(entry, HistoryEntry) and entry.theta.dag == (("a", "b"),) and entry.rescored == [0.6, None]
    assert read_entry(entry.to_dict()).to_dict() == entry.to_dict()  # what the loop writes reads back unchanged
    with pytest.raises(ConfigError, match="'epoch' is not an integer"):
        _entry(epoch="one")
    with pytest.raises(ConfigError, match="no 'split_seed'"):
        read_entry({"iteration": 0, "epoch": 0, "batch": 0, "theta": {}, "raw_score": 0.5, "score": 0.5,
                    "real_indices": [], "synthetic": []})
    with pytest.raises(ConfigError, match="unknown field"):
        _entry(theta={"edges": []})
