"""Every row of the tool-call corpus, whole and streamed under random chunkings."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terse.tools import (
    CallDone,
    CallFailed,
    ParsedCalls,
    ReasoningText,
    TextDelta,
    ToolCallStream,
    parse_output,
)

from ._corpus import load_rows, thinking_open, tools_for

ROWS = load_rows()
IDS = [r["id"] for r in ROWS]


def _calls(p: ParsedCalls) -> list[dict[str, Any]]:
    return [{"name": c.name, "arguments": c.arguments} for c in p.calls]


def _matches(row: dict[str, Any], p: ParsedCalls) -> bool:
    return (
        _calls(p) == row["tool_calls"]
        and p.text == row["content"]
        and p.reasoning == row["reasoning"]
    )


def _stream(row: dict[str, Any], parts: list[str]) -> tuple[ParsedCalls, list[Any]]:
    s = ToolCallStream(tools_for(row), thinking_open=thinking_open(row))
    events: list[Any] = []
    for part in parts:
        events += s.feed(part)
    events += s.finish()
    return s.result(), events


def _chunks(text: str, cuts: list[int]) -> list[str]:
    cuts = sorted({c for c in cuts if 0 < c < len(text)})
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def test_corpus_is_the_shared_one() -> None:
    assert len(ROWS) == 87
    assert len(set(IDS)) == len(IDS)
    assert all(r["licence"] in ("MIT", "Apache-2.0", "CC0-1.0") for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_whole(row: dict[str, Any]) -> None:
    p = parse_output(row["raw"], tools_for(row), thinking_open=thinking_open(row))
    assert _calls(p) == row["tool_calls"]
    assert p.text == row["content"]
    assert p.reasoning == row["reasoning"]
    if "partial_bad_sibling" in row["tags"]:
        assert [e.kind for e in p.errors] == ["malformed"]  # reported, the good call kept
    else:
        assert not p.errors
    if "truncated" in row["tags"]:
        assert p.truncated
        assert not p.calls
    else:
        assert not p.truncated
    if row.get("if_promoted"):
        assert p.trailing_draft is not None
        promoted = p.promote()
        assert _calls(promoted) == row["if_promoted"]
    drafted = {"draft_then_real", "draft_no_call_after"} & set(row["tags"])
    if (
        drafted
        and row["family"] != "gpt_oss_harmony"
        and "quoted_in_reasoning_fenced" not in row["tags"]
    ):
        assert p.drafts  # the rehearsal is reported, not executed
    assert p.closed


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_streamed(row: dict[str, Any]) -> None:
    """Char by char, then random chunkings: the same result, and events that add up to it."""
    whole = parse_output(row["raw"], tools_for(row), thinking_open=thinking_open(row))
    raw = row["raw"]
    rng = random.Random(row["id"])
    chunkings = [list(raw)] + [
        _chunks(raw, [rng.randrange(1, max(2, len(raw))) for _ in range(rng.randint(1, 40))])
        for _ in range(25)
    ]
    for parts in chunkings:
        got, events = _stream(row, parts)
        assert got == whole, parts
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == whole.text
        assert "".join(e.text for e in events if isinstance(e, ReasoningText)) == (
            whole.reasoning or ""
        )
        assert tuple(e.call for e in events if isinstance(e, CallDone)) == whole.calls
        failed = tuple(e.problem for e in events if isinstance(e, CallFailed))
        assert failed == (*whole.errors, *whole.truncated) or set(failed) == set(whole.problems)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROWS), st.lists(st.integers(min_value=1, max_value=2000), max_size=60))
def test_any_chunking_gives_the_whole_result(row: dict[str, Any], cuts: list[int]) -> None:
    raw = row["raw"]
    whole = parse_output(raw, tools_for(row), thinking_open=thinking_open(row))
    got, _ = _stream(row, _chunks(raw, [c % max(1, len(raw)) for c in cuts]))
    assert got == whole


def family_scores() -> dict[str, tuple[int, int]]:
    """Rows right / rows, per family (whole text; the streamed test holds every row)."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in ROWS:
        total[row["family"]] += 1
        p = parse_output(row["raw"], tools_for(row), thinking_open=thinking_open(row))
        right[row["family"]] += _matches(row, p)
    return {f: (right[f], total[f]) for f in sorted(total)}


def test_every_family_scores_full_marks() -> None:
    scores = family_scores()
    assert len(scores) == 16
    assert all(r == t for r, t in scores.values()), scores


if __name__ == "__main__":  # pragma: no cover - a report for humans
    for fam, (r, t) in family_scores().items():
        print(f"{fam:18} {r}/{t}")
