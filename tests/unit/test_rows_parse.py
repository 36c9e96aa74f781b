"""parse_rows: every kind of answer a model writes, good or bad, gives records and counted problems."""

from __future__ import annotations

import json

import pytest

from mallm_gan.gan.parsing import parse_rows

COLUMNS = ["age", "sex", "bmi"]
ROW1 = {"age": 30, "sex": "female", "bmi": 22.5}
ROW2 = {"age": 41, "sex": "male", "bmi": 30.1}
ROW3 = {"age": 58, "sex": "female", "bmi": 27.0}
ROWS = [ROW1, ROW2, ROW3]


def parse(text, columns=COLUMNS):
    return parse_rows(text, columns)


def test_plain_json_array():
    result = parse(json.dumps(ROWS))
    assert result.records == ROWS
    assert not result.problems
    assert result.truncated is False


@pytest.mark.parametrize("key", ["rows", "data", "records", "samples", "Rows"])
def test_wrapper_object_with_known_key(key):
    result = parse(json.dumps({key: ROWS, "note": "synthetic", "count": 3}))
    assert result.records == ROWS
    assert not result.problems


def test_object_with_exactly_one_list_value():
    result = parse(json.dumps({"synthetic_patients": ROWS, "comment": "done"}))
    assert result.records == ROWS


def test_nested_wrapper_object():
    result = parse(json.dumps({"response": {"rows": ROWS}}))
    assert result.records == ROWS


def test_single_object_that_is_a_row():
    result = parse(json.dumps(ROW1))
    assert result.records == [ROW1]
    assert not result.problems


def test_object_without_rows_is_counted():
    result = parse(json.dumps({"message": "hello", "status": "ok"}))
    assert result.records == []
    assert result.problems["not_a_row"] == 1


def test_positional_arrays_are_mapped_by_order_and_wrong_lengths_skipped():
    result = parse('[[30, "female", 22.5], [41, "male"], [58, "female", 27.0, 1]]')
    assert result.records == [ROW1]
    assert result.problems["wrong_length"] == 2


def test_single_positional_row_and_header_line():
    assert parse('[30, "female", 22.5]').records == [ROW1]
    result = parse('[["age", "sex", "bmi"], [30, "female", 22.5]]')
    assert result.records == [ROW1]  # the header is not a row
    assert not result.problems


def test_positional_arrays_without_columns_are_not_rows():
    result = parse_rows('[[30, "female", 22.5]]')
    assert result.records == []
    assert result.problems["not_a_row"] >= 1


def test_rows_without_columns_are_taken_as_written():
    assert parse_rows(json.dumps(ROWS)).records == ROWS


