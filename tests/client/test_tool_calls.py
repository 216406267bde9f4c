"""Tool calls through the clients: sync and async, streamed and not, over scripted bytes.

The in-process transport (`terse._client.transport.InProcessTransport`) plays raw server
responses — JSON bodies and SSE streams as servers write them — through the real reader
and assembler, so what is checked here is what a client gets from such a server:
native ``tool_calls`` (with each server's quirks), inline calls in ``content``, the
draft-vs-real rule, re-asks, budgets and the history message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pydantic
import pytest

import terse
from terse._client.transport import (
    AsyncInProcessTransport,
    InProcessTransport,
    Scripted,
    sse,
)
from terse._core.ops import Call

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
TOOLS = [WEATHER]


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"an in-process test opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# -- scripted responses --------------------------------------------------------------------


def call(name: str, arguments: Any, cid: str | None = "call_1") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if cid is not None:
        out["id"] = cid
    return out


def body(
    content: str | None = None,
    *,
    reasoning: str = "",
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str = "stop",
) -> str:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    )


def stream_of(
    content: str = "",
    *,
    reasoning: str = "",
    deltas: Sequence[list[dict[str, Any]]] = (),
    finish: str = "stop",
    cuts: Sequence[int] = (),
) -> list[str]:
    """SSE pieces: reasoning, the content cut at ``cuts``, then tool-call delta lists."""
    chunks: list[dict[str, Any]] = []

    def chunk(delta: dict[str, Any], fin: str | None = None) -> None:
        chunks.append(
            {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]}
        )

    if reasoning:
        chunk({"reasoning_content": reasoning})
    at = [0, *sorted(c for c in cuts if 0 < c < len(content)), len(content)]
    for a, b in itertools.pairwise(at):
        if content[a:b]:
            chunk({"content": content[a:b]})
    for d in deltas:
        chunk({"tool_calls": d})
    chunk({}, finish)
    return sse(*chunks)


def native_stream(calls: list[dict[str, Any]], pieces: int = 3) -> list[list[dict[str, Any]]]:
    """OpenAI-style deltas: id and name first, then the arguments in ``pieces`` fragments."""
    out: list[list[dict[str, Any]]] = []
    for i, c in enumerate(calls):
        fn = c["function"]
        out.append(
            [
                {
                    "index": i,
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": fn["name"], "arguments": ""},
                }
            ]
        )
        args = fn["arguments"]
        step = max(1, len(args) // pieces)
        for a in range(0, len(args), step):
            out.append([{"index": i, "function": {"arguments": args[a : a + step]}}])
    return out


# -- drivers: sync/async x ask/stream -------------------------------------------------------

MODES = ["sync-ask", "sync-stream", "async-ask", "async-stream"]


def run(
    mode: str,
    responses: Sequence[Scripted] | Callable[[Call], Scripted],
    prompt: str | list[dict[str, Any]] = "Weather in Paris?",
    client_kw: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[terse.Answer[Any], list[Any], list[Call]]:
    """One call in ``mode``: its answer, the stream's events (none for ask), the calls sent."""
    kw = {"dialect": "vllm", "thinking_open": False, **(client_kw or {})}
    if mode.startswith("sync"):
        transport: Any = InProcessTransport(responses)
        client = terse.Client(base_url="http://in-process.invalid/v1", model="m", **kw)
        client._transport = transport
        if mode.endswith("ask"):
            return client.ask(prompt, **options), [], transport.calls
        with client.stream(prompt, **options) as s:
            events = list(s)
        return s.get_answer(), events, transport.calls

    async def go() -> tuple[terse.Answer[Any], list[Any], list[Call]]:
        transport = AsyncInProcessTransport(responses)
        client = terse.AsyncClient(base_url="http://in-process.invalid/v1", model="m", **kw)
        client._transport = transport
        if mode.endswith("ask"):
            return await client.ask(prompt, **options), [], transport.calls
        async with client.stream(prompt, **options) as s:
            events = [e async for e in s]
        return await s.get_answer(), events, transport.calls

    return asyncio.run(go())


