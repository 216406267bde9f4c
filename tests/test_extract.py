"""terse.extract and friends: typed values from the answer, never from the reasoning."""

from __future__ import annotations

import dataclasses
import logging
import time
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from terse import ExtractionError, Split, TerseError, UsageError
from terse._extract.extract import (
    Extracted,
    extract,
    extract_boxed,
    extract_choice,
    extract_details,
)
from terse._extract.targets import target_for


class City(BaseModel):
    city: str
    population: int
    capital: bool


class CityWithDefault(BaseModel):
    city: str
    population: int
    capital: bool = False


PARIS = City(city="Paris", population=2102650, capital=True)
LYON = '{"city": "Lyon", "population": 522250, "capital": false}'
PARIS_JSON = '{"city": "Paris", "population": 2102650, "capital": true}'

# --- the probe inputs (peers.md §5): drafts in the reasoning are schema-valid Lyon objects ----

PROBES_PARIS = {
    "01 plain JSON": PARIS_JSON,
    "02 think with braces and a draft, fenced answer with a trailing comma": (
        "<think>The schema wants {city, population, capital}. A first draft:\n"
        f"{LYON}\nNo — the capital is Paris.</think>\n\n"
        '```json\n{"city": "Paris", "population": 2102650, "capital": true,}\n```'
    ),
    "03 close-only reasoning with a draft": (
        f"Okay, the user wants a city. Maybe {LYON}? No, Paris.\n</think>\n\n{PARIS_JSON}"
    ),
    "05 prose around the JSON": f"Sure! Here is the data you asked for: {PARIS_JSON} Hope it helps.",
    "06 two objects, the last corrects the first": (
        f"{LYON}\n\nWait, I misread the question. Corrected:\n\n{PARIS_JSON}"
    ),
    "07 think then a Python dict": (
        "<think>Python style is fine.</think>\n"
        "{'city': 'Paris', 'population': 2102650, 'capital': True}"
    ),
    "08 fenced draft in think, fenced answer": (
        f"<think>Draft:\n```json\n{LYON}\n```\nHmm, Lyon is not the capital.</think>\n"
        f"```json\n{PARIS_JSON}\n```"
    ),
    "12 gpt-oss harmony channels": (
        f"<|channel|>analysis<|message|>Draft {LYON}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{PARIS_JSON}"
    ),
    "13 a literal think tag inside a JSON string": (
        '{"city": "Paris", "population": 2102650, "capital": true, '
        '"note": "the <think> and </think> tags"}'
    ),
}


@pytest.mark.parametrize("text", PROBES_PARIS.values(), ids=PROBES_PARIS.keys())
def test_probe_returns_the_answer_not_the_reasoning_draft(text: str) -> None:
    assert extract(text, City) == PARIS


PROBES_FAIL = {
    "04 unclosed think with a draft, cut by max_tokens": f"<think>Let me draft: {LYON} and then",
    "09 answer cut mid-key": ('<think>ok</think>{"city": "Paris", "population": 2102650, "capi'),
}


@pytest.mark.parametrize("text", PROBES_FAIL.values(), ids=PROBES_FAIL.keys())
def test_probe_with_no_complete_answer_raises(text: str) -> None:
    with pytest.raises(ExtractionError):
        extract(text, City)


def test_probe_10_bare_label_after_reasoning_quoting_both_labels() -> None:
    text = '<think>Is it "spam" or "ham"? It reads like a friend. Not spam.</think>\n\nham'
    assert extract(text, Literal["spam", "ham"]) == "ham"


def test_probe_11_list_after_bracketed_reasoning() -> None:
    text = (
        '<think>Populations like [2.1M] and [0.5M]; a draft ["Lyon"]...</think>\n'
        '["Paris", "Marseille", "Lyon", "Toulouse"]'
    )
    assert extract(text, list[str]) == ["Paris", "Marseille", "Lyon", "Toulouse"]


def test_a_cut_answer_never_becomes_a_valid_object_through_a_default() -> None:
    """peers.md §5.3: json_repair turns this into capital=False; terse refuses."""
    text = '<think>ok</think>{"city": "Paris", "population": 2102650, "capi'
    with pytest.raises(ExtractionError, match="unfinished JSON value"):
        extract(text, CityWithDefault)


def test_partial_mode_completes_a_cut_answer_and_says_so() -> None:
    text = '<think>ok</think>{"city": "Paris", "population": 2102650, "capi'
    got = extract_details(text, CityWithDefault, partial=True)
    assert got.value == CityWithDefault(city="Paris", population=2102650)
    assert got.repairs == ("partial",)


