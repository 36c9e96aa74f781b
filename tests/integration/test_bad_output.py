"""Bad LLM output, kind by kind, as complete runs through the fake server and the real HTTP client.

Each responder wraps the simulated backend's answer (valid ``{"rows": [[...], ...]}`` JSON) and spoils it the
way real models do. A run must then deliver exactly the rows asked for, every one valid, or fail with a
:class:`GenerationError` that carries the counts; no other exception type may escape.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli.app import exit_code
from mallm_gan.errors import GenerationError
from mallm_gan.gan.answer_schema import column_schemas
from mallm_gan.gan.validation import RowValidator
from mallm_gan.runstate import to_records
from mallm_gan.table.coerce import normalise_frame
from mallm_gan.testing.responders import Reply
from mallm_gan.testing.simulated import SimulatedResponder

Transform = Callable[[list[list[Any]], list[str], dict[str, Any]], "str | Reply"]
_EXAMPLES = re.compile(r"<examples>.*?(\{\"columns\".*?\]\s*\]\s*\})\s*</examples>", re.S)


# -- helpers ------------------------------------------------------------------------------------------------
def _is_generator(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema", {}).get("title") == "rows"


def _columns(body: dict[str, Any]) -> list[str]:
    return list(column_schemas(body["response_format"]["json_schema"]["schema"]))


def _examples(body: dict[str, Any]) -> list[list[Any]]:
    """The real example rows the prompt shows (what a copying model would reproduce)."""
    match = _EXAMPLES.search(body["messages"][-1]["content"])
    return json.loads(match.group(1))["rows"] if match else []


class Spoiler:
    """Simulated answers, with every ``every``-th generator answer passed through ``transform``."""

    def __init__(self, transform: Transform, *, every: int = 1) -> None:
        self.sim = SimulatedResponder()
        self.transform = transform
        self.every = every
        self.generator_calls = 0
        self.spoiled = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        answer = self.sim(body)
        if not _is_generator(body):
            return answer
        with self._lock:
            self.generator_calls += 1
            if self.generator_calls % self.every:
                return answer
            self.spoiled += 1
        rows = [list(r.values()) if isinstance(r, dict) else r for r in json.loads(answer)["rows"]]
        return self.transform(rows, _columns(body), body)


def _train(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "insurance" / "splits" / "n100" / "train.csv").head(40)
    assert not frame.duplicated().any()  # every training record is unique: any copy must be rejected
    return frame


def _model(url: str, **params: Any) -> MallmGan:
    # these tests count every parsed row; the responders echo examples with small jitter, which the release
    # gate would withhold as near copies (tested in test_privacy_end_to_end.py), so it is off here
    settings: dict[str, Any] = {"epochs": 1, "batch_size": 20, "n_examples": 5, "rows_per_call": 5, "random_state": 0,
                                "release_gate": "off"}
    settings.update(params)
    return MallmGan(llm=f"openai:fake@{url}", **settings)


def _fit_and_sample(server_factory, responder, train: pd.DataFrame, n: int = 20, **params: Any):
    server = server_factory(responder)
    model = _model(server.url, **params).fit(train, target="charges", dag="none")
    frame = model.sample(n)
    return model, frame, server


def _merged_fit_report(model: MallmGan) -> dict[str, Counter]:
    out: dict[str, Counter] = {"reasons": Counter(), "notes": Counter(), "parse": Counter(), "counts": Counter()}
    for entry in model.history_.entries:
        out["reasons"].update(entry.report.get("reasons", {}))
        out["notes"].update(entry.report.get("notes", {}))
        out["parse"].update(entry.report.get("parse_problems", {}))
        out["counts"].update({"generated": entry.report["generated"], "accepted": entry.report["accepted"]})
    return out


def _by_column(report: dict[str, Any], reason: str) -> dict[str, int]:
    return report.get("by_column", {}).get(reason, {})


def assert_valid(frame: pd.DataFrame, model: MallmGan, n: int) -> None:
    """``n`` rows in schema order and dtypes, every value valid, none a copy of a unique training record."""
    schema = model.schema_
    assert len(frame) == n
    assert list(frame.columns) == schema.names
    assert list(frame.dtypes) == list(schema.cast(frame).dtypes)
    check = RowValidator(schema, model.train_, copy_policy="allow").validate(to_records(frame))
    assert check.report.accepted == n, check.report.summary()
    counts = Counter(normalise_frame(model.train_, schema))
    rows = normalise_frame(frame, schema)
    assert not [r for r in rows if counts.get(r) == 1], "a returned row copies a unique training record"


def assert_valid_history(model: MallmGan) -> None:
    for entry in model.history_.entries:
        frame = model.schema_.cast(pd.DataFrame(entry.synthetic, columns=model.schema_.names))
        assert_valid(frame, model, len(frame))
        assert len(frame) == 20  # the batch asked for 4 calls x 5 rows


# -- transforms ---------------------------------------------------------------------------------------------
def _compact(rows: list[list[Any]]) -> str:
    return json.dumps({"rows": rows})


def prose(rows, columns, body):
    return f"Sure! Here are {len(rows)} new rows for you:\n{_compact(rows)}\nLet me know if you need more (or fewer)."


def fence(rows, columns, body):
    return "Here you go.\n```json\n" + json.dumps({"rows": rows}, indent=2) + "\n```\n"


def python_repr(rows, columns, body):
    return repr({"rows": [dict(zip(columns, r, strict=True)) for r in rows]})


def trailing_commas(rows, columns, body):
    inner = ",\n".join("[" + ", ".join(json.dumps(v) for v in r) + ",]" for r in rows)
    return '{"rows": [\n' + inner + ",\n],}"


class Truncate:
    """Cut the answer at 70% with finish_reason "length"; count the rows that were complete before the cut."""

    def __init__(self) -> None:
        self.complete = 0
        self._lock = threading.Lock()

    def __call__(self, rows, columns, body):
        parts = [json.dumps(r) for r in rows]
        text = '{"rows": [' + ", ".join(parts) + "]}"
        cut = int(len(text) * 0.7)
        end, complete = len('{"rows": ['), 0
        for part in parts:
            end += len(part)
            if end <= cut:
                complete += 1
            end += 2
        with self._lock:
            self.complete += complete
        return Reply(text[:cut], "length")


class WrongTypes:
    """Numbers as text: "42 years", "12,345.678", "3" (children); every 5th row has "N/A" in bmi (required)."""

    def __init__(self) -> None:
        self.sent: set[tuple[int, float]] = set()
        self._lock = threading.Lock()

    def __call__(self, rows, columns, body):
        out = []
        for i, row in enumerate(rows):
            rec = dict(zip(columns, row, strict=True))
            age, charges = rec["age"], rec["charges"]
            rec["age"] = f"{age} years"
            rec["charges"] = f"{charges:,.3f}"
            rec["children"] = str(rec["children"])
            if i % 5 == 4:
                rec["bmi"] = "N/A"
            else:
                with self._lock:
                    self.sent.add((int(age), round(float(charges), 3)))
            out.append([rec[c] for c in columns])
        return _compact(out)


def categories(rows, columns, body):
    out = []
    for i, row in enumerate(rows):
        rec = dict(zip(columns, row, strict=True))
        rec["sex"] = rec["sex"].upper()
        rec["smoker"] = rec["smoker"].title()
        rec["region"] = " " + rec["region"].capitalize() + " "
        if i % 4 == 3:
            rec["region"] = "atlantis"  # a category the schema does not have
        out.append([rec[c] for c in columns])
    return _compact(out)


def keyed_rows(rows, columns, body):
    """Rows as objects: some keys in other case, an extra key, and every 4th row without bmi."""
    out = []
    for i, row in enumerate(rows):
        rec: dict[str, Any] = {}
        for name, value in zip(columns, row, strict=True):
            rec[name.upper() if name in ("age", "region") else name] = value
        rec["comment"] = "a plausible person"
        if i % 4 == 3:
            del rec["bmi"]
        out.append(rec)
    return json.dumps({"rows": out})


def copy_examples(rows, columns, body):
    """The first two rows copy real example rows from the prompt verbatim."""
    examples = _examples(body)
    return _compact(examples[:2] + rows[2:])


def empty(rows, columns, body):
    return ""


class ObjectNotList:
    """An object where a list belongs: rows keyed by number, or a single row object (one row, not five)."""

    def __init__(self) -> None:
        self.rows_written = 0
        self._lock = threading.Lock()

    def __call__(self, rows, columns, body):
        keyed = rows[0][0] % 2 == 1
        with self._lock:
            self.rows_written += len(rows) if keyed else 1
        if keyed:
            return json.dumps({"rows": {str(i + 1): dict(zip(columns, r, strict=True)) for i, r in enumerate(rows)}})
        return json.dumps(dict(zip(columns, rows[0], strict=True)))


_GARBAGE = [
    "null",
    "[]",
    "{}",
    '{"rows": 5}',
    '{"rows": [[1, 2]]}',
    "I am sorry, I cannot help with that.",
    '{"rows": [["a", "b", "c", "d", "e", "f", "g"]]}',
    "[[[[[[[[[[1]]]]]]]]]]",
    '{"rows": [[1e400, 1, 1, 1, 1, 1, 1]]}',
    "```\n```",
    '"just a string"',
    json.dumps(json.dumps({"rows": [[1]]})),
    "{'rows': [[None, None]]}",
    "[" * 200,
    '{"rows": [{"age": {"nested": [1, 2]}}]}',
    "\x00\x01\x02",
    "<rows><row/></rows>",
]


def garbage(rows, columns, body):
    return _GARBAGE[rows[0][0] % len(_GARBAGE)]


# -- tests ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", [prose, fence, python_repr, trailing_commas], ids=lambda f: f.__name__)
def test_wrapped_json_loses_no_row(fake_server, shared_data, transform):
    train = _train(shared_data)
    responder = Spoiler(transform)
    model, frame, _ = _fit_and_sample(fake_server, responder, train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    fit = _merged_fit_report(model)
    # every answer was read whole: 5 rows recovered per generator call, no parse problem noted
    fit_calls = sum(e.calls for e in model.history_.entries) - (len(model.history_) - 1)
    assert fit["counts"]["generated"] == 5 * fit_calls
    assert not fit["parse"] and not model.sample_report_.parse_problems, fit["parse"]
    assert model.sample_report_.generated == 20
    assert responder.spoiled == responder.generator_calls


def test_truncated_answers_keep_complete_rows(fake_server, shared_data):
    train = _train(shared_data)
    cut = Truncate()
    model, frame, server = _fit_and_sample(fake_server, Spoiler(cut), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    fit = _merged_fit_report(model)
    sampled = model.sample_report_
    # exactly the rows complete before the cut were recovered, and the cut was counted
    assert fit["counts"]["generated"] + sampled.generated == cut.complete
    assert fit["parse"]["truncated"] > 0 and sampled.parse_problems["truncated"] > 0
    assert 0 < cut.complete < 5 * len([r for r in server.requests if _is_generator(r["body"])])


def test_wrong_types_are_repaired_or_rejected(fake_server, shared_data):
    train = _train(shared_data)
    wrong = WrongTypes()
    model, frame, _ = _fit_and_sample(fake_server, Spoiler(wrong), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    # "42 years" -> 42 and "12,345.678" -> 12345.678: the values the model meant, not a fragment of them
    got = {(int(a), round(float(c), 3)) for a, c in zip(frame["age"], frame["charges"], strict=True)}
    assert got <= wrong.sent
    # "N/A" in a required column is a missing value, rejected and counted against its column
    report = model.sample_report_.to_dict()
    assert _by_column(report, "missing_value").get("bmi", 0) >= 1
    assert report["reasons"].get("missing_value", 0) >= 1
    assert report["rejected"] == report["generated"] - report["accepted"]


def test_categories_in_other_case_or_unknown(fake_server, shared_data):
    train = _train(shared_data)
    model, frame, _ = _fit_and_sample(fake_server, Spoiler(categories), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    # other case and stray spaces are mapped to the schema's spelling
    assert set(frame["sex"]) <= {"female", "male"} and set(frame["smoker"]) <= {"yes", "no"}
    assert set(frame["region"]) <= set(model.schema_["region"].categories)
    report = model.sample_report_.to_dict()
    assert _by_column(report, "unknown_category") == {"region": report["reasons"]["unknown_category"]}
    assert report["reasons"]["unknown_category"] >= 1
    assert set(report["reasons"]) <= {"unknown_category", "copy_of_unique_record"}


def test_missing_and_extra_keys(fake_server, shared_data):
    train = _train(shared_data)
    model, frame, _ = _fit_and_sample(fake_server, Spoiler(keyed_rows), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    report = model.sample_report_.to_dict()
    assert _by_column(report, "missing_value") == {"bmi": report["reasons"]["missing_value"]}
    assert report["notes"]["extra_key"] == report["generated"]
    assert report["notes"]["renamed_key"] == 2 * report["generated"]  # "AGE" and "REGION" in every row


def test_rows_copying_an_example_are_rejected(fake_server, shared_data):
    train = _train(shared_data)
    model, frame, _ = _fit_and_sample(fake_server, Spoiler(copy_examples), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    fit = _merged_fit_report(model)
    assert fit["reasons"]["copy_of_unique_record"] >= 2 * 4  # two copies in each first-round call
    assert model.sample_report_.reasons["copy_of_unique_record"] >= 2 * 4
    train_rows = set(normalise_frame(model.train_, model.schema_))
    assert not set(normalise_frame(frame, model.schema_)) & train_rows


def test_empty_content_is_survived(fake_server, shared_data):
    train = _train(shared_data)
    responder = Spoiler(empty, every=3)
    model, frame, _ = _fit_and_sample(fake_server, responder, train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    assert responder.spoiled >= 2
    problems = _merged_fit_report(model)["parse"] + model.sample_report_.parse_problems
    assert problems["empty"] == responder.spoiled


def test_object_instead_of_list(fake_server, shared_data):
    train = _train(shared_data)
    shapes = ObjectNotList()
    model, frame, _ = _fit_and_sample(fake_server, Spoiler(shapes), train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    # every row written was recovered, whichever of the two shapes carried it
    assert _merged_fit_report(model)["counts"]["generated"] + model.sample_report_.generated == shapes.rows_written


def test_garbage_mixed_with_good_answers(fake_server, shared_data):
    train = _train(shared_data)
    responder = Spoiler(garbage, every=2)
    model, frame, _ = _fit_and_sample(fake_server, responder, train)
    assert_valid(frame, model, 20)
    assert_valid_history(model)
    assert responder.spoiled >= 4


@pytest.mark.parametrize("transform", [empty, garbage, copy_examples], ids=lambda f: f.__name__)
def test_nothing_usable_fails_with_counts(fake_server, shared_data, transform):
    train = _train(shared_data)

    def only_bad(rows, columns, body):
        if transform is copy_examples:
            return _compact(_examples(body))
        return transform(rows, columns, body)

    server = fake_server(Spoiler(only_bad))
    model = _model(server.url, max_rounds=2)
    with pytest.raises(GenerationError) as info:
        model.fit(train, target="charges", dag="none")
    error = info.value
    assert error.fields["accepted"] == 0
    assert error.fields["calls"] == len(server.requests) > 0
    assert "only 0 valid rows" in error.message
    counts = error.fields["counts"]
    assert set(counts) >= {"generated", "accepted", "reasons", "parse_problems"}
    if transform is empty:
        assert counts["parse_problems"]["empty"] == error.fields["calls"]
    if transform is copy_examples:
        assert counts["reasons"]["copy_of_unique_record"] == counts["generated"] > 0


def test_cli_reports_unusable_answers_without_traceback(fake_server, shared_data, tmp_path):
    from mallm_gan.cli import _load_commands, app

    _load_commands()
    server = fake_server(Spoiler(empty))
    path = tmp_path / "train.csv"
    _train(shared_data).to_csv(path, index=False)
    options = ["--epochs", "1", "--batch-size", "20", "--seed", "0", "--dag", "none", "--no-report"]
    args = ["fit", str(path), "--target", "charges", "--llm", f"openai:fake@{server.url}", *options]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == exit_code(GenerationError), result.output
    assert "only 0 valid rows" in result.output and "empty" in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, GenerationError)  # mapped to an exit code, not raised