def scripted(mode: str, whole: str, streamed: list[str]) -> Scripted:
    return Scripted(streamed if mode.endswith("stream") else whole)


def named(answer: terse.Answer[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for c in answer.tool_calls]


# -- native calls ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "arguments",
    [
        '{"city": "Paris", "days": 2}',
        {"city": "Paris", "days": 2},
        json.dumps('{"city": "Paris", "days": 2}'),
    ],
    ids=["string", "object", "double-encoded"],
)
def test_native_calls_are_a_success_with_finish_reason_tool_calls(
    mode: str, arguments: Any
) -> None:
    calls = [call("get_weather", arguments)]
    as_text = [
        call("get_weather", arguments if isinstance(arguments, str) else json.dumps(arguments))
    ]
    r = scripted(
        mode,
        body(None, reasoning="Need the weather.", tool_calls=calls, finish="tool_calls"),
        stream_of(
            reasoning="Need the weather.", deltas=native_stream(as_text), finish="tool_calls"
        ),
    )
    answer, events, sent = run(mode, [r], tools=TOOLS)
    assert len(sent) == 1  # no retry: a call is an answer
    assert answer.finish_reason == "tool_calls"
    assert named(answer) == [("get_weather", {"city": "Paris", "days": 2})]
    assert answer.tool_calls[0].id == "call_1"
    assert answer.text == ""
    assert answer.reasoning == "Need the weather."
    assert [type(p) for p in answer.parts] == [terse.ReasoningPart, terse.ToolCallPart]
    assert [a.outcome for a in answer.attempts] == ["ok"]
    if mode.endswith("stream"):
        deltas = [e for e in events if isinstance(e, terse.ToolCallDelta)]
        assert deltas[0].name == "get_weather"
        assert deltas[0].id == "call_1"
        assert "".join(d.arguments_delta for d in deltas) == as_text[0]["function"]["arguments"]
        final = events[-1]
        assert isinstance(final, terse.Final)
        assert final.answer.tool_calls == answer.tool_calls


@pytest.mark.parametrize("mode", MODES)
def test_content_and_calls_in_one_message_are_both_kept(mode: str) -> None:
    calls = [
        call("get_weather", '{"city": "Paris"}'),
        call("get_weather", '{"city": "Rome"}', "call_2"),
    ]
    r = scripted(
        mode,
        body("Let me check both.", tool_calls=calls, finish="tool_calls"),
        stream_of(
            "Let me check both.", deltas=native_stream(calls), finish="tool_calls", cuts=[4, 9]
        ),
    )
    answer, events, _ = run(mode, [r], tools=TOOLS)
    assert answer.text == "Let me check both."
    assert named(answer) == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    assert [c.id for c in answer.tool_calls] == ["call_1", "call_2"]
    assert [type(p).__name__ for p in answer.parts] == ["TextPart", "ToolCallPart", "ToolCallPart"]
    if events:
        text = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
        assert text == "Let me check both."


def _quirky_streams() -> dict[str, list[list[dict[str, Any]]]]:
    a, b = '{"city": "Paris"}', '{"city": "Rome"}'
    fn = "get_weather"
    return {
        # Ollama: no index at all, the whole call in one chunk each
        "no-index-whole-calls": [
            [{"id": "c1", "function": {"name": fn, "arguments": a}}],
            [{"id": "c2", "function": {"name": fn, "arguments": b}}],
        ],
        # Ollama/SGLang: index always 0 for parallel calls, no ids
        "index-always-0": [
            [{"index": 0, "function": {"name": fn, "arguments": a}}],
            [{"index": 0, "function": {"name": fn, "arguments": b}}],
        ],
        # LiteLLM/SGLang: the id repeated on every fragment
        "id-on-every-chunk": [
            [{"index": 0, "id": "c1", "function": {"name": fn, "arguments": ""}}],
            [{"index": 0, "id": "c1", "function": {"arguments": a[:8]}}],
            [{"index": 0, "id": "c1", "function": {"arguments": a[8:]}}],
            [{"index": 1, "id": "c2", "function": {"name": fn, "arguments": b}}],
        ],
        # arguments as an object (llama.cpp --tool-args-object)
        "object-arguments": [
            [{"index": 0, "id": "c1", "function": {"name": fn, "arguments": {"city": "Paris"}}}],
            [{"index": 1, "id": "c2", "function": {"name": fn, "arguments": {"city": "Rome"}}}],
        ],
    }


