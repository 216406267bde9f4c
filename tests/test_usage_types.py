"""Wrong argument types are `UsageError`s, as docs/exceptions.md promises (issue 13, item 11).

They stay `TypeError`s too (`terse.UsageError` for terse's tree, `TypeError` for Python's
convention), so code written either way keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import terse

BAD_TEXTS: list[Any] = [b"<think>x</think>42", None, 3, ["a"], {"text": "x"}]

CALLS: dict[str, Callable[[Any], Any]] = {
    "split": terse.split,
    "strip": terse.strip,
    "extract": lambda t: terse.extract(t, int),
    "extract_details": lambda t: terse.extract_details(t, int),
    "extract_boxed": terse.extract_boxed,
    "extract_choice": terse.extract_choice,
    "Splitter.feed": lambda t: terse.Splitter().feed(t),
}


@pytest.mark.parametrize("bad", BAD_TEXTS, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_non_str_text_is_a_usage_error(name: str, bad: Any) -> None:
    with pytest.raises(terse.UsageError, match="str") as info:
        CALLS[name](bad)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("bad", BAD_TEXTS, ids=lambda b: type(b).__name__)
def test_a_splitter_inside_the_reasoning_refuses_non_str_too(bad: Any) -> None:
    """The fast path taken while inside the reasoning checks the type as well."""
    s = terse.Splitter()
    s.feed("<think>hmm")
    s.feed(" more")
    with pytest.raises(terse.UsageError):
        s.feed(bad)


@pytest.mark.parametrize(
    "options",
    [None, 3, ["A", 2], ["AB", "C"], {"A": 1}, {1: "x"}, [" "]],
    ids=repr,
)
def test_extract_choice_refuses_bad_options(options: Any) -> None:
    with pytest.raises(terse.UsageError, match=r"options|option texts"):
        terse.extract_choice("The answer is A.", options)


@pytest.mark.parametrize(
    ("options", "expected"),
    [("ABCD", "A"), (["A", "B"], "A"), (("A", "B"), "A"), ({"A": "Paris", "B": "Lyon"}, "A")],
)
def test_extract_choice_still_takes_every_documented_form(options: Any, expected: str) -> None:
    assert terse.extract_choice("The answer is A.", options) == expected
