"""Extraction on real model outputs (tests/data/real.jsonl): labelled json, boxed and choice."""

from __future__ import annotations

import re
from typing import Any

import pytest

from terse import ExtractionError, Split
from terse._extract.extract import extract, extract_boxed, extract_choice

from .conftest import load_corpus

CORPUS = load_corpus()


def output(row: dict[str, Any]) -> str | Split:
    """The model output as terse sees it: a raw string, or the server's split fields."""
    raw = row["raw"]
    if isinstance(raw, str):
        return raw
    return Split((raw.get("reasoning") or ""), (raw.get("content") or "").strip(), closed=True)


def options(row: dict[str, Any]) -> str | dict[str, str]:
    """The prompt's "A. text" choices when it lists them, so option text maps to a letter."""
    found = re.findall(r"^([A-J])\. (.+)$", row.get("prompt") or "", re.M)
    return dict(found) if found else "ABCD"


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


JSON_ROWS = [r for r in CORPUS if r["expected"]["json"] is not None]
EMPTY_ROWS = [r for r in CORPUS if r["expected"]["answer_text"] == ""]


def test_the_corpus_has_the_labelled_rows_these_tests_rely_on() -> None:
    assert len(JSON_ROWS) >= 20
    assert sum(r["expected"]["boxed"] is not None for r in CORPUS) >= 7
    assert sum(r["expected"]["choice"] is not None for r in CORPUS) >= 1
    assert len(EMPTY_ROWS) >= 30


@pytest.mark.parametrize("row", JSON_ROWS, ids=ids(JSON_ROWS))
def test_json_rows_extract_the_labelled_value(row: dict[str, Any]) -> None:
    assert extract(output(row), Any) == row["expected"]["json"]


@pytest.mark.parametrize("row", CORPUS, ids=ids(CORPUS))
def test_boxed_matches_the_label_on_every_row(row: dict[str, Any]) -> None:
    assert extract_boxed(output(row)) == row["expected"]["boxed"]


@pytest.mark.parametrize("row", CORPUS, ids=ids(CORPUS))
def test_choice_matches_the_label_on_every_row(row: dict[str, Any]) -> None:
    assert extract_choice(output(row), options(row)) == row["expected"]["choice"]


@pytest.mark.parametrize("row", EMPTY_ROWS, ids=ids(EMPTY_ROWS))
@pytest.mark.parametrize("target", [Any, str, int])
def test_rows_with_no_answer_raise(row: dict[str, Any], target: Any) -> None:
    with pytest.raises(ExtractionError, match="no answer"):
        extract(output(row), target)
