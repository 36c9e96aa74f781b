"""Bad input data: odd CSV files and awkward tables get either a run that completes with valid rows or a clear
error (a MallmGanError subclass naming the problem; from the CLI a non-zero exit and no traceback)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.cli.app import exit_code
from mallm_gan.errors import ConfigError, MallmGanError, SchemaError
from mallm_gan.gan.validation import RowValidator
from mallm_gan.table.io import read_table
from mallm_gan.table.schema import TableSchema
from mallm_gan.testing.simulated import SimulatedResponder

_load_commands()
runner = CliRunner()


def _base(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(20, 70, n),
            "income": rng.normal(3000, 800, n).round(2),
            "sex": rng.choice(["female", "male"], n),
            "city": rng.choice(["Paris, France", "Lyon, France", "Nice, France"], n),
            "label": rng.choice(["yes", "no"], n),
        }
    )


def _prompt_tokens(body: dict[str, Any]) -> int:
    return sum(math.ceil(len(m["content"]) / 4) for m in body["messages"])


def _fit(path: Path, url: str, run: Path, *extra: str, target: str = "label") -> Any:
    options = ["--epochs", "1", "--batch-size", "10", "--n-examples", "5", "--seed", "0", "--no-report"]
    args = ["fit", str(path), "--target", target, "--llm", f"openai:fake@{url}", *options]
    return runner.invoke(app, [*args, "--out", str(run), *extra])


def _fit_and_sample(
    path: Path, url: str, tmp_path: Path, *extra: str, target: str = "label", rows: int = 20
) -> tuple[TableSchema, pd.DataFrame, str]:
    run = tmp_path / "run"
    result = _fit(path, url, run, *extra, target=target)
    assert result.exit_code == 0, result.output
    out = tmp_path / "synthetic.csv"
    sampled = runner.invoke(app, ["sample", str(run), "--rows", str(rows), "--out", str(out)])
    assert sampled.exit_code == 0, sampled.output
    schema = TableSchema.from_dict(json.loads((run / "model.json").read_text(encoding="utf-8"))["schema"])
    frame = pd.read_csv(out, encoding="utf-8")
    assert len(frame) == rows and list(frame.columns) == schema.names
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    check = RowValidator(schema).validate(records)
    assert check.report.accepted == rows, check.report.summary()
    return schema, frame, out.read_text(encoding="utf-8")


def _assert_clean_failure(result: Any, *words: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    text = " ".join(result.output.split())
    assert "error:" in text
    for word in words:
        assert word in text, text


# -- reading files ------------------------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bom_and_separators(tmp_path):
    expected = pd.DataFrame({"age": [30, 40, 50], "height": [1.75, 1.82, 1.6], "city": ["Paris", "Lyon", "Nice"]})
    files = {
        "bom.csv": "\ufeffage,height,city\n30,1.75,Paris\n40,1.82,Lyon\n50,1.60,Nice\n".encode(),
        "semicolon_decimal_comma.csv": b"age;height;city\n30;1,75;Paris\n40;1,82;Lyon\n50;1,60;Nice\n",
        "bom_semicolon.csv": "\ufeffage;height;city\r\n30;1,75;Paris\r\n40;1,82;Lyon\r\n50;1,6;Nice\r\n".encode(),
        "tabs.tsv": b"age\theight\tcity\n30\t1.75\tParis\n40\t1.82\tLyon\n50\t1.6\tNice\n",
        "padded.csv": b" age , height , city\n30, 1.75, Paris\n40, 1.82, Lyon\n50, 1.6, Nice\n",
        "latin1.csv": "age;height;city\n30;1,75;Paris\n40;1,82;Lyon\n50;1,60;Nice\n".encode("latin-1"),
        "table.csv.gz": gzip.compress(b"age,height,city\n30,1.75,Paris\n40,1.82,Lyon\n50,1.6,Nice\n"),
    }
    for name, data in files.items():
        frame = read_table(_write(tmp_path / name, data))
        assert list(frame.columns) == list(expected.columns), name
        assert frame["age"].tolist() == [30, 40, 50], name
        assert frame["height"].tolist() == pytest.approx([1.75, 1.82, 1.6]), name
        assert frame["city"].tolist() == ["Paris", "Lyon", "Nice"], name


def test_quoted_commas_unicode_and_latin1(tmp_path):
    frame = read_table(
        _write(
            tmp_path / "q.csv",
            ('name,"Größe (cm)",取引額,city\n"Smith, John",170,"1,5",Zürich\n"Doe, Jane",182,"2,5",Genève\n').encode(),
        )
    )
    assert list(frame.columns) == ["name", "Größe (cm)", "取引額", "city"]
    assert frame["name"].tolist() == ["Smith, John", "Doe, Jane"]
    # in a comma-separated file "1,5" is quoted text, not a decimal: it is left as written
    assert frame["取引額"].tolist() == ["1,5", "2,5"]
    latin = read_table(_write(tmp_path / "l.csv", "nom,ville\nJosé,Zürich\nAnaïs,Genève\n".encode("latin-1")))
    assert latin["ville"].tolist() == ["Zürich", "Genève"]


def test_mixed_columns_and_missing_integers(tmp_path):
    path = _write(tmp_path / "m.csv", b"age,code,children\n34,12,1\n45,abc,\nunknown,7,2\n52,x,0\n?,12,3\n")
    frame = read_table(path)
    schema = TableSchema.from_dataframe(frame)
    # placeholders in a numeric column are missing values, not categories
    assert schema["age"].kind == "numerical" and schema["age"].dtype == "int"
    assert schema["age"].missing_rate == pytest.approx(0.4)
    # a truly mixed column stays text: its values are categories spelled as written
    assert schema["code"].kind == "categorical" and set(schema["code"].categories) == {"12", "abc", "7", "x"}
    assert schema["children"].dtype == "int" and schema["children"].missing_rate == pytest.approx(0.2)
    assert str(schema.cast(frame)["children"].dtype) == "Int64"


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        (b"", SchemaError, ["empty"]),
        (b"\n\n", SchemaError, ["empty"]),
        (b"a,b\n", SchemaError, ["no rows"]),
        (b"a,b\n1,2\n", SchemaError, ["single row"]),
        (b"a,a,b\n1,2,3\n4,5,6\n", SchemaError, ["'a'", "more than once"]),
        (b"a,b\n1,2\n3,4,5\n6,7\n", SchemaError, ["line 3"]),
        (b",b\n1,2\n3,4\n", SchemaError, ["column 1", "empty name"]),
        (b"a,b\n,2\n,4\n", SchemaError, ["'a'", "missing in every row"]),
    ],
    ids=["empty", "blank-lines", "header-only", "one-row", "duplicate-name", "ragged", "empty-name", "all-missing"],
)
def test_unreadable_tables_get_a_clear_error(tmp_path, content, error, words):
    path = _write(tmp_path / "bad.csv", content)
    with pytest.raises(error) as info:
        TableSchema.from_dataframe(read_table(path))
    for word in words:
        assert word in info.value.message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["empty"]),
        (b"a,b\n", ["no rows"]),
        (b"a,b\n1,2\n", ["single row"]),
        (b"a,a,b\n1,2,3\n4,5,6\n", ["'a'", "more than once"]),
        (b"a,b\n1,2\n3,4,5\n6,7\n", ["line 3"]),
        (None, ["does not exist"]),
    ],
    ids=["empty", "header-only", "one-row", "duplicate-name", "ragged", "missing-file"],
)
def test_cli_refuses_bad_files_cleanly(fake_server, tmp_path, content, words):
    server = fake_server(SimulatedResponder())
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    result = _fit(path, server.url, tmp_path / "run", target="a")
    _assert_clean_failure(result, *words)
    assert not server.requests


# -- awkward tables, full runs --------------------------------------------------------------------------------
def test_bom_semicolon_decimal_comma_run(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    path = tmp_path / "excel.csv"
    _base().to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8-sig")
    schema, _, _ = _fit_and_sample(path, server.url, tmp_path, "--dag", "none")
    assert schema.names == list(_base().columns)
    assert schema["income"].kind == "numerical" and schema["income"].dtype == "float"
    assert schema["city"].categories and "Paris, France" in schema["city"].categories


def test_unicode_column_names_run(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    names = {"age": "âge", "income": "revenu (€)", "sex": "性别", "city": "Größe Stadt", "label": "étiquette"}
    path = tmp_path / "unicode.csv"
    _base().rename(columns=names).to_csv(path, index=False)
    schema, _, _ = _fit_and_sample(path, server.url, tmp_path, "--dag", "none", target="étiquette")
    assert schema.names == list(names.values())
    assert pd.read_csv(tmp_path / "synthetic.csv").columns.tolist() == list(names.values())
    prompt = server.requests[0]["body"]["messages"][0]["content"]
    assert all(n in prompt for n in names.values())


def test_mixed_and_missing_and_dates_run(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    table = _base()
    table["age"] = table["age"].astype(object)
    table.loc[[3, 7, 11], "age"] = None  # integers with missing values
    table.loc[5, "age"] = "unknown"  # a placeholder in a number column
    table["code"] = ["A1", 12, "x", 7, "B"] * 6  # a truly mixed column
    table["visit"] = pd.date_range("2023-01-01", periods=30, freq="5D").strftime("%Y-%m-%d")
    path = tmp_path / "mixed.csv"
    table.to_csv(path, index=False)
    schema, frame, text = _fit_and_sample(path, server.url, tmp_path, "--dag", "none")
    assert schema["age"].kind == "numerical" and schema["age"].dtype == "int" and schema["age"].nullable
    assert schema["code"].kind == "categorical"
    assert schema["visit"].kind == "datetime"
    visits = pd.to_datetime(frame["visit"])
    assert visits.min() >= pd.Timestamp("2023-01-01") and visits.max() <= pd.Timestamp(table["visit"].iloc[-1])
    ages = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert all(a == "" or a.isdigit() for a in ages), "integer column written with decimals"


def test_constant_columns_with_structure_search(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    table = _base()
    table["country"] = "FR"
    table["version"] = 3
    path = tmp_path / "constant.csv"
    table.to_csv(path, index=False)
    _, frame, _ = _fit_and_sample(path, server.url, tmp_path)  # default --dag: hill climbing
    assert set(frame["country"]) == {"FR"} and set(frame["version"]) == {3}


def test_target_with_one_class(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    table = _base()
    table["label"] = "yes"
    path = tmp_path / "one_class.csv"
    table.to_csv(path, index=False)
    run = tmp_path / "run"
    result = _fit(path, server.url, run, "--dag", "none")
    if result.exit_code == 0:
        sampled = runner.invoke(app, ["sample", str(run), "--rows", "10", "--out", str(tmp_path / "s.csv")])
        assert sampled.exit_code == 0, sampled.output
        assert set(pd.read_csv(tmp_path / "s.csv")["label"]) == {"yes"}
    else:
        _assert_clean_failure(result, "label")


# -- very wide tables and the prompt budget -------------------------------------------------------------------
def _wide(n: int = 30, width: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({f"feature_{i:03d}": rng.normal(50, 10, n).round(2) for i in range(width - 1)})
    table["label"] = rng.choice(["yes", "no"], n)
    return table


def test_wide_table_stays_within_the_prompt_budget(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    path = tmp_path / "wide.csv"
    _wide().to_csv(path, index=False)
    # 200 columns and 30 rows: the stand-in mixes example values column by column, which puts its rows nearer
    # to one real row than real rows are to each other, so the release gate would withhold nearly all of them;
    # this test is about the prompt budget, so the gate is off
    result = _fit(path, server.url, tmp_path / "run", "--dag", "none", "--epochs", "1", "--batch-size", "15",
                  "--release-gate", "off")
    assert result.exit_code == 0, result.output
    assert server.requests
    assert max(_prompt_tokens(r["body"]) for r in server.requests) <= 6000  # the default budget


def test_wide_table_over_the_budget_is_refused_before_any_call(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    path = tmp_path / "wide.csv"
    _wide().to_csv(path, index=False)
    result = _fit(path, server.url, tmp_path / "run", "--dag", "none", "--max-prompt-tokens", "3000")
    assert result.exit_code == exit_code(ConfigError), result.output
    _assert_clean_failure(result, "200 columns", "--max-prompt-tokens")
    assert not server.requests


def test_prompt_budget_holds_for_every_prompt_not_only_the_first(fake_server, tmp_path):
    # short numbers in the first rows, long ones later: a budget judged on the first rows alone is too low
    table = _wide(width=120)
    numbers = [c for c in table.columns if c != "label"]
    table.loc[:4, numbers] = 1.0
    table.loc[5:, numbers] = table.loc[5:, numbers] * 1000 + 0.25
    path = tmp_path / "sorted.csv"
    table.to_csv(path, index=False)
    server = fake_server(SimulatedResponder())
    # the size of a prompt showing the first five rows, plus a little: the later rows' prompts do not fit
    from mallm_gan.gan.prompts import generator_messages
    from mallm_gan.theta.process import DataGenerationProcess

    frame = read_table(path)
    schema = TableSchema.from_dataframe(frame, target="label")
    theta = DataGenerationProcess(context="", dag=(), instruction="x" * 200)
    first = sum(math.ceil(len(m["content"]) / 4) for m in generator_messages(theta, schema, frame.head(5), n_rows=5))
    budget = first + 300
    result = _fit(path, server.url, tmp_path / "run", "--dag", "none", "--max-prompt-tokens", str(budget))
    if result.exit_code == 0:
        biggest = max(_prompt_tokens(r["body"]) for r in server.requests)
        assert biggest <= budget, f"a prompt of ~{biggest} tokens was sent with --max-prompt-tokens {budget}"
    else:
        _assert_clean_failure(result, "--max-prompt-tokens")
        assert not server.requests


def test_schema_errors_are_mallm_gan_errors():
    # the API raises the same clear errors as the CLI shows
    with pytest.raises(MallmGanError):
        TableSchema.from_dataframe(pd.DataFrame({"a": [1]}))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"n_examples": 10, "batch_size": 5}, "must not exceed batch_size"),
        ({"copy_policy": "sometimes"}, "copy_policy must be"),
        ({"generator_temperature": 3.0}, "generator_temperature must be between 0 and 2"),
        ({"selection": "smallest"}, "selection must be one of"),
        ({"patience": 0}, "patience must be >= 1"),
    ],
)
def test_bad_parameters_are_refused_before_any_call(params, named):
    frame = pd.DataFrame({"a": [1, 2, 3, 4, 5, 6], "b": ["x", "y"] * 3})
    with pytest.raises(ConfigError, match=named):
        MallmGan(llm="simulated", **params).fit(frame)