@pytest.mark.parametrize("mode", ["sync-stream", "async-stream"])
@pytest.mark.parametrize("quirk", list(_quirky_streams()))
def test_streamed_native_quirks_give_the_calls(mode: str, quirk: str) -> None:
    deltas = _quirky_streams()[quirk]
    r = Scripted(stream_of(reasoning="Two cities.", deltas=deltas, finish="tool_calls"))
    answer, events, _ = run(mode, [r], tools=TOOLS)
    assert named(answer) == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    assert len({c.id for c in answer.tool_calls}) == 2
    starts = [e for e in events if isinstance(e, terse.ToolCallDelta) and e.name]
    assert [e.index for e in starts] == [0, 1]


def test_native_calls_without_tools_are_returned_unvalidated() -> None:
    r = Scripted(body(None, tool_calls=[call("anything", '{"x": 1}')], finish="tool_calls"))
    answer, _, _ = run("sync-ask", [r])
    assert named(answer) == [("anything", {"x": 1})]
    assert answer.finish_reason == "tool_calls"


# -- inline calls ----------------------------------------------------------------------------

HERMES = (
    "<think>\nThe user wants the weather. Maybe:\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>\nNo, Paris.\n</think>\n\n'
    "Checking Paris.\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>'
)


@pytest.mark.parametrize("mode", MODES)
def test_inline_hermes_call_after_think_and_the_rehearsal_is_not_a_call(mode: str) -> None:
    rng = random.Random(mode)
    cuts = sorted(rng.randrange(1, len(HERMES)) for _ in range(12))
    r = scripted(mode, body(HERMES), stream_of(HERMES, cuts=cuts))
    answer, events, sent = run(mode, [r], tools=TOOLS)
    assert named(answer) == [("get_weather", {"city": "Paris", "days": 3})]  # not Lyon
    assert answer.text == "Checking Paris."
    assert "<tool_call>" not in answer.text
    assert "Lyon" in answer.reasoning  # the rehearsal stays reasoning
    assert answer.finish_reason == "tool_calls"
    assert len(sent) == 1
    assert sent[0].body is not None
    assert sent[0].body["tools"] == TOOLS
    if events:
        shown = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
        assert shown == "Checking Paris."  # the markup is never shown as answer text
        starts = [e for e in events if isinstance(e, terse.ToolCallDelta) and e.name]
        assert [(e.index, e.name) for e in starts] == [(0, "get_weather")]


def test_any_chunking_of_an_inline_stream_gives_the_whole_answer() -> None:
    whole, _, _ = run("sync-ask", [Scripted(body(HERMES))], tools=TOOLS)
    rng = random.Random(16)
    for _ in range(30):
        cuts = [rng.randrange(1, len(HERMES)) for _ in range(rng.randint(1, 40))]
        got, _, _ = run("sync-stream", [Scripted(stream_of(HERMES, cuts=cuts))], tools=TOOLS)
        assert (got.text, got.reasoning, got.tool_calls) == (
            whole.text,
            whole.reasoning,
            whole.tool_calls,
        )