def test_partial_mode_completes_a_cut_string_and_repairs_first() -> None:
    got = extract_details("{'tags': ['a', 'b'], 'name': 'Par", dict, partial=True)
    assert got.value == {"tags": ["a", "b"], "name": "Par"}
    assert got.repairs == ("single_quotes", "partial")


# --- no answer, salvage ---------------------------------------------------------------------

NO_ANSWER = [
    ('<think>\n{"a": 1}\n</think>\n\n', "without writing one"),
    ('<think>{"a": 1} and still thinking', "thinking never ended"),
    (Split('{"a": 1}', "", closed=True), "without writing one"),
    (Split('{"a": 1}', "", closed=False), "thinking never ended"),
]


@pytest.mark.parametrize(("text", "why"), NO_ANSWER)
def test_no_answer_raises_even_when_the_reasoning_holds_valid_json(text: Any, why: str) -> None:
    with pytest.raises(ExtractionError, match=why) as err:
        extract(text, dict)
    assert err.value.reasoning.strip().startswith('{"a": 1}')
    assert err.value.text == ""


@pytest.mark.parametrize(("text", "why"), NO_ANSWER)
def test_salvage_searches_the_reasoning_says_so_and_logs_it(
    text: Any, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="terse"):
        got = extract_details(text, dict, salvage=True)
    assert got.value == {"a": 1}
    assert got.source == "reasoning"
    assert any("salvaging" in r.getMessage() and r.name == "terse" for r in caplog.records)


def test_salvage_changes_nothing_when_there_is_an_answer() -> None:
    got = extract_details('<think>{"a": 1}</think>{"a": 2}', dict, salvage=True)
    assert (got.value, got.source) == ({"a": 2}, "answer")


def test_salvage_that_finds_nothing_still_raises() -> None:
    with pytest.raises(ExtractionError, match="salvage failed"):
        extract("<think>no json here", dict, salvage=True)


# --- selection ------------------------------------------------------------------------------

SELECTION = [
    # (answer, value, kind, repairs)
    ('{"n": 1}', {"n": 1}, "whole", ()),
    ('First {"n": 1}, then {"n": 2}.', {"n": 2}, "json", ()),
    ('{"n": 1}\n```json\n{"n": 2}\n```', {"n": 2}, "fence", ()),
    ('```json\n{"n": 1}\n```\nActually: {"n": 2}', {"n": 2}, "json", ()),
    ('{"n": 1} and then {"n": "two"}', {"n": 1}, "json", ()),  # the last *valid* one
    ('```python\nresult = {"n": 3}\n```', {"n": 3}, "fence", ()),
    (
        "```\n{n: 4, // four\n}\n```",
        {"n": 4},
        "fence",
        ("unquoted_keys", "comments", "trailing_commas"),
    ),
    ("{“n”: 5}", {"n": 5}, "whole", ("smart_quotes",)),
]


class N(TypedDict):
    n: int


@pytest.mark.parametrize(("answer", "value", "kind", "repairs"), SELECTION)
def test_the_last_valid_candidate_wins(
    answer: str, value: Any, kind: str, repairs: tuple[str, ...]
) -> None:
    got = extract_details(answer, N)
    assert (got.value, got.kind, got.repairs, got.source) == (value, kind, repairs, "answer")
    assert got.candidate in answer


def test_a_split_is_searched_as_it_is() -> None:
    sp = Split(reasoning='{"n": 1}', answer='{"n": 2}', closed=True)
    assert extract(sp, N) == {"n": 2}


@dataclasses.dataclass
class Point:
    x: int
    y: int


TYPED = [
    ('```json\n{"x": 1, "y": 2}\n```', Point, Point(1, 2)),
    ('{"x": 1, "y": 2}', dict[str, int], {"x": 1, "y": 2}),
    ("[1, 2, 3]", list[int], [1, 2, 3]),
    ("Result: [1, 2, 3]", tuple[int, ...], (1, 2, 3)),
    ('"Paris"', Any, "Paris"),
    ('{"a": [1, {"b": null}]}', Any, {"a": [1, {"b": None}]}),
    ('[1, 2] or {"x": 1, "y": 2}', list[int] | Point, Point(1, 2)),
    ("null", int | None, None),
]


@pytest.mark.parametrize(("answer", "target", "value"), TYPED)
def test_any_type_pydantic_accepts_is_atarget_for(answer: str, target: Any, value: Any) -> None:
    assert extract(answer, target) == value


