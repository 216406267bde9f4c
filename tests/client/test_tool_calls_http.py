"""Inline tool calls from the fake server over loopback HTTP: every dialect, sync and async,
streamed or not, through the openai client (the real transport)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import terse
from terse.testing import DIALECTS, FakeServer, Reply

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
DRAFT = 'Maybe <tool_call>{"name": "get_weather", "arguments": {"city": "Lyon"}}</tool_call>? No.'
MODES = ["sync", "async", "sync-stream", "async-stream"]


def run(mode: str, srv: FakeServer) -> tuple[terse.Answer[Any], list[Any]]:
    opts: dict[str, Any] = {"model": "qwen3-8b", "timeout": 10.0}
    if mode.startswith("sync"):
        with terse.Client(base_url=srv.base_url, **opts) as client:
            if mode.endswith("stream"):
                with client.stream("Weather in Paris?", tools=[WEATHER]) as s:
                    events = list(s)
                return s.get_answer(), events
            return client.ask("Weather in Paris?", tools=[WEATHER]), []

    async def go() -> tuple[terse.Answer[Any], list[Any]]:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            if mode.endswith("stream"):
                async with client.stream("Weather in Paris?", tools=[WEATHER]) as s:
                    events = [e async for e in s]
                return await s.get_answer(), events
            return await client.ask("Weather in Paris?", tools=[WEATHER]), []

    return asyncio.run(go())


# inline-harmony: gpt-oss writes calls in its commentary channel, not Hermes markup in its
# final message; its raw harmony is covered by the corpus rows (tests/client/test_tool_corpus.py).
@pytest.mark.parametrize("dialect", sorted(set(DIALECTS) - {"inline-harmony"}))
@pytest.mark.parametrize("mode", MODES)
def test_inline_call_in_every_dialect(dialect: str, mode: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning=DRAFT, answer="One moment.\n" + CALL))
        answer, events = run(mode, srv)
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert answer.text == "One moment."
    assert answer.finish_reason == "tool_calls"
    assert "Lyon" in answer.reasoning
    assert answer.message["tool_calls"][0]["id"] == answer.tool_calls[0].id
    if events:
        shown = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
        assert shown == "One moment."
        assert [e.name for e in events if isinstance(e, terse.ToolCallDelta) and e.name] == [
            "get_weather"
        ]
