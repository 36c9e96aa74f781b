"""The one tolerant-JSON scanner (table/jsontext) that the row parser, the optimizer reply reader and the
test responders share."""

from __future__ import annotations

from mallm_gan.gan.optimizer_reply import parse_optimizer_reply
from mallm_gan.table import jsontext
from mallm_gan.testing.responders import EchoRowsResponder


def test_loads_repairs_trailing_commas_and_python_literals_but_never_evaluates():
    assert jsontext.loads('{"a": [1, 2,],}') == {"a": [1, 2]}
    assert jsontext.loads("{'a': True, 'b': None}") == {"a": True, "b": None}
    assert jsontext.loads("{'a': true, 'b': null, 'c': 'null,]'}") == {"a": True, "b": None, "c": "null,]"}
    assert jsontext.loads("__import__('os').getcwd()") is jsontext.NOT_JSON
    assert jsontext.loads("[see above]") is jsontext.NOT_JSON


def test_scan_finds_each_top_level_value_and_where_it_ends():
    text = 'Here: {"a": 1} and [1, 2] then {"b": "x]"}'
    found = list(jsontext.scan(text))
    assert [f.value for f in found] == [{"a": 1}, [1, 2], {"b": "x]"}]
    assert text[found[1].start : found[1].end] == "[1, 2]"


def test_a_cut_off_value_ends_the_scan_and_keeps_its_complete_parts():
    text = '[{"a": 1}, {"a": 2}, {"a": '
    (found,) = jsontext.scan(text)
    assert not found.ok and found.end == -1
    assert [jsontext.loads(text[s:e]) for s, e in found.flats] == [{"a": 1}, {"a": 2}]


def test_descend_looks_inside_an_unreadable_value():
    text = "{dag: [['a', 'b']], note: x}"
    assert [f.value for f in jsontext.scan(text) if f.ok] == []
    assert [f.value for f in jsontext.scan(text, descend=True) if f.ok] == [[["a", "b"]]]


def test_values_reads_fences_first_and_an_unclosed_last_fence():
    text = 'prose [1]\n```json\n{"x": 1}\n```\nthen ```json\n{"y": 2}'
    assert jsontext.fenced_blocks(text) == ['{"x": 1}\n', '{"y": 2}']
    assert jsontext.values(text)[:2] == [{"x": 1}, {"y": 2}]


def test_the_optimizer_reader_takes_an_answer_whose_fence_never_closes():
    edges, instruction = parse_optimizer_reply('```json\n{"dag": [["a", "b"]], "instruction": "go"}', ["a", "b"])
    assert edges == [("a", "b")] and instruction == "go"


def test_the_echo_responder_reads_python_repr_examples_too():
    # gained by sharing the scanner: the responder used to read strict JSON only and echo the prompt back
    request = {"messages": [{"role": "user", "content": "Examples: [{'age': 30, 'sex': 'f'}] Write 2 rows."}]}
    rows = EchoRowsResponder(seed=0)(request)
    assert jsontext.loads(rows) and all(set(r) == {"age", "sex"} for r in jsontext.loads(rows))