# --- scalars from prose ---------------------------------------------------------------------

NUMBERS = [
    ("42", int, 42),
    ("42.", int, 42),
    ("The population is 2,102,650.", int, 2102650),
    ("1 234", int, 1234),
    ("It has 1\u202f234 rooms.", int, 1234),
    ("The answer is 2.5", float, 2.5),
    ("-7", int, -7),
    ("4200 + 40 = 4240, + 2 = 4242. The answer is **4242**.", int, 4242),
    ("Step 1: 3 + 4 = 7.\nStep 2: 7 * 6 = 42", int, 42),  # a closing "= 42"
    ("We add 3 and 4.\n\n**7**", int, 7),  # the last line, alone
    ("Add **2** and **2**: the total is 4 = 4", int, 4),
    ("Thus $\\boxed{12}$ apples (out of 30).", int, 12),
    ("The result is 45% of 200.", int, 45),
    ("Final answer: 3.0", int, 3),
]


@pytest.mark.parametrize(("answer", "target", "value"), NUMBERS)
def test_numbers_stated_in_prose(answer: str, target: Any, value: Any) -> None:
    got = extract(answer, target)
    assert got == value
    assert type(got) is target


NOT_A_NUMBER = [
    "There are 3 apples and 5 pears.",  # several, none marked
    "Add **2** and **2** to get 4.",  # bold for emphasis, the answer unmarked
    "The answer is 2.5",  # int wanted
    "The answer is 5. No wait, the answer is 6.",  # two stated answers
    "Paris has 2.1M people",  # "2.1M" is not a number token
    "No number at all",
    "",
]


@pytest.mark.parametrize("answer", NOT_A_NUMBER)
def test_unmarked_or_ambiguous_numbers_raise_instead_of_guessing(answer: str) -> None:
    with pytest.raises(ExtractionError):
        extract(f"<think>maybe 7</think>{answer}", int)


BOOLS = [
    ("Yes", True),
    ("no.", False),
    ("**True**", True),
    ("Yes, a banana is botanically a berry.", True),
    ("No — it is a vegetable.", False),
    ("The answer is: no", False),
    ("Bananas are berries.\n\nAnswer: yes", True),
    ("false", False),
]


@pytest.mark.parametrize(("answer", "value"), BOOLS)
def test_bools_stated_unambiguously(answer: str, value: bool) -> None:
    assert extract(f"<think>yes or no?</think>{answer}", bool) is value


@pytest.mark.parametrize(
    "answer",
    ["It could be true or false.", "Yes.\n\nAnswer: no", "No doubt about it, yes it is", "Maybe"],
)
def test_bools_not_stated_or_both_raise(answer: str) -> None:
    with pytest.raises(ExtractionError):
        extract(answer, bool)


class Colour(Enum):
    RED = "red"
    DARK_GREEN = "dark green"


LABELS = [
    ("ham", Literal["spam", "ham"], "ham"),
    ("**Spam**", Literal["spam", "ham"], "spam"),
    ("Answer: HAM", Literal["spam", "ham"], "ham"),
    ("Ham. It is a friend writing.", Literal["spam", "ham"], "ham"),
    ("It mentions prizes.\n\nspam", Literal["spam", "ham"], "spam"),
    ('"ham"', Literal["spam", "ham"], "ham"),
    ("The answer is dark green.", Colour, Colour.DARK_GREEN),
    ("RED", Colour, Colour.RED),
    ("DARK_GREEN", Colour, Colour.DARK_GREEN),
    ("2", Literal[1, 2, 3], 2),
]


@pytest.mark.parametrize(("answer", "target", "value"), LABELS)
def test_labels_match_case_insensitively_when_one_is_stated(
    answer: str, target: Any, value: Any
) -> None:
    assert extract(answer, target) == value


@pytest.mark.parametrize(
    "answer",
    ["spam or ham", "It is not spam, it is ham, I think", "**spam**\n\nAnswer: ham", "eggs"],
)
def test_labels_not_stated_or_several_raise(answer: str) -> None:
    with pytest.raises(ExtractionError):
        extract(answer, Literal["spam", "ham"])


def test_a_str_target_is_the_whole_answer() -> None:
    got = extract_details("<think>Lyon?</think>\n  Paris is the capital.  \n", str)
    assert (got.value, got.kind) == ("Paris is the capital.", "whole")


def test_a_constrained_str_target_that_does_not_fit_raises() -> None:
    with pytest.raises(ExtractionError, match="at most 5 characters"):
        extract("Paris is the capital.", Annotated[str, Field(max_length=5)])