@pytest.mark.parametrize("mode", MODES)
def test_a_call_that_ends_unclosed_reasoning_is_real(mode: str) -> None:
    # The template opened <think> in the prompt; the model goes straight to the call.
    raw = (
        "I should look it up.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n"
        "</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>"
    )
    r = scripted(mode, body(raw), stream_of(raw, cuts=[5, 30, 60]))
    answer, _, _ = run(mode, [r], client_kw={"thinking_open": True}, tools=TOOLS)
    assert named(answer) == [("get_weather", {"city": "Paris", "days": 2})]  # typed by schema
    assert answer.reasoning == "I should look it up."
    assert answer.text == ""


def test_a_call_drafted_last_in_closed_reasoning_is_reported_not_executed() -> None:
    raw = (
        "<think>I'll run it.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n</think>'
    )
    with pytest.raises(terse.RetriesExhausted) as info:
        run("sync-ask", [Scripted(body(raw))] * 3, tools=TOOLS)
    cause = info.value.__cause__
    assert isinstance(cause, terse.NoAnswer)
    assert "get_weather" in str(cause)
    assert "not executed" in str(cause)


def test_fenced_call_markup_in_the_answer_is_data() -> None:
    raw = (
        "<think>Explain the format.</think>Write it like this:\n```\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n```'
    )
    answer, _, _ = run("sync-ask", [Scripted(body(raw))], tools=TOOLS)
    assert answer.tool_calls == ()
    assert "```" in answer.text
    assert "<tool_call>" in answer.text
    assert answer.finish_reason == "stop"


def test_without_tools_inline_markup_is_left_alone() -> None:
    answer, _, sent = run("sync-ask", [Scripted(body(HERMES))])
    assert answer.tool_calls == ()
    assert answer.text.startswith("Checking Paris.\n<tool_call>")
    assert sent[0].body is not None
    assert "tools" not in sent[0].body


# -- validation and re-asks -----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_invalid_arguments_are_re_asked_without_the_reasoning(mode: str) -> None:
    secret = "SECRET-REASONING-7"
    bad = [call("get_weather", '{"city": 42}')]  # city must be a string
    good = [call("get_weather", '{"city": "Paris"}', "call_2")]
    first = scripted(
        mode,
        body("Looking.", reasoning=secret, tool_calls=bad, finish="tool_calls"),
        stream_of("Looking.", reasoning=secret, deltas=native_stream(bad), finish="tool_calls"),
    )
    second = scripted(
        mode,
        body(None, reasoning="Fixed.", tool_calls=good, finish="tool_calls"),
        stream_of(reasoning="Fixed.", deltas=native_stream(good), finish="tool_calls"),
    )
    answer, events, sent = run(mode, [first, second], tools=TOOLS)
    assert named(answer) == [("get_weather", {"city": "Paris"})]
    assert [(a.purpose, a.outcome) for a in answer.attempts] == [
        ("ask", "invalid"),
        ("reask", "ok"),
    ]
    reask = sent[1].body
    assert reask is not None
    assert secret not in json.dumps(reask)  # never the reasoning, in any field
    assert reask["tools"] == TOOLS
    feedback = reask["messages"][-1]
    assert feedback["role"] == "user"
    assert "get_weather" in feedback["content"]
    assert reask["messages"][-2] == {"role": "assistant", "content": "Looking."}
    if events:
        assert any(isinstance(e, terse.NewAttempt) and e.reason == "invalid" for e in events)


def test_an_unknown_tool_is_re_asked_then_answered() -> None:
    raw_bad = '<tool_call>{"name": "get_wether", "arguments": {"city": "Paris"}}</tool_call>'
    raw_good = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    answer, _, sent = run(
        "sync-ask", [Scripted(body(raw_bad)), Scripted(body(raw_good))], tools=TOOLS
    )
    assert named(answer) == [("get_weather", {"city": "Paris"})]
    assert sent[1].body is not None
    assert "get_wether" in sent[1].body["messages"][-1]["content"]


