"""Inline tool calls: the rules beyond the corpus (repairs, fences, limits, validation, events)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terse import ResponseError
from terse.tools import (
    CallDelta,
    CallDone,
    CallFailed,
    CallStarted,
    TextDelta,
    ToolCallError,
    ToolCallStream,
    parse_output,
    parse_tool_calls,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def hermes(args: str, name: str = "get_weather") -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


def test_plain_call_after_reasoning() -> None:
    p = parse_output("<think>Paris.</think>\n\n" + hermes('{"city": "Paris"}'), [WEATHER])
    assert p.reasoning == "Paris."
    assert p.text == ""
    [call] = p.calls
    assert (call.name, call.arguments, call.format) == ("get_weather", {"city": "Paris"}, "hermes")
    assert call.id.startswith("call_")
    assert json.loads(call.raw_arguments) == {"city": "Paris"}
    assert call.to_openai()["function"]["arguments"] == '{"city": "Paris"}'


@pytest.mark.parametrize(
    ("args", "repair"),
    [
        ('{"city": "Paris",}', "trailing_commas"),
        ("{'city': 'Paris'}", "single_quotes"),
    ],
)
def test_safe_repairs_are_made_and_named(args: str, repair: str) -> None:
    p = parse_output(hermes(args), [WEATHER])
    [call] = p.calls
    assert call.arguments == {"city": "Paris"}
    assert repair in call.repairs


def test_one_missing_brace_is_repaired_unless_cut_by_the_token_limit() -> None:
    raw = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}'
    p = parse_output(raw, [WEATHER])
    assert p.calls[0].repairs == ("missing_brace",)
    cut = parse_output(raw, [WEATHER], finish_reason="length")
    assert not cut.calls
    assert [t.kind for t in cut.truncated] == ["truncated"]
    assert cut.text == ""  # truncated markup never stays in the answer


def test_two_missing_braces_is_a_truncation_not_a_guess() -> None:
    p = parse_output('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"', [WEATHER])
    assert not p.calls
    assert p.truncated
    assert p.text == ""


def test_unsafe_repairs_are_refused() -> None:
    p = parse_output(hermes("{city: Paris}"), [WEATHER])
    assert not p.calls
    assert [e.kind for e in p.errors] == ["malformed"]


def test_markers_inside_json_strings_end_nothing() -> None:
    args = json.dumps({"city": "</tool_call> </think> <think> <tool_call>"})
    p = parse_output("<think>x</think>" + hermes(args) + " done", [WEATHER])
    assert p.calls[0].arguments == {"city": "</tool_call> </think> <think> <tool_call>"}
    assert p.text == "done"


def test_fenced_and_inline_code_markup_is_data() -> None:
    fenced = "Example:\n```\n" + hermes('{"city": "Rome"}') + "\n```\nThat is all."
    p = parse_output(fenced, [WEATHER])
    assert not p.calls
    assert p.text == fenced
    inline = "Write `<tool_call>` then JSON."
    assert parse_output(inline, [WEATHER]).text == inline


def test_segments_around_calls_are_stripped_and_joined_with_newlines() -> None:
    raw = (
        "  Before.  "
        + hermes('{"city": "A"}')
        + "\n middle \n"
        + hermes('{"city": "B"}')
        + " after"
    )
    p = parse_output(raw, [WEATHER])
    assert p.text == "Before.\nmiddle\nafter"
    assert [c.arguments["city"] for c in p.calls] == ["A", "B"]


def test_unknown_tool_and_invalid_arguments_are_typed_problems() -> None:
    p = parse_output(hermes('{"city": 3}') + hermes("{}", name="nope"), [WEATHER])
    assert not p.calls
    kinds = [(e.kind, e.name, e.index) for e in p.errors]
    assert kinds == [("invalid_arguments", "get_weather", 0), ("unknown_tool", "nope", 1)]
    assert any("city" in e for e in p.errors[0].errors)
    with pytest.raises(ToolCallError) as info:
        p.raise_for_problems()
    err = info.value
    assert isinstance(err, ResponseError)
    assert err.problem is not None
    assert err.problem.kind == "invalid_arguments"
    assert "call 0 (get_weather)" in str(err)
    assert "get_weather" in err.feedback()
    assert "think" not in err.feedback()


def test_xml_values_are_typed_by_the_schema() -> None:
    raw = (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\n1\n</parameter>\n"
        "<parameter=days>\n7\n</parameter>\n</function>\n</tool_call>"
    )
    p = parse_output(raw, [WEATHER])
    assert p.calls[0].arguments == {"city": "1", "days": 7}
    untyped = parse_output(raw, None)  # no schema: values stay text
    assert untyped.calls[0].arguments == {"city": "1", "days": "7"}


def test_xml_value_that_breaks_the_schema_is_invalid() -> None:
    raw = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>X</arg_value><arg_key>days</arg_key><arg_value>many</arg_value></tool_call>"
    p = parse_output(raw, [WEATHER])
    assert [e.kind for e in p.errors] == ["invalid_arguments"]


def test_rehearsal_in_closed_reasoning_is_never_a_call() -> None:
    raw = (
        "<think>draft "
        + hermes('{"city": "Lyon"}')
        + " no, Paris</think>"
        + hermes('{"city": "Paris"}')
    )
    p = parse_output(raw, [WEATHER])
    assert [c.arguments for c in p.calls] == [{"city": "Paris"}]
    assert [d.arguments for d in p.drafts] == [{"city": "Lyon"}]
    assert p.trailing_draft is None


def test_terminal_call_in_closed_reasoning_is_reported_and_promotable() -> None:
    raw = "<think>I will call it.\n" + hermes('{"city": "Oslo"}') + "\n</think>\n\n"
    p = parse_output(raw, [WEATHER])
    assert not p.calls
    assert p.trailing_draft is not None
    assert p.promote().calls[0].arguments == {"city": "Oslo"}
    # Not when an answer follows, nor after a cut.
    assert parse_output(raw + "It is sunny.", [WEATHER]).trailing_draft is None
    assert parse_output(raw, [WEATHER], finish_reason="length").trailing_draft is None


def test_call_in_unclosed_reasoning_is_real_only_when_nothing_but_calls_follows() -> None:
    real = "Let me check.\n" + hermes('{"city": "Paris"}')
    p = parse_output(real, [WEATHER], thinking_open=True)
    assert p.reasoning == "Let me check."
    assert [c.arguments for c in p.calls] == [{"city": "Paris"}]
    draft = real + "\nHmm, maybe not yet"
    q = parse_output(draft, [WEATHER], thinking_open=True)
    assert not q.calls
    assert q.reasoning == draft
    assert not q.closed


def test_parse_tool_calls_over_an_existing_split() -> None:
    p = parse_tool_calls(
        "Sure." + hermes('{"city": "Paris"}'),
        [WEATHER],
        reasoning="x " + hermes('{"city": "Q"}') + " y",
    )
    assert p.text == "Sure."
    assert [c.arguments["city"] for c in p.calls] == ["Paris"]
    assert [d.arguments["city"] for d in p.drafts] == ["Q"]
    opened = parse_tool_calls(
        "", [WEATHER], reasoning="go\n" + hermes('{"city": "R"}'), closed=False
    )
    assert [c.arguments["city"] for c in opened.calls] == ["R"]
    assert opened.reasoning == "go"


def test_without_tools_bare_json_is_just_text() -> None:
    raw = 'Result: {"name": "get_weather", "parameters": {"city": "X"}}'
    assert parse_output(raw, None).text == raw
    assert parse_output(raw, [WEATHER]).calls[0].arguments == {"city": "X"}
    other = 'Result: {"name": "someone", "parameters": {}}'
    assert parse_output(other, [WEATHER]).text == other  # not a known tool: prose


def test_model_ids_are_kept_and_generated_ids_are_stable() -> None:
    kimi = '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:3<|tool_call_argument_begin|>{"city": "A"}<|tool_call_end|><|tool_calls_section_end|>'
    assert parse_output(kimi, [WEATHER]).calls[0].id == "functions.get_weather:3"
    mistral = '[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{"city": "A"}'
    assert parse_output(mistral, [WEATHER]).calls[0].id == "abc123XYZ"
    a = parse_output(hermes('{"city": "A"}'), [WEATHER], seed="r1").calls[0].id
    assert a == parse_output(hermes('{"city": "A"}'), [WEATHER], seed="r1").calls[0].id
    assert a != parse_output(hermes('{"city": "A"}'), [WEATHER], seed="r2").calls[0].id


def test_harmony_builtin_channels_are_neither_calls_nor_text() -> None:
    raw = (
        "<|channel|>analysis<|message|>Search first.<|end|>"
        "<|start|>assistant<|channel|>commentary to=browser.search <|constrain|>json<|message|>"
        '{"query": "x"}<|call|>'
    )
    p = parse_output(raw, [WEATHER])
    assert (p.calls, p.text, p.reasoning) == ((), "", "Search first.")


def test_stream_events_show_a_call_as_it_arrives() -> None:
    raw = "<think>ok</think>Checking." + hermes(json.dumps({"city": "Paris " * 30}))
    s = ToolCallStream([WEATHER])
    events: list[Any] = []
    for i in range(0, len(raw), 7):
        events += s.feed(raw[i : i + 7])
    events += s.finish()
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("CallStarted") < kinds.index("CallDelta") < kinds.index("CallDone")
    started = [e for e in events if isinstance(e, CallStarted)]
    assert [(e.index, e.name) for e in started] == [(0, "get_weather")]
    deltas = "".join(e.text for e in events if isinstance(e, CallDelta))
    assert "Paris Paris" in deltas
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Checking."
    assert [e.call for e in events if isinstance(e, CallDone)] == list(s.result().calls)
    assert not [e for e in events if isinstance(e, CallFailed)]


def test_hostile_input_stays_linear() -> None:
    for raw in (
        "<tool_call>{" * 20000,
        "<tool_call>{}" * 20000,
        "[" * 200000,
        '{"name": ' * 20000,
        "<tool_call><function=f><parameter=a>" * 10000,
        "```\n" * 50000,
        "[get_weather(" * 20000,
        "<|python_start|>[get_weather(x=b" * 20000,
    ):
        t0 = time.perf_counter()
        parse_output(raw, [WEATHER])
        assert time.perf_counter() - t0 < 20  # generous under load; quadratic would take minutes


_PIECES = [
    "Hello. ",
    "\n\n",
    "```\n",
    "`",
    hermes('{"city": "A"}'),
    hermes('{"city": "B",}'),
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "C"}',
    "<tool_call>get_weather<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>",
    '[TOOL_CALLS]get_weather[ARGS]{"city": "D"}',
    '{"name": "get_weather", "parameters": {"city": "E"}}',
    "[get_weather(city='F')]",
    "<think>",
    "</think>",
    " and ",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=10),
    st.lists(st.integers(min_value=1, max_value=500), max_size=30),
    st.sampled_from([None, True, False]),
)
def test_generated_outputs_stream_like_the_whole(
    pieces: list[str], cuts: list[int], thinking_open: bool | None
) -> None:
    raw = "".join(pieces)
    whole = parse_output(raw, [WEATHER], thinking_open=thinking_open)
    points = sorted({c % max(1, len(raw)) for c in cuts} - {0})
    s = ToolCallStream([WEATHER], thinking_open=thinking_open)
    text = []
    for a, b in zip([0, *points], [*points, len(raw)], strict=True):
        text += [e.text for e in s.feed(raw[a:b]) if isinstance(e, TextDelta)]
    text += [e.text for e in s.finish() if isinstance(e, TextDelta)]
    assert s.result() == whole
    assert "".join(text) == whole.text