def test_a_union_with_str_falls_back_to_the_whole_answer() -> None:
    assert extract("The answer is 42", int | str) == 42
    assert extract("hello there", int | str) == "hello there"


def test_constraints_on_the_target_apply_to_prose_values() -> None:
    with pytest.raises(ExtractionError, match="greater than 100"):
        extract("The answer is 42.", Annotated[int, Field(gt=100)])


# --- errors ---------------------------------------------------------------------------------


def test_an_extraction_error_carries_every_candidate_and_why_each_failed() -> None:
    text = (
        "<think>secret draft</think>"
        'First {"city": "Lyon"} then {"city": "Paris", "population": "about two million"}'
    )
    with pytest.raises(ExtractionError) as err:
        extract(text, City)
    e = err.value
    assert isinstance(e, TerseError)
    assert e.text.startswith("First")
    assert e.reasoning == "secret draft"
    assert e.candidates[1:] == [
        '{"city": "Lyon"}',
        '{"city": "Paris", "population": "about two million"}',
    ]
    assert len(e.errors) == 3
    assert "population: Field required" in e.errors[1]
    assert "population: Input should be a valid integer" in e.errors[2]
    assert e.target == (
        "a JSON object with fields city (string), population (integer), capital (boolean)"
    )
    feedback = e.feedback()
    assert e.target in feedback
    assert "secret draft" not in feedback
    assert "secret draft" not in str(e)


def test_error_names_the_target_for_scalars() -> None:
    with pytest.raises(ExtractionError) as err:
        extract("none", Literal["spam", "ham"])
    assert err.value.target == 'one of "spam", "ham"'


def test_non_text_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        extract(b"{}", dict)  # type: ignore[call-overload]  # the wrong type is the point


def test_a_type_pydantic_cannot_validate_is_a_usage_error() -> None:
    class Opaque:
        pass

    with pytest.raises(UsageError):
        extract("{}", Opaque)


def test_adapters_are_cached_pertarget_for() -> None:
    assert target_for(list[int]) is target_for(list[int])


def test_extracted_is_frozen() -> None:
    got: Extracted[int] = extract_details("7", int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.value = 8  # type: ignore[misc]


# --- boxed and choice -----------------------------------------------------------------------

BOXED = [
    ("The answer is $\\boxed{42}$.", "42"),
    ("$\\boxed{\\frac{\\sqrt{3}}{2}}$", "\\frac{\\sqrt{3}}{2}"),
    ("First \\boxed{1}, finally \\boxed{2}.", "2"),
    ("<think>\\boxed{9}</think>So \\boxed{3}", "3"),
    ("<think>\\boxed{9}</think>No box here.", None),
    ("<think>\\boxed{9}", None),  # thinking never ended
    ("\\boxed{1} then \\boxed{2", None),  # the last box was cut
    ("\\boxed {x^{2}}", "x^{2}"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
]


@pytest.mark.parametrize(("text", "value"), BOXED)
def test_extract_boxed_takes_the_last_box_in_the_answer(text: str, value: str | None) -> None:
    assert extract_boxed(text) == value


CHOICES = [
    ("(C)", "C"),
    ("**Answer: B**", "B"),
    ("The correct option is D", "D"),
    ("Answer: (A) Paris", "A"),
    ("B", "B"),
    ("C. Paris is the capital.", "C"),
    ("The answer is $\\boxed{D}$", "D"),
    ("Paris is the capital, so I'd pick (A).", "A"),
    ("The correct answer is option B.", "B"),
    ("<think>Is it (A)? Or (B)?</think>The answer is C.", "C"),
    ("It is (A) or (B).", None),  # ambiguous
    ("A detailed look shows nothing.", None),  # an article, not a choice
    ("Answer: A good question.", None),
    ("No idea.", None),
    ("<think>(A)", None),
]


@pytest.mark.parametrize(("text", "value"), CHOICES)
def test_extract_choice_reads_the_stated_letter(text: str, value: str | None) -> None:
    assert extract_choice(text) == value


def test_extract_choice_respects_the_options() -> None:
    assert extract_choice("The answer is E.", "ABCDE") == "E"
    assert extract_choice("The answer is E.") is None


def test_extract_choice_maps_option_text_to_its_letter() -> None:
    options = {"A": "Paris", "B": "Lyon", "C": "Marseille"}
    assert extract_choice("<answer>\nLyon\n</answer>", options) == "B"
    assert extract_choice("Answer: Marseille", options) == "C"
    assert extract_choice("Paris or Lyon", options) is None


# --- properties -----------------------------------------------------------------------------

TARGETS: list[Any] = [Any, int, float, bool, str, City, list[str], Literal["spam", "ham"], Colour]
NOISE = st.text(alphabet=st.sampled_from(list("{}[]\"':,<>/think 0123456789.-*`\\boxedyesnoham\n")))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(), NOISE), st.sampled_from(TARGETS), st.booleans(), st.booleans())
def test_extract_returns_a_valid_value_or_raises_extraction_error(
    text: str, target: Any, salvage: bool, partial: bool
) -> None:
    try:
        value = extract(text, target, salvage=salvage, partial=partial)
    except ExtractionError:
        return
    assert target_for(target).adapter.validate_python(value) == value


