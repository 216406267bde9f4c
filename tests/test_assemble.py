"""The Assembler: server responses (whole or streamed) to reasoning, answer and verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import terse
from terse._server.dialects import dialect_named, family_for
from terse._wire.assemble import Assembler, Limit, Outcome

from .conftest import load_corpus

CORPUS = load_corpus()
FIELD_ROWS = [r for r in CORPUS if isinstance(r["raw"], dict)]
TEXT_ROWS = [r for r in CORPUS if isinstance(r["raw"], str)]


def thinking_was_off(row: dict[str, Any]) -> bool:
    """The corpus records the request's thinking switch in the model/notes text."""
    where = (row.get("model") or "") + " " + (row.get("notes") or "")
    return "enable_thinking=false" in where.replace(" ", "")


def assembler(row: dict[str, Any], **kwargs: Any) -> Assembler:
    return Assembler(
        dialect=dialect_named("openai-compatible"),
        family=family_for(row.get("model") or ""),
        thinking_disabled=thinking_was_off(row),
        **kwargs,
    )


def whole(row: dict[str, Any]) -> Outcome:
    raw = row["raw"]
    message: dict[str, Any] = {"role": "assistant"}
    if isinstance(raw, dict):
        message["content"] = raw.get("content")
        if raw.get("reasoning") is not None:
            message["reasoning_content"] = raw["reasoning"]
    else:
        message["content"] = raw
    finish = (row.get("meta") or {}).get("finish_reason") or "stop"
    asm = assembler(row)
    asm.feed_body({"choices": [{"index": 0, "message": message, "finish_reason": finish}]})
    return asm.result()


def streamed(row: dict[str, Any], size: int) -> tuple[Outcome, str]:
    raw = row["raw"]
    reasoning = raw.get("reasoning") or "" if isinstance(raw, dict) else ""
    content = (raw.get("content") or "") if isinstance(raw, dict) else raw
    finish = (row.get("meta") or {}).get("finish_reason") or "stop"
    asm = assembler(row)
    pieces: list[str] = []
    for key, text in (("reasoning", reasoning), ("content", content)):
        for i in range(0, len(text), size):
            chunk = {"choices": [{"index": 0, "delta": {key: text[i : i + size]}}]}
            for ev in asm.feed_line("data: " + json.dumps(chunk)):
                if isinstance(ev, terse.AnswerDelta):
                    pieces.append(ev.text)
    asm.feed_line(
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    )
    asm.feed_line("data: [DONE]")
    pieces.extend(ev.text for ev in asm.flush() if isinstance(ev, terse.AnswerDelta))
    return asm.result(), "".join(pieces)


@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_answer_from_a_whole_response(row: dict[str, Any]) -> None:
    out = whole(row)
    expected = row["expected"]["answer_text"]
    assert out.text == expected
    if expected == "":
        assert out.error is not None  # never an empty string presented as the answer
    else:
        assert out.error is None


@pytest.mark.parametrize("size", [1, 3, 17])
@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_streamed_equals_whole(row: dict[str, Any], size: int) -> None:
    out, pieces = streamed(row, size)
    assert out.text == whole(row).text == row["expected"]["answer_text"]
    if not thinking_was_off(row):  # a misrouted answer is only known at the end
        assert pieces.strip() == out.text


def test_vllm_transition_duplicate_fields_count_once() -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    for word in ["Let", " me", " think"]:
        asm.feed_line(
            "data: "
            + json.dumps({"choices": [{"delta": {"reasoning": word, "reasoning_content": word}}]})
        )
    asm.feed_line(
        "data: "
        + json.dumps({"choices": [{"delta": {"content": "Paris"}, "finish_reason": "stop"}]})
    )
    out = asm.result()
    assert out.reasoning == "Let me think"
    assert out.text == "Paris"
    assert out.reasoning_tokens == 3


