"""Native tool_calls normalisation, the stream accumulator, and tool specs."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from terse import UsageError
from terse.tools import (
    NativeAccumulator,
    normalize_message,
    normalize_tool_calls,
    tool_spec,
    tool_specs,
)


def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city.

    Args:
        city: The city name.
        days: How many days ahead.
    """
    return f"{city}:{days}"


class Search(pydantic.BaseModel):
    """Search the web."""

    query: str
    limit: int = 5


TOOLS: list[Any] = [get_weather, Search]


def test_function_tool_schema_from_signature_and_docstring() -> None:
    spec = tool_spec(get_weather)
    assert spec.name == "get_weather"
    assert spec.description == "Weather for a city."
    props = spec.parameters["properties"]
    assert props["city"] == {"description": "The city name.", "type": "string"}
    assert props["days"]["type"] == "integer"
    assert spec.parameters["required"] == ["city"]
    assert spec.to_openai()["function"]["name"] == "get_weather"
    assert spec.bind({"city": "Oslo"}) == {"city": "Oslo"}


def test_pydantic_model_tool_is_named_after_its_class() -> None:
    spec = tool_spec(Search)
    assert (spec.name, spec.description) == ("Search", "Search the web.")
    assert spec.validate({"query": "x", "limit": "3"}) == ({"query": "x", "limit": 3}, ())
    _, errors = spec.validate({"limit": 2})
    assert errors
    assert "query" in errors[0]


def test_dict_tool_is_validated_against_its_schema() -> None:
    spec = tool_spec(
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}, "mode": {"enum": ["a", "b"]}},
                    "required": ["n"],
                    "additionalProperties": False,
                },
            },
        }
    )
    assert spec.validate({"n": 1, "mode": "a"})[1] == ()
    errs = spec.validate({"n": "1", "mode": "c", "x": 0})[1]
    assert len(errs) == 3
    assert spec.coerce_texts({"n": "7", "mode": "b"}) == {"n": 7, "mode": "b"}


def test_bad_tools_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        tool_spec(lambda x: x)
    with pytest.raises(UsageError):
        tool_spec({"type": "function", "function": {}})
    with pytest.raises(UsageError):
        tool_specs([get_weather, get_weather])
    with pytest.raises(UsageError):
        tool_spec(42)


@pytest.mark.parametrize(
    "arguments",
    [
        '{"city": "Paris"}',
        {"city": "Paris"},  # Ollama native, llama.cpp --tool-args-object
        json.dumps('{"city": "Paris"}'),  # double-encoded (LiteLLM summary chunk)
    ],
)
def test_argument_shapes(arguments: Any) -> None:
    p = normalize_tool_calls(
        [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": arguments},
            }
        ],
        TOOLS,
    )
    [call] = p.calls
    assert (call.id, call.name, call.arguments, call.format) == (
        "c1",
        "get_weather",
        {"city": "Paris"},
        "native",
    )
    double = isinstance(arguments, str) and arguments.startswith('"')
    assert ("double_encoded" in call.repairs) is double


def test_missing_ids_are_generated_and_problems_typed() -> None:
    p = normalize_tool_calls(
        [
            {"function": {"name": "get_weather", "arguments": '{"city": "A"}'}},
            {"function": {"name": "nope", "arguments": "{}"}},
            {"function": {"name": "get_weather", "arguments": '{"city": 5}'}},
            {"function": {"name": "get_weather", "arguments": '{"city": "Pa'}},
        ],
        TOOLS,
        finish_reason="length",
    )
    assert p.calls[0].id.startswith("call_")
    assert [e.kind for e in p.errors] == ["unknown_tool", "invalid_arguments"]
    assert [(t.kind, t.index) for t in p.truncated] == [("truncated", 3)]


def test_message_with_content_and_calls_keeps_both() -> None:
    msg = {
        "role": "assistant",
        "content": "Checking. ",
        "reasoning_content": " thinking ",
        "tool_calls": [
            {"id": "x", "function": {"name": "get_weather", "arguments": '{"city": "A"}'}}
        ],
    }
    p = normalize_message(msg, TOOLS)
    assert (p.text, p.reasoning, [c.id for c in p.calls]) == ("Checking.", "thinking", ["x"])
    inline = normalize_message(
        {"content": '<tool_call>{"name": "get_weather", "arguments": {"city": "B"}}</tool_call>'},
        TOOLS,
    )
    assert inline.calls[0].arguments == {"city": "B"}


def _accumulate(chunks: list[list[dict[str, Any]]], **kw: Any) -> Any:
    acc = NativeAccumulator()
    for c in chunks:
        acc.add(c)
    return acc.finish(TOOLS, **kw)


def test_accumulator_openai_shape() -> None:
    p = _accumulate(
        [
            [
                {
                    "index": 0,
                    "id": "a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
            [{"index": 0, "function": {"arguments": '{"ci'}}],
            [{"index": 0, "function": {"arguments": 'ty": "A"}'}}],
            [
                {
                    "index": 1,
                    "id": "b",
                    "function": {"name": "Search", "arguments": '{"query": "q"}'},
                }
            ],
        ]
    )
    assert [(c.id, c.name, c.arguments) for c in p.calls] == [
        ("a", "get_weather", {"city": "A"}),
        ("b", "Search", {"query": "q"}),
    ]


def test_accumulator_index_always_zero_with_ids_and_id_on_every_chunk() -> None:
    p = _accumulate(
        [
            [{"index": 0, "id": "1", "function": {"name": "get_weather", "arguments": '{"city":'}}],
            [{"index": 0, "id": "1", "function": {"arguments": ' "A"}'}}],
            [
                {
                    "index": 0,
                    "id": "2",
                    "function": {"name": "get_weather", "arguments": {"city": "B"}},
                }
            ],
        ]
    )
    assert [c.arguments["city"] for c in p.calls] == ["A", "B"]


def test_accumulator_missing_index_and_whole_calls_in_one_chunk() -> None:
    p = _accumulate(
        [
            [{"function": {"name": "get_weather", "arguments": {"city": "A"}}}],
            [{"function": {"name": "get_weather", "arguments": {"city": "B"}}}],
        ]
    )
    assert [c.arguments["city"] for c in p.calls] == ["A", "B"]
    assert len({c.id for c in p.calls}) == 2


def test_accumulator_drops_a_summary_chunk_repeating_a_call() -> None:
    p = _accumulate(
        [
            [
                {
                    "index": 0,
                    "id": "a",
                    "function": {"name": "get_weather", "arguments": '{"city": "A"}'},
                }
            ],
            [
                {
                    "index": 0,
                    "id": "a",
                    "function": {"name": "get_weather", "arguments": json.dumps('{"city": "A"}')},
                }
            ],
        ]
    )
    assert [c.arguments for c in p.calls] == [{"city": "A"}]


def test_accumulator_cut_call_is_truncated_after_length() -> None:
    chunks = [
        [{"index": 0, "id": "a", "function": {"name": "get_weather", "arguments": '{"city": "Pa'}}]
    ]
    p = _accumulate(chunks, finish_reason="length")
    assert not p.calls
    assert p.truncated[0].kind == "truncated"


def test_docstring_examples_run() -> None:
    import doctest

    import terse.tools._native
    import terse.tools._parse

    for mod in (terse.tools._parse, terse.tools._native):
        failed, attempted = doctest.testmod(mod)
        assert attempted
        assert not failed
