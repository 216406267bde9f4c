"""Finding JSON candidates in answers (_jsonscan) and repairing model JSON (_jsonrepair)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terse._extract.jsonrepair import MAX_DEPTH, repair
from terse._extract.jsonscan import MAX_CANDIDATES, scan

# --- scan -----------------------------------------------------------------------------------

SCAN_CASES = [
    # (text, candidate texts in order, truncated text or None)
    ('{"a": 1}', ['{"a": 1}'], None),
    ('Here: {"a": 1}. Done.', ['{"a": 1}'], None),
    ('x {"a": 1} y [1, 2] z', ['{"a": 1}', "[1, 2]"], None),
    ('{"a": {"b": [1, {"c": 2}]}}', ['{"a": {"b": [1, {"c": 2}]}}'], None),  # nested: one value
    ('{"a": "}"} and {"b": "{"}', ['{"a": "}"}', '{"b": "{"}'], None),  # braces in strings
    ('{"a": "say \\"}\\" ok"}', ['{"a": "say \\"}\\" ok"}'], None),  # escaped quotes
    ("it's a {'a': '}'} value", ["{'a': '}'}"], None),  # Python strings; a prose apostrophe
    ('a 5" screen, {"a": 1}', ['{"a": 1}'], None),  # an inch mark is not a string
    ('He said "see {x}" then {"a": 1}', ["{x}", '{"a": 1}'], None),  # values inside prose quotes
    ('Set {x | x > 0 . Final: {"a": 1}', ['{"a": 1}'], None),  # a stray opener hides nothing
    ('The interval [0, 1) and {"a": 1}', ['{"a": 1}'], None),
    ('{"a": [1, 2} then {"b": 2}', ['{"b": 2}'], None),  # a mismatched closer abandons
    ("no json here", [], None),
    ("} ] stray closers", [], None),
    # fences
    ('```json\n{"a": 1}\n```', ['{"a": 1}'], None),
    ('```\n{"a": 1}\n```', ['{"a": 1}'], None),
    ('~~~\n{"a": 1}\n~~~', ['{"a": 1}'], None),
    ('````md\n```json\n{"a": 1}\n```\n````', ['```json\n{"a": 1}\n```'], None),
    (
        'Draft {"a": 1}\n```json\n{"a": 2}\n```\nAfter {"a": 3}',
        ['{"a": 1}', '{"a": 2}', '{"a": 3}'],
        None,
    ),
    ('```json\n{"a": 1}\n', ['{"a": 1}'], None),  # unclosed fence around a whole value
    ('inline ```{"a": 1}``` code', ['{"a": 1}'], None),  # one-line "fence" is inline code
    ('```\n\n```\n{"a": 1}', ['{"a": 1}'], None),  # empty fence: no candidate
    # truncation: the text ends inside a value that is a valid JSON prefix
    ('Here: {"city": "Paris", "capi', [], '{"city": "Paris", "capi'),
    ('{"a": 1} then {"b": {"c": 2}, "d": [1,', ['{"a": 1}'], '{"b": {"c": 2}, "d": [1,'),
    ('{"a": tr', [], '{"a": tr'),
    ('{"a": 12.', [], '{"a": 12.'),
    ("[1, 2", [], "[1, 2"),
    ('```json\n{"a": [1,', [], '{"a": [1,'),
    ("see [", [], "["),
    ("The interval [0, 1) is open", [], None),  # open, but not JSON: not a cut value
    ("Use {x and y", [], None),
    ('```json\n{"a": [1,\n```\nthen prose', ['{"a": [1,'], None),  # closed fence: not cut
]


@pytest.mark.parametrize(("text", "texts", "cut"), SCAN_CASES)
def test_scan_finds_candidates_in_order(text: str, texts: list[str], cut: str | None) -> None:
    found = scan(text)
    assert [c.text for c in found.candidates] == texts
    assert (found.truncated.text if found.truncated else None) == cut


def test_fence_and_value_inside_it_are_one_candidate() -> None:
    found = scan('Answer:\n```json\n{"a": 1}\n```')
    assert [(c.kind, c.text, c.inner) for c in found.candidates] == [("fence", '{"a": 1}', ())]


def test_fence_with_prose_keeps_its_values_as_alternatives() -> None:
    found = scan('```python\nx = {"a": 1}\ny = [2]\n```')
    (only,) = found.candidates
    assert only.kind == "fence"
    assert only.inner == ('{"a": 1}', "[2]")


def test_candidates_report_offsets_and_kinds() -> None:
    text = 'a {"x": 1}\n```\n[2]\n```'
    found = scan(text)
    assert [(c.start, c.kind) for c in found.candidates] == [(2, "json"), (11, "fence")]


def test_only_the_last_candidates_are_kept() -> None:
    found = scan("[1] " * (MAX_CANDIDATES + 50) + '{"last": true}')
    assert len(found.candidates) == MAX_CANDIDATES
    assert found.candidates[-1].text == '{"last": true}'


def test_nesting_deeper_than_the_limit_is_noted_not_searched() -> None:
    found = scan("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert found.candidates == ()
    assert found.truncated is None
    assert "deeper" in found.notes[0]


# --- repair ---------------------------------------------------------------------------------

REPAIR_CASES = [
    # (text, repaired JSON as a Python value, repair names)
    ('{"a": [1, 2,],}', {"a": [1, 2]}, ("trailing_commas",)),
    ('{"a": 1 // one\n, /* two */ "b": 2} # end', {"a": 1, "b": 2}, ("comments",)),
    ("{'a': 'it\\'s \"x\"'}", {"a": 'it\'s "x"'}, ("single_quotes",)),
    ("{a: 1, b-c: 2, $d: 3, 4: 5}", {"a": 1, "b-c": 2, "$d": 3, "4": 5}, ("unquoted_keys",)),
    (
        '{"a": True, "b": False, "c": None}',
        {"a": True, "b": False, "c": None},
        ("python_literals",),
    ),
    ("{“city”: “Paris”, ‘n’: ’x’}", {"city": "Paris", "n": "x"}, ("smart_quotes",)),
    ('{"a": "line\nbreak\ttab"}', {"a": "line\nbreak\ttab"}, ("newlines_in_strings",)),
    ('  {"a": [1.5e3, -2, 0, "x"]}  ', {"a": [1500.0, -2, 0, "x"]}, ()),
    ("[]", [], ()),
    ("{}", {}, ()),
    ('"just a string"', "just a string", ()),
    ("-3", -3, ()),
]


@pytest.mark.parametrize(("text", "value", "names"), REPAIR_CASES)
def test_repair_fixes_model_json_and_names_each_fix(
    text: str, value: Any, names: tuple[str, ...]
) -> None:
    fixed = repair(text)
    assert fixed.status == "complete"
    assert json.loads(fixed.text) == value
    assert fixed.repairs == names


INVALID = [
    ("{city: Paris}", "bare word 'Paris'"),  # values are never invented
    ('{"a" 1}', "expected ':'"),
    ('{"a": 1} trailing', "text after the value"),
    ('{"a": 1]', "unmatched"),
    ("[1 2]", "expected ','"),
    ('{"a": 01}', "malformed number"),
    ("[2.1M]", "malformed number"),
    ("", "no value"),
    ("   // only a comment", "no value"),
    ("@", "unexpected character"),
    ("[" * (MAX_DEPTH + 1), "nesting deeper"),
]


@pytest.mark.parametrize(("text", "why"), INVALID)
def test_repair_refuses_what_it_cannot_fix_and_says_why(text: str, why: str) -> None:
    fixed = repair(text)
    assert fixed.status == "invalid"
    assert why in fixed.problem


@pytest.mark.parametrize(
    "text",
    ['{"a": 1', '{"a": "Par', '{"a": tr', '{"a": Fal', "[1, 2,", '{"a":', "{", "[-", '{"a": 1e'],
)
def test_repair_reports_a_cut_value_as_truncated(text: str) -> None:
    assert repair(text).status == "truncated"


# --- properties -----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
PROSE = st.text(alphabet=st.characters(blacklist_characters="{}[]\"'`"), max_size=40)


@given(JSON_VALUES, st.booleans())
def test_valid_json_passes_repair_unchanged(value: Any, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None, ensure_ascii=False)
    fixed = repair(text)
    assert fixed.status == "complete"
    assert fixed.repairs == ()
    assert json.loads(fixed.text) == value


@given(
    st.one_of(
        st.lists(JSON_VALUES, max_size=3), st.dictionaries(st.text(), JSON_VALUES, max_size=3)
    ),
    PROSE,
    PROSE,
)
def test_a_json_value_in_prose_is_the_last_candidate(value: Any, before: str, after: str) -> None:
    text = before + " " + json.dumps(value) + " " + after
    found = scan(text)
    assert found.candidates[-1].text == json.dumps(value)
    assert found.truncated is None


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("{}[]\"'`\\:,\n ab1~#/*“”")), max_size=60) | st.text())
def test_scan_and_repair_accept_any_text(text: str) -> None:
    found = scan(text)
    for c in found.candidates:
        assert c.text in text
    assert repair(text).status in ("complete", "truncated", "invalid")


@pytest.mark.parametrize("char", ["{", "[", '"', "'", "`", "\\"])
def test_a_megabyte_of_one_character_takes_well_under_a_second(char: str) -> None:
    text = char * 1_000_000
    t0 = time.perf_counter()
    scan(text)
    repair(text)
    assert time.perf_counter() - t0 < 1.0
