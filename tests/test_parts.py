"""Typed parts: a response as ReasoningPart and TextPart, agreeing with its strings."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

import terse
from terse import ReasoningPart, Split, TextPart, split
from terse._results import Usage
from terse._server.dialects import dialect_named
from terse._wire.assemble import Assembler, Outcome
from terse.testing import FakeServer, Reply, Runaway

from .conftest import load_corpus
from .test_assemble import streamed, whole

CORPUS = load_corpus()
TEXT_ROWS = [r for r in CORPUS if isinstance(r["raw"], str)]


def joined(parts: tuple[terse.Part, ...], kind: type[Any]) -> str:
    return "".join(p.text for p in parts if isinstance(p, kind))


def assert_well_formed(parts: tuple[terse.Part, ...]) -> None:
    assert all(p.text for p in parts), parts  # no empty part
    kinds = [type(p) for p in parts]
    assert all(a is not b for a, b in itertools.pairwise(kinds)), kinds  # runs are merged


@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_outcome_parts_join_to_its_strings(row: dict[str, Any]) -> None:
    out = whole(row)
    assert_well_formed(out.parts)
    assert joined(out.parts, ReasoningPart) == out.reasoning
    assert joined(out.parts, TextPart) == out.text == row["expected"]["answer_text"]


@pytest.mark.parametrize("size", [1, 3, 17])
@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_streamed_parts_equal_whole_parts(row: dict[str, Any], size: int) -> None:
    out, _ = streamed(row, size)
    whole_out = whole(row)
    assert_well_formed(out.parts)
    assert joined(out.parts, ReasoningPart) == out.reasoning
    assert joined(out.parts, TextPart) == out.text
    assert out.parts == whole_out.parts


@pytest.mark.parametrize("row", TEXT_ROWS, ids=[r["id"] for r in TEXT_ROWS])
def test_corpus_split_parts_join_to_its_strings(row: dict[str, Any]) -> None:
    s = split(row["raw"])
    assert_well_formed(s.parts)
    assert joined(s.parts, ReasoningPart) == s.reasoning
    assert joined(s.parts, TextPart) == s.answer
    if s.reasoning and s.answer:
        assert isinstance(s.parts[0], ReasoningPart)  # the thinking comes first


def test_split_parts_and_repr() -> None:
    s = split("<think>hmm</think>\n\nParis")
    assert s.parts == (ReasoningPart("hmm"), TextPart("Paris"))
    assert "parts" not in repr(s)  # the repr (and its doctest) is unchanged
    assert split("Paris").parts == (TextPart("Paris"),)
    assert split("<think>cut off").parts == (ReasoningPart("cut off"),)
    assert split("").parts == ()


def chunk(delta: dict[str, str], finish: str | None = None) -> str:
    return "data: " + json.dumps({"choices": [{"delta": delta, "finish_reason": finish}]})


def test_parts_keep_the_order_of_a_response_that_reasons_again() -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    asm.feed_line(chunk({"reasoning": "first thought"}))
    asm.feed_line(chunk({"content": "  Paris"}))
    asm.feed_line(chunk({"reasoning": "second thought"}))
    asm.feed_line(chunk({"content": " is the capital  "}, "stop"))
    out = asm.result()
    assert out.parts == (
        ReasoningPart("first thought"),
        TextPart("Paris"),
        ReasoningPart("second thought"),
        TextPart(" is the capital"),
    )
    assert out.reasoning == "first thoughtsecond thought"
    assert out.text == "Paris is the capital"


def test_whitespace_answer_between_reasoning_runs_leaves_one_reasoning_part() -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    asm.feed_line(chunk({"reasoning": "a"}))
    asm.feed_line(chunk({"content": "\n\n"}))
    asm.feed_line(chunk({"reasoning": "b"}))
    asm.feed_line(chunk({"content": "42"}, "stop"))
    out = asm.result()
    assert out.parts == (ReasoningPart("ab"), TextPart("42"))
    assert out.text == "42"


def test_disabled_thinking_misrouted_answer_is_one_text_part() -> None:
    asm = Assembler(dialect=dialect_named("vllm"), thinking_disabled=True)
    asm.feed_line(chunk({"reasoning": " Paris. "}, "stop"))
    out = asm.result()
    assert (out.reasoning, out.text) == ("", "Paris.")
    assert out.parts == (TextPart("Paris."),)


def test_a_large_stream_keeps_its_parts() -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    for _ in range(10_000):  # past the point where small pieces are joined
        asm.feed_line(chunk({"reasoning": "x"}))
    for _ in range(5_000):
        asm.feed_line(chunk({"content": "y"}))
    asm.feed_line(chunk({}, "stop"))
    out = asm.result()
    assert out.parts == (ReasoningPart("x" * 10_000), TextPart("y" * 5_000))


def test_built_from_strings_the_parts_follow() -> None:
    out = Outcome("why", "42", True, None, Usage(), 0)
    assert out.parts == (ReasoningPart("why"), TextPart("42"))
    assert Outcome("", "", True, None, Usage(), 0).parts == ()
    assert Split("", "42", closed=True).parts == (TextPart("42"),)


@pytest.mark.parametrize(
    "build",
    [
        lambda p: Outcome("why", "42", True, None, Usage(), 0, parts=p),
        lambda p: Split("why", "42", True, parts=p),
        lambda p: terse.Answer("42", "42", "why", "stop", Usage(), (), "vllm", parts=p),
    ],
)
def test_parts_that_disagree_with_the_strings_are_refused(build: Any) -> None:
    assert build((ReasoningPart("why"), TextPart("42"))).parts[1] == TextPart("42")
    with pytest.raises(ValueError, match="parts do not join"):
        build((ReasoningPart("why"), TextPart("43")))
    with pytest.raises(ValueError, match="parts do not join"):
        build((TextPart("42"),))


def test_answer_parts_from_the_client() -> None:
    with (
        FakeServer(dialect="deepseek") as srv,
        terse.Client(base_url=srv.base_url, model="m", max_retries=0) as client,
    ):
        srv.push(Reply(reasoning="The user greets me.", answer="Hello!"))
        answer = client.ask("Hi")
        srv.push(Reply(reasoning="The user greets me.", answer="Hello!"))
        events = list(client.stream("Hi"))
    assert answer.parts == (ReasoningPart("The user greets me."), TextPart("Hello!"))
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.parts == answer.parts
    streamed_text = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
    assert joined(final.answer.parts, TextPart) == streamed_text.strip()


def test_a_concluded_answer_has_the_cut_thought_then_the_answer() -> None:
    with (
        FakeServer(dialect="sglang", tokens_per_second=2000) as srv,
        terse.Client(base_url=srv.base_url, model="Qwen/Qwen3-8B", max_retries=0) as client,
    ):
        srv.push(Runaway(answer="46"))
        answer = client.ask("How many primes are there below 200?", thinking_budget=32)
    assert answer.budget is not None
    assert answer.budget.strategy == "conclude"
    assert isinstance(answer.parts[0], ReasoningPart)
    assert answer.parts[-1] == TextPart("46")
    assert joined(answer.parts, ReasoningPart) == answer.reasoning
    assert answer.reasoning.strip()


def test_accumulator_strips_the_answer_as_one_text_and_merges_what_meets() -> None:
    # The Splitter already trims the answer's edges; the Accumulator does not rely on it.
    from terse._wire.accumulate import Accumulator

    errors: list[terse.TerseError] = []
    acc = Accumulator(terse.Limits(), errors.append)
    acc.keep_reasoning("a")
    acc.keep_answer("  ")
    acc.keep_reasoning("b")
    acc.keep_answer(" x ")
    acc.keep_answer("\n")
    parts, reasoning, text = acc.parts()
    assert parts == [ReasoningPart("ab"), TextPart("x")]
    assert (reasoning, text) == ("ab", "x") == (acc.reasoning(), acc.answer().strip())
    assert errors == []


def test_accumulator_reports_too_large_with_what_it_kept() -> None:
    from terse._wire.accumulate import Accumulator

    errors: list[terse.TerseError] = []
    acc = Accumulator(terse.Limits(reasoning=10, answer=5), errors.append)
    acc.keep_reasoning("0123456789")
    acc.hold("undecided")
    assert len(errors) == 1
    assert isinstance(errors[0], terse.ResponseTooLarge)
    assert errors[0].reasoning == "0123456789"  # cut to the limit
    acc.keep_answer("abcdef")
    assert isinstance(errors[1], terse.ResponseTooLarge)
    assert errors[1].text == "abcde"
