"""`run_tools`: the agent loop, sync and async, over scripted server responses (no sockets)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import terse
from terse._client.transport import AsyncInProcessTransport, InProcessTransport, Scripted
from terse._core.ops import Call

MODES = ["sync", "async"]


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"an in-process test opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def turn(
    content: str | None = None,
    *,
    calls: Sequence[tuple[str, dict[str, Any]]] = (),
    reasoning: str = "",
    tokens: int = 12,
) -> Scripted:
    """One non-streamed response: text, or native calls (ids call_0, call_1, …)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(calls)
        ]
    finish = "tool_calls" if calls else "stop"
    body = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 2, "completion_tokens": tokens - 2, "total_tokens": tokens},
    }
    return Scripted(json.dumps(body))


def run(
    mode: str,
    responses: Sequence[Scripted] | Callable[[Call], Scripted],
    client_kw: dict[str, Any] | None = None,
    prompt: str | list[dict[str, Any]] = "Weather in Paris?",
    **options: Any,
) -> tuple[terse.Answer[Any], list[Call]]:
    kw = {"dialect": "vllm", "thinking_open": False, **(client_kw or {})}
    if mode == "sync":
        transport: Any = InProcessTransport(responses)
        client = terse.Client(base_url="http://in-process.invalid/v1", model="m", **kw)
        client._transport = transport
        return client.run_tools(prompt, **options), transport.calls

    async def go() -> tuple[terse.Answer[Any], list[Call]]:
        transport = AsyncInProcessTransport(responses)
        client = terse.AsyncClient(base_url="http://in-process.invalid/v1", model="m", **kw)
        client._transport = transport
        return await client.run_tools(prompt, **options), transport.calls

    return asyncio.run(go())


def get_weather(city: str, days: int = 1) -> dict[str, Any]:
    """Weather for a city.

    Args:
        city: The city.
        days: How many days ahead.
    """
    if city == "Atlantis":
        raise ValueError("no such city")
    return {"city": city, "sky": "sunny", "days": days}


@pytest.mark.parametrize("mode", MODES)
def test_calls_are_run_and_their_results_answer_their_ids(mode: str) -> None:
    responses = [
        turn(calls=[("get_weather", {"city": "Paris", "days": "2"})], reasoning="Use the tool."),
        turn("It is sunny in Paris."),
    ]
    answer, calls = run(mode, responses, tools=[get_weather])

    assert answer.text == "It is sunny in Paris."
    assert answer.tool_calls == ()
    (step,) = answer.steps
    (result,) = step.results
    assert result.call.name == "get_weather"
    assert result.value == {"city": "Paris", "sky": "sunny", "days": 2}  # coerced to int
    assert json.loads(result.content) == result.value
    assert result.error is None
    # The second request carries the assistant's call and the tool's answer to its id,
    # and never the reasoning (vLLM does not ask for it back).
    history = calls[1].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assistant, tool = history[1], history[2]
    assert "reasoning_content" not in assistant
    assert "Use the tool." not in json.dumps(history)
    (sent,) = assistant["tool_calls"]
    assert sent["id"] == tool["tool_call_id"] == result.call.id
    assert json.loads(sent["function"]["arguments"]) == {"city": "Paris", "days": 2}
    assert tool["content"] == result.content
    assert all(c.body.get("tools") for c in calls)  # every turn offers the tools
    # Usage and attempts of every turn.
    assert answer.usage.total_tokens == 24
    assert len(answer.attempts) == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_function_that_raises_is_reported_to_the_model_and_the_loop_goes_on(mode: str) -> None:
    responses = [
        turn(calls=[("get_weather", {"city": "Atlantis"})]),
        turn("Atlantis has no weather report."),
    ]
    answer, calls = run(mode, responses, tools=[get_weather])

    (result,) = answer.steps[0].results
    assert result.error == "ValueError: no such city"
    assert result.content == "Error: ValueError: no such city"
    assert calls[1].body["messages"][-1]["content"] == "Error: ValueError: no such city"
    assert answer.text == "Atlantis has no weather report."


@pytest.mark.parametrize("mode", MODES)
def test_steps_are_bounded(mode: str) -> None:
    ran: list[str] = []

    def ping(host: str) -> str:
        ran.append(host)
        return "pong"

    def always_calls(call: Call) -> Scripted:
        return turn(calls=[("ping", {"host": "a"})])

    with pytest.raises(terse.RetriesExhausted) as info:
        run(mode, always_calls, tools=[ping], max_steps=3)
    assert info.value.reason == "steps"
    assert len(info.value.attempts) == 3  # three turns asked
    assert ran == ["a", "a"]  # the third turn's call was not run


@pytest.mark.parametrize("mode", MODES)
def test_the_deadline_covers_the_whole_loop_tools_included(mode: str) -> None:
    def slow(seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    responses = [turn(calls=[("slow", {"seconds": 0.6})]), turn("never asked")]
    with pytest.raises(terse.RetriesExhausted) as info:
        run(mode, responses, tools=[slow], deadline=0.4)
    assert info.value.reason == "deadline"
    assert len(info.value.attempts) == 1


@pytest.mark.parametrize("mode", MODES)
def test_max_total_tokens_covers_the_whole_loop(mode: str) -> None:
    def always_calls(call: Call) -> Scripted:
        return turn(calls=[("get_weather", {"city": "Paris"})], tokens=12)

    with pytest.raises(terse.RetriesExhausted) as info:
        run(mode, always_calls, tools=[get_weather], max_total_tokens=30, max_steps=10)
    assert info.value.reason == "tokens"
    assert sum(a.usage.total_tokens for a in info.value.attempts) <= 36


def test_deepseek_tool_loops_echo_the_reasoning_on_the_call_message() -> None:
    responses = [
        turn(calls=[("get_weather", {"city": "Paris"})], reasoning="I should look it up."),
        turn("Sunny."),
    ]
    _, calls = run("sync", responses, client_kw={"dialect": "deepseek"}, tools=[get_weather])
    assistant = calls[1].body["messages"][1]
    assert assistant["reasoning_content"] == "I should look it up."


def test_async_functions_are_awaited_and_one_turns_calls_run_together() -> None:
    arrived = 0
    both = asyncio.Event()

    async def fetch(url: str) -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=5)  # times out if run one by one
        return f"<html>{url}</html>"

    responses = [turn(calls=[("fetch", {"url": "a"}), ("fetch", {"url": "b"})]), turn("Both.")]
    answer, calls = run("async", responses, tools=[fetch])

    results = answer.steps[0].results
    assert [r.content for r in results] == ["<html>a</html>", "<html>b</html>"]
    assert [r.error for r in results] == [None, None]
    tools = calls[1].body["messages"][2:]
    assert [m["tool_call_id"] for m in tools] == [r.call.id for r in results]


def test_the_sync_client_refuses_an_async_function_before_any_request() -> None:
    async def fetch(url: str) -> str:
        return url

    with pytest.raises(terse.UsageError, match=r"AsyncClient\.run_tools"):
        run("sync", [], tools=[fetch])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs tools"),
        ({"tools": [{"type": "function", "function": {"name": "x"}}]}, "must be a function"),
        ({"tools": [get_weather], "max_steps": 0}, "max_steps"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(terse.UsageError, match=message):
        run("sync", [], **options)