def test_ollama_empty_content_on_reasoning_chunks() -> None:
    asm = Assembler(dialect=dialect_named("ollama"))
    asm.feed_line(
        "data: " + json.dumps({"choices": [{"delta": {"reasoning": "hmm", "content": ""}}]})
    )
    asm.feed_line(
        "data: " + json.dumps({"choices": [{"delta": {"content": "42"}, "finish_reason": "stop"}]})
    )
    out = asm.result()
    assert (out.reasoning, out.text, out.error) == ("hmm", "42", None)


def test_deepseek_legacy_tags_in_content_and_field_are_not_doubled() -> None:
    asm = Assembler(dialect=dialect_named("llamacpp"))
    body = {
        "choices": [
            {
                "message": {"content": "<think>hmm</think>\n\n42", "reasoning_content": "hmm"},
                "finish_reason": "stop",
            }
        ]
    }
    asm.feed_body(body)
    out = asm.result()
    assert out.text == "42"


@pytest.mark.parametrize(
    ("finish", "reasoning", "content", "error"),
    [
        ("length", "thinking...", None, terse.ThinkingTruncated),
        ("length", "", "<think>thinking...", terse.ThinkingTruncated),
        ("length", "done thinking", "The answer is Par", terse.AnswerTruncated),
        ("stop", "done thinking", "", terse.NoAnswer),
        ("stop", "done thinking", None, terse.NoAnswer),
        ("tool_calls", "calling a tool", None, terse.NoAnswer),
        ("stop", "", "<think>never closed", terse.NoAnswer),  # as when a parser splits it
        ("stop", "ok", "Paris", None),
    ],
)
def test_finish_reason_is_read_with_the_text(
    finish: str, reasoning: str, content: str | None, error: type[Exception] | None
) -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    message: dict[str, Any] = {"content": content}
    if reasoning:
        message["reasoning"] = reasoning
    asm.feed_body({"choices": [{"message": message, "finish_reason": finish}]})
    out = asm.result()
    if error is None:
        assert out.error is None
    else:
        assert isinstance(out.error, error)
        assert out.error.finish_reason == finish


def test_bad_stream_lines_are_protocol_errors() -> None:
    asm = Assembler(dialect=dialect_named("vllm"))
    asm.feed_line("data: {not json")
    assert isinstance(asm.result().error, terse.ProtocolError)
    asm = Assembler(dialect=dialect_named("vllm"))
    asm.feed_line('data: {"error": {"message": "overloaded", "code": 503}}')
    err = asm.result().error
    assert isinstance(err, terse.ServerError)
    assert err.status == 503
    assert "overloaded" in err.message


def test_budget_limit_sets_cut_and_undecided_text_counts() -> None:
    asm = Assembler(dialect=dialect_named("vllm"), limit=Limit(tokens=5))
    for i in range(10):
        asm.feed_line("data: " + json.dumps({"choices": [{"delta": {"content": f" w{i}"}}]}))
        if asm.cut:
            break
    assert asm.cut
    assert i == 4
    out = asm.result()
    # Cut while no tag had been seen: the text is treated as reasoning, never as an answer.
    assert out.text == ""
    assert out.reasoning == " w0 w1 w2 w3 w4"
    assert out.cut


def test_seconds_limit_uses_the_clock() -> None:
    now = [0.0]
    asm = Assembler(dialect=dialect_named("vllm"), limit=Limit(seconds=1.0), clock=lambda: now[0])
    asm.feed_line("data: " + json.dumps({"choices": [{"delta": {"reasoning": "a"}}]}))
    assert not asm.check_time()
    now[0] = 1.5
    assert asm.check_time()
    assert asm.cut


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200), st.sampled_from(["stop", "length", None]))
def test_answer_never_contains_field_reasoning(
    reasoning: str, content: str, finish: str | None
) -> None:
    marker = "\x00SECRET\x00"
    asm = Assembler(dialect=dialect_named("vllm"))
    message = {"reasoning_content": reasoning + marker, "content": content}
    asm.feed_body({"choices": [{"message": message, "finish_reason": finish}]})
    out = asm.result()
    assert marker not in out.text
    assert (out.error is None) == bool(out.text) or out.error is not None