def test_column_oriented_object_is_transposed():
    text = json.dumps({"age": [30, 41], "sex": ["female", "male"], "bmi": [22.5, 30.1]})
    assert parse(text).records == [ROW1, ROW2]


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" + json.dumps(ROWS) + "\n```",
        "```\n" + json.dumps(ROWS) + "\n```",
        "```JSON " + json.dumps(ROWS, indent=2) + "```",
        "Here are the rows:\n\n```json\n" + json.dumps(ROWS) + "\n```\nLet me know if you need more!",
    ],
)
def test_markdown_fences(text):
    result = parse(text)
    assert result.records == ROWS
    assert not result.problems


def test_prose_before_and_after_with_apostrophes_and_brackets():
    text = (
        "Sure! Here's what you asked for [3 rows, as requested]:\n"
        + json.dumps(ROWS)
        + "\nI've kept the values realistic (ages 30-58). Don't hesitate to ask."
    )
    result = parse(text)
    assert result.records == ROWS
    assert not result.problems


def test_python_repr_dicts():
    text = repr([{"age": 30, "sex": "female", "bmi": 22.5, "smoker": True, "note": None}])
    assert text.startswith("[{'age'")
    result = parse(text)
    assert result.records == [{**ROW1, "smoker": True, "note": None}]


def test_python_repr_with_apostrophe_in_a_value_and_json_words():
    text = "[{'age': 30, 'sex': \"O'Neil\", 'bmi': null, 'smoker': true}, {'age': 41, 'sex': 'male', 'bmi': nan,}]"
    result = parse(text)
    assert result.records == [
        {"age": 30, "sex": "O'Neil", "bmi": None, "smoker": True},
        {"age": 41, "sex": "male", "bmi": None},
    ]


def test_repairs_never_touch_text_inside_strings():
    text = '[{"age": 30, "sex": "true, ]", "bmi": 22.5},]'
    assert parse(text).records == [{"age": 30, "sex": "true, ]", "bmi": 22.5}]


def test_eval_is_never_used():
    text = "[{'age': __import__('os').getpid(), 'sex': 'female', 'bmi': 1}]"
    result = parse(text)
    assert result.records == []
    assert result.problems  # counted, not executed


@pytest.mark.parametrize(
    "text",
    [
        '[{"age": 30, "sex": "female", "bmi": 22.5,}, {"age": 41, "sex": "male", "bmi": 30.1},]',
        '{"rows": [{"age": 30, "sex": "female", "bmi": 22.5}, {"age": 41, "sex": "male", "bmi": 30.1}, ],}',
        '[\n  {"age": 30, "sex": "female", "bmi": 22.5,\n  },\n  {"age": 41, "sex": "male", "bmi": 30.1}\n,\n]',
    ],
)
def test_trailing_commas(text):
    assert parse(text).records == [ROW1, ROW2]


def test_json_lines():
    text = "\n".join(json.dumps(r) for r in ROWS) + "\n"
    result = parse(text)
    assert result.records == ROWS
    assert not result.problems


def test_json_lines_with_a_broken_line():
    text = json.dumps(ROW1) + '\n{"age": 41, "sex": "male", "bmi": }\n' + json.dumps(ROW3)
    result = parse(text)
    assert result.records == [ROW1, ROW3]
    assert result.problems["bad_json"] == 1


def test_truncated_array_keeps_complete_rows():
    full = json.dumps(ROWS)
    text = full[: full.index('"bmi": 27.0')]  # cut inside the third row
    result = parse(text)
    assert result.records == [ROW1, ROW2]
    assert result.truncated is True
    assert result.problems["truncated"] == 1


def test_truncated_inside_a_string_in_a_fence():
    text = '```json\n{"rows": [{"age": 30, "sex": "female", "bmi": 22.5}, {"age": 41, "sex": "ma'
    result = parse(text)
    assert result.records == [ROW1]
    assert result.truncated


def test_truncated_positional_rows():
    result = parse('{"rows": [[30, "female", 22.5], [41, "male", 30.1], [58, "fem')
    assert result.records == [ROW1, ROW2]
    assert result.truncated


def test_every_prefix_of_an_answer_parses_without_error_and_only_to_complete_rows():
    text = "Here you go:\n```json\n" + json.dumps({"rows": ROWS}, indent=1) + "\n```\nEnjoy."
    last = 0
    for cut in range(len(text) + 1):
        result = parse(text[:cut])
        assert result.records == ROWS[: len(result.records)]
        assert len(result.records) >= last  # a longer answer never yields fewer rows
        last = len(result.records)
    assert last == 3


def test_broken_row_in_the_middle_keeps_the_others():
    text = '[{"age": 30, "sex": "female", "bmi": 22.5}, {"age": 41 "sex": "male"}, ' + json.dumps(ROW3) + "]"
    result = parse(text)
    assert result.records == [ROW1, ROW3]
    assert result.problems["bad_json"] == 1


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_content(text):
    result = parse(text)
    assert result.records == []
    assert result.problems == {"empty": 1}


def test_no_json_at_all():
    result = parse("I'm sorry, I cannot generate personal data.")
    assert result.records == []
    assert result.problems == {"no_json": 1}


def test_empty_list_is_no_rows():
    result = parse("[]")
    assert result.records == []
    assert result.problems == {"no_rows": 1}


def test_scalars_in_a_list_are_not_rows():
    result = parse('[{"age": 30, "sex": "female", "bmi": 22.5}, "and another", 7]')
    assert result.records == [ROW1]
    assert result.problems["not_a_row"] == 2


def test_json_encoded_twice():
    assert parse(json.dumps(json.dumps(ROWS))).records == ROWS


def test_keys_are_kept_as_written_for_the_validator():
    result = parse('[{"Age ": 30, "SEX": "Female", "bmi": 22.5, "id": 1}]')
    assert result.records == [{"Age ": 30, "SEX": "Female", "bmi": 22.5, "id": 1}]


@pytest.mark.parametrize(
    "text",
    ["{", "[", "}", "]]]", "{[}]", '"', "'", "```", "```json", "[{'a': 1", "\\", "[1, 2, {3: [}", "nan", "{'a'}"],
)
def test_garbage_never_raises(text):
    _check_garbage(text)


def test_deep_nesting_never_raises():
    for text in ["[" * 50_000, "[" * 50_000 + "]" * 50_000, "{'a': " * 20_000 + "1" + "}" * 20_000]:
        _check_garbage(text)


def _check_garbage(text):
    result = parse(text)
    assert result.records == []  # garbage holds no row
    assert sum(result.problems.values()) >= 1  # and says why