@pytest.mark.parametrize("mode", ["sync-ask", "async-stream"])
def test_tool_call_error_when_the_retries_run_out(mode: str) -> None:
    bad = [call("get_weather", '{"days": 2}')]  # city is required
    r = scripted(
        mode,
        body(None, tool_calls=bad, finish="tool_calls"),
        stream_of(deltas=native_stream(bad), finish="tool_calls"),
    )
    with pytest.raises(terse.ToolCallError) as info:
        run(mode, [r, r], tools=TOOLS, max_retries=1)
    err = info.value
    assert isinstance(err, terse.ResponseError)
    assert err.problem is not None
    assert (err.problem.kind, err.problem.name) == ("invalid_arguments", "get_weather")
    assert "city" in " ".join(err.problem.errors)
    assert [a.outcome for a in err.attempts] == ["invalid", "invalid"]


def test_a_call_cut_by_max_tokens_is_re_asked() -> None:
    cut = '<think>ok</think><tool_call>{"name": "get_weather", "arguments": {"city": "Par'
    good = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    answer, _, sent = run(
        "sync-ask", [Scripted(body(cut, finish="length")), Scripted(body(good))], tools=TOOLS
    )
    assert named(answer) == [("get_weather", {"city": "Paris"})]
    assert answer.attempts[0].outcome == "invalid"
    assert sent[1].body is not None
    assert "cut" in sent[1].body["messages"][-1]["content"]


# -- tools given as functions and pydantic models; tool_choice ------------------------------


def get_time(zone: str, precise: bool = False) -> str:
    """The time in a zone.

    Args:
        zone: An IANA zone name.
        precise: Include seconds.
    """
    return "12:00"


class Search(pydantic.BaseModel):
    """Search the web."""

    query: str
    limit: int = 5


def test_functions_and_models_are_sent_in_openai_shape_and_tool_choice_passes() -> None:
    raw = '<tool_call>{"name": "Search", "arguments": {"query": "terse", "limit": "3"}}</tool_call>'
    answer, _, sent = run(
        "sync-ask", [Scripted(body(raw))], tools=[get_time, Search], tool_choice="auto"
    )
    b = sent[0].body
    assert b is not None
    assert b["tool_choice"] == "auto"
    names = [t["function"]["name"] for t in b["tools"]]
    assert names == ["get_time", "Search"]
    assert all(t["type"] == "function" for t in b["tools"])
    assert b["tools"][0]["function"]["parameters"]["required"] == ["zone"]
    assert named(answer) == [("Search", {"query": "terse", "limit": 3})]  # coerced by the model


def test_client_default_tools_and_a_call_override() -> None:
    raw = '<tool_call>{"name": "get_time", "arguments": {"zone": "UTC"}}</tool_call>'
    answer, _, sent = run("sync-ask", [Scripted(body(raw))], client_kw={"tools": [get_time]})
    assert named(answer) == [("get_time", {"zone": "UTC"})]
    assert sent[0].body is not None
    assert sent[0].body["tools"][0]["function"]["name"] == "get_time"
    answer, _, sent = run(
        "sync-ask", [Scripted(body("plain"))], client_kw={"tools": [get_time]}, tools=None
    )
    assert sent[0].body is not None
    assert "tools" not in sent[0].body


def test_bad_tools_are_a_usage_error_before_any_request() -> None:
    with pytest.raises(terse.UsageError):
        run("sync-ask", [], tools=[42])
    with pytest.raises(terse.UsageError):
        run("sync-ask", [], tools=WEATHER)  # one dict, not a list
    with pytest.raises(terse.UsageError):
        run("sync-ask", [], tools=[WEATHER, WEATHER])


def test_a_tool_call_is_the_answer_even_with_a_response_model() -> None:
    r = Scripted(
        body(None, tool_calls=[call("get_weather", '{"city": "Paris"}')], finish="tool_calls")
    )
    answer, _, sent = run("sync-ask", [r], tools=TOOLS, response_model=int)
    assert len(sent) == 1
    assert named(answer) == [("get_weather", {"city": "Paris"})]


