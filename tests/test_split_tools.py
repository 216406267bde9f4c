"""`terse.split(text, tools=[...])`: inline calls in the answer region parsed out."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import terse
from tests.tools._corpus import load_rows, thinking_open, tools_for

ROWS = load_rows()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
RAW = (
    "<think>Maybe <tool_call>"
    '{"name": "get_weather", "arguments": {"city": "Lyon"}}</tool_call>? No.</think>\n\n'
    "Checking.\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>\nDone.'
)


def test_calls_in_the_answer_are_parsed_out() -> None:
    s = terse.split(RAW, tools=[WEATHER])
    assert [(c.name, c.arguments) for c in s.tool_calls] == [
        ("get_weather", {"city": "Paris", "days": 2})
    ]
    assert s.answer == "Checking.\nDone."  # segments stripped, joined with a newline
    assert "Lyon" in s.reasoning  # the rehearsal stays reasoning, never a call
    assert s.closed
    assert s.format == "think"
    assert [type(p).__name__ for p in s.parts] == ["ReasoningPart", "TextPart", "ToolCallPart"]
    assert s.parts[2] == terse.ToolCallPart(s.tool_calls[0])


def test_without_tools_nothing_changes() -> None:
    plain = terse.split(RAW)
    assert plain.tool_calls == ()
    assert "<tool_call>" in plain.answer
    assert plain == terse.split(RAW, tools=None)


def test_tools_as_functions_and_models() -> None:
    def get_weather(city: str, days: int = 1) -> str:
        """Weather."""
        return ""

    class Lookup(pydantic.BaseModel):
        term: str

    s = terse.split(
        '<tool_call>{"name": "Lookup", "arguments": {"term": "x"}}</tool_call>',
        tools=[get_weather, Lookup],
    )
    assert [(c.name, c.arguments) for c in s.tool_calls] == [("Lookup", {"term": "x"})]


def test_unusable_calls_are_reported_not_silently_dropped() -> None:
    s = terse.split(
        '<tool_call>{"name": "get_weather", "arguments": {"days": 2}}</tool_call>',
        tools=[WEATHER],
    )
    assert s.tool_calls == ()
    assert [p.kind for p in s.tool_problems] == ["invalid_arguments"]
    assert s.answer == ""


def test_xml_values_are_typed_by_the_schema() -> None:
    raw = (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\n1\n</parameter>\n"
        "<parameter=days>\n1\n</parameter>\n</function>\n</tool_call>"
    )
    (c,) = terse.split(raw, tools=[WEATHER]).tool_calls
    assert c.arguments == {"city": "1", "days": 1}


def test_formats_and_tools_together_are_refused() -> None:
    with pytest.raises(terse.UsageError):
        terse.split("x", tools=[WEATHER], formats=["think"])


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_every_corpus_row(row: dict[str, Any]) -> None:
    s = terse.split(row["raw"], tools=tools_for(row), thinking_open=thinking_open(row))
    assert [{"name": c.name, "arguments": c.arguments} for c in s.tool_calls] == row["tool_calls"]
    assert s.answer == row["content"]
    assert s.reasoning == (row["reasoning"] or "")
    if "truncated" in row["tags"]:
        assert {p.kind for p in s.tool_problems} == {"truncated"}