@pytest.mark.parametrize("char", ["{", "[", '"'])
@pytest.mark.parametrize("target", [Any, City, int, bool, list[str], Literal["spam", "ham"]])
def test_a_megabyte_of_one_character_is_rejected_well_under_a_second(
    char: str, target: Any
) -> None:
    text = char * 1_000_000
    t0 = time.perf_counter()
    with pytest.raises(ExtractionError):
        extract(text, target, partial=True)
    assert time.perf_counter() - t0 < 1.0


# --- examples, templates and ambiguity -----------------------------------------------------

REAL_THEN_EXAMPLE = (
    "<think>The user wants the record as JSON.</think>\n"
    "Here is the extracted record:\n"
    '```json\n{"city": "Paris", "population": 2102650}\n```\n\n'
    "Example of the format:\n"
    '```json\n{"city": "string", "population": 0}\n```'
)

EXAMPLES = [
    # (answer, the value wanted)
    (REAL_THEN_EXAMPLE, {"city": "Paris", "population": 2102650}),
    (
        '{"city": "Paris", "population": 2102650}\n\nFor example: {"city": "Lyon", "population": 1}',
        {"city": "Paris", "population": 2102650},
    ),
    (
        'Answer: {"city": "Paris", "population": 2102650} (fields as in the schema, e.g. '
        '{"city": "Rome", "population": 2})',
        {"city": "Paris", "population": 2102650},
    ),
    (
        'The schema is:\n```json\n{"city": "str", "population": 1}\n```\nResult:\n'
        '```json\n{"city": "Paris", "population": 2102650}\n```',
        {"city": "Paris", "population": 2102650},
    ),
    (
        '```json\n{"city": "Paris", "population": 2102650}\n```\n**Template:**\n'
        '```json\n{"city": "<name>", "population": 123}\n```',
        {"city": "Paris", "population": 2102650},
    ),
    (  # asked for an example, the answer says it is one: that is the answer
        'Here\'s an example city record:\n```json\n{"city": "Oslo", "population": 709037}\n```',
        {"city": "Oslo", "population": 709037},
    ),
]


class CityRow(TypedDict):
    city: str
    population: int


@pytest.mark.parametrize(("answer", "value"), EXAMPLES)
def test_candidates_introduced_as_examples_are_not_the_answer(answer: str, value: Any) -> None:
    got = extract_details(answer, CityRow)
    assert got.value == value
    assert not got.ambiguous


def test_an_answer_that_only_shows_the_format_has_no_value() -> None:
    answer = (
        "I could not find the population in the text. Example of the expected output:\n\n"
        '```json\n{"city": "Paris", "population": 0}\n```'
    )
    with pytest.raises(ExtractionError, match="introduced as an example") as info:
        extract(answer, CityRow)
    assert any("Example of the expected output" in e for e in info.value.errors)


def test_distinct_valid_values_are_reported_and_strict_refuses_them() -> None:
    answer = 'First {"n": 1}, then {"n": 2}, then {"n": 2} again.'
    got = extract_details(answer, N)
    assert got.value == {"n": 2}
    assert got.alternatives == ({"n": 1},)
    assert got.ambiguous
    with pytest.raises(ExtractionError, match=r"2 different valid values.*strict=True"):
        extract(answer, N, strict=True)
    same = extract_details('{"n": 2} — to repeat: {"n": 2}', N)
    assert (same.value, same.alternatives) == ({"n": 2}, ())
    assert extract('{"n": 2} — to repeat: {"n": 2}', N, strict=True) == {"n": 2}


def test_examples_do_not_count_as_alternatives() -> None:
    got = extract_details(REAL_THEN_EXAMPLE, CityRow)
    assert got.alternatives == ()
    assert extract(REAL_THEN_EXAMPLE, CityRow, strict=True)["city"] == "Paris"