# -- budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync-ask", "async-stream"])
@pytest.mark.parametrize(
    ("dialect", "method"),
    [("vllm", "chat-prefill"), ("deepseek", "deepseek-prefix"), ("lmstudio", "new-turn")],
)
def test_a_budget_conclusion_keeps_the_tools_and_may_be_a_call(
    mode: str, dialect: str, method: str
) -> None:
    thoughts = [{"reasoning_content": "word " * 5} for _ in range(40)]
    long_think = sse(
        *({"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in thoughts)
    )
    raw = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    # a new turn may think again, so under a budget it streams whatever the caller asked
    streams = mode.endswith("stream") or method == "new-turn"
    conclusion = Scripted(stream_of(raw) if streams else body(raw))
    answer, _, sent = run(
        mode,
        [Scripted(long_think), conclusion],
        client_kw={"dialect": dialect},
        tools=TOOLS,
        thinking_budget=terse.Budget(tokens=30, native=False),
    )
    assert answer.budget is not None
    assert answer.budget.hit
    assert answer.budget.strategy == "conclude"
    assert answer.budget.method == method
    assert sent[1].purpose == "conclude"
    assert sent[1].body is not None
    assert sent[1].body["tools"] == TOOLS
    assert named(answer) == [("get_weather", {"city": "Oslo"})]
    assert answer.finish_reason == "tool_calls"


def test_llamacpp_conclusion_renders_the_tools_into_its_prompt() -> None:
    thoughts = [{"content": "word " * 5} for _ in range(40)]
    long_think = sse(
        *({"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in thoughts)
    )
    rendered = Scripted(
        json.dumps({"prompt": "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n"})
    )
    raw = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    conclusion = json.dumps({"choices": [{"index": 0, "text": raw, "finish_reason": "stop"}]})
    answer, _, sent = run(
        "sync-ask",
        [Scripted(long_think), rendered, Scripted(conclusion)],
        client_kw={"dialect": "llamacpp", "thinking_open": True},
        tools=TOOLS,
        thinking_budget=terse.Budget(tokens=30, native=False),
    )
    template = next(c for c in sent if c.endpoint == "apply-template")
    assert template.body is not None
    assert template.body["tools"] == TOOLS
    assert named(answer) == [("get_weather", {"city": "Oslo"})]


# -- the history message ------------------------------------------------------------------------


def _call_answer(dialect: str, model: str, reasoning: str) -> terse.Answer[Any]:
    r = Scripted(
        body(
            None,
            reasoning=reasoning,
            tool_calls=[call("get_weather", {"city": "Paris"})],
            finish="tool_calls",
        )
    )
    answer, _, _ = run("sync-ask", [r], client_kw={"dialect": dialect}, tools=TOOLS, model=model)
    return answer


def test_message_is_openai_shaped_without_reasoning_by_default() -> None:
    answer = _call_answer("vllm", "qwen3-8b", "private thoughts")
    assert answer.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert (
        json.loads(answer.message["tool_calls"][0]["function"]["arguments"])
        == answer.tool_calls[0].arguments
    )


def test_message_echoes_reasoning_for_deepseek_and_kimi() -> None:
    ds = _call_answer("deepseek", "deepseek-chat", "thinking about Paris")
    assert ds.message["reasoning_content"] == "thinking about Paris"
    assert _call_answer("deepseek", "deepseek-chat", "").message["reasoning_content"] == ""
    kimi = _call_answer("vllm", "moonshotai/Kimi-K2-Thinking", "")
    assert kimi.message["reasoning_content"] == " "  # Kimi refuses an empty string
    v32 = _call_answer("sglang", "deepseek-ai/DeepSeek-V3.2", "r")
    assert v32.message["reasoning_content"] == "r"


def test_a_text_answer_message_has_no_calls_and_no_reasoning() -> None:
    r = Scripted(body("Sunny.", reasoning="hmm"))
    answer, _, _ = run("sync-ask", [r], client_kw={"dialect": "deepseek"}, tools=TOOLS)
    assert answer.tool_calls == ()
    assert answer.message == {"role": "assistant", "content": "Sunny."}


def test_the_message_goes_back_into_the_next_turn() -> None:
    first = Scripted(
        body(None, tool_calls=[call("get_weather", '{"city": "Paris"}')], finish="tool_calls")
    )
    answer, _, _ = run("sync-ask", [first], tools=TOOLS)
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Paris?"},
        answer.message,
        {"role": "tool", "tool_call_id": answer.tool_calls[0].id, "content": "sunny"},
    ]
    final, _, sent = run("sync-ask", [Scripted(body("It is sunny."))], prompt=history, tools=TOOLS)
    assert final.text == "It is sunny."
    assert sent[0].body is not None
    assert sent[0].body["messages"][1]["tool_calls"][0]["id"] == "call_1"


def test_generated_ids_differ_between_turns() -> None:
    raw = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    one, _, _ = run("sync-ask", [Scripted(body(raw))], tools=TOOLS)
    history = [
        {"role": "user", "content": "q"},
        one.message,
        {"role": "tool", "tool_call_id": one.tool_calls[0].id, "content": "?"},
    ]
    two, _, _ = run("sync-ask", [Scripted(body(raw))], prompt=history, tools=TOOLS)
    assert one.tool_calls[0].id != two.tool_calls[0].id


def test_endless_streamed_arguments_are_bounded_by_limits_answer() -> None:
    pieces = [[{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}]]
    pieces += [[{"index": 0, "function": {"arguments": "x" * 500}}] for _ in range(50)]
    r = Scripted(stream_of(deltas=pieces, finish="tool_calls"))
    with pytest.raises(terse.ResponseTooLarge) as info:
        run(
            "sync-stream",
            [r],
            client_kw={"limits": terse.Limits(answer=4000)},
            tools=TOOLS,
            max_retries=0,
        )
    assert info.value.limit == "answer"


# -- every dialect -------------------------------------------------------------------------------

DIALECTS = [d.name for d in terse.DIALECTS]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_re_ask_carries_the_reasoning_on_any_dialect(dialect: str) -> None:
    secret = "SECRET-REASONING-9"
    bad = (
        "<think>"
        + secret
        + '</think><tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'
    )
    good = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    answer, _, sent = run(
        "sync-ask",
        [Scripted(body(bad, reasoning=secret)), Scripted(body(good))],
        client_kw={"dialect": dialect},
        tools=TOOLS,
    )
    assert named(answer) == [("get_weather", {"city": "Paris"})]
    assert secret not in json.dumps(sent[1].body)


@pytest.mark.parametrize("mode", ["sync-ask", "async-ask"])
def test_tools_given_to_either_client_are_its_default(mode: str) -> None:
    raw = '<tool_call>{"name": "get_time", "arguments": {"zone": "UTC"}}</tool_call>'
    answer, _, sent = run(mode, [Scripted(body(raw))], client_kw={"tools": [get_time]})
    assert named(answer) == [("get_time", {"zone": "UTC"})]
    assert sent[0].body is not None
    assert [t["function"]["name"] for t in sent[0].body["tools"]] == ["get_time"]


def test_a_call_cut_by_the_budget_answer_allowance_gets_twice_as_much() -> None:
    cut = '<tool_call>{"name": "get_weather", "arguments": {"city": "Par'
    good = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    budget = terse.Budget(tokens=100, native=False, answer_tokens=50)
    answer, _, sent = run(
        "sync-ask",
        [Scripted(stream_of(cut, reasoning="ok", finish="length")), Scripted(stream_of(good))],
        tools=TOOLS,
        thinking_budget=budget,
    )
    assert named(answer) == [("get_weather", {"city": "Paris"})]
    assert sent[0].body is not None
    assert sent[1].body is not None
    assert sent[1].body["max_tokens"] - sent[0].body["max_tokens"] == 50
