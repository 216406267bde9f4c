"""Real agent frameworks against `terse serve` over FakeServer, unchanged but for ``base_url``.

Each runs a tool turn through an inline server (no reasoning parser: ``<think>`` and the
Hermes tool markup in ``content``), whose reasoning rehearses a *draft* call (Rome) before
the real one (Paris); the turn after the tool result is runaway thinking. Through the
proxy: the tool is called once, with the real arguments; the runaway is cut at the
budget and concluded; the final answer arrives clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from terse.testing import Call, FakeServer, Reply, Runaway

from .conftest import Proxy

BUDGET = 64
FINAL = "It is sunny in Paris."


@pytest.fixture
def served(proxy: Proxy) -> Iterator[tuple[FakeServer, str]]:
    with FakeServer(dialect="inline") as up:
        up.push(
            Reply(
                reasoning="The user wants the weather; I will call the tool.",
                drafts=[Call("get_weather", {"city": "Rome"})],
                tool_calls=[Call("get_weather", {"city": "Paris"})],
            ),
            Runaway(answer=FINAL),
        )
        yield up, proxy(up, thinking_budget=BUDGET).base_url


def check_upstream(up: FakeServer, calls: list[str]) -> None:
    assert calls == ["Paris"]  # once, with the real arguments (never the Rome draft)
    up.wait_idle()
    chats = [q for q in up.requests if q.path.endswith("/chat/completions")]
    # the tool turn, the runaway (cut at the budget), its conclusion
    assert len(chats) == 3
    assert chats[1].finish_reason in ("length", None)
    assert chats[1].reasoning_tokens < 2000  # cut near the budget, not left to run
    second = chats[1].body or {}
    tool_msgs = [m for m in second["messages"] if m.get("role") == "tool"]
    assert len(tool_msgs) == 1
    assert "sunny" in tool_msgs[0]["content"]
    # reasoning never goes back upstream, and neither does terse's budget field
    assert all("reasoning_content" not in m for m in second["messages"])
    assert all("thinking_budget" not in (q.body or {}) for q in chats)


def test_pydantic_ai_agent_with_a_tool(served: tuple[FakeServer, str]) -> None:
    pytest.importorskip("pydantic_ai")
    import openai
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    up, base_url = served
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    async def main() -> Any:
        # our own openai client, closed in its loop (pydantic-ai's cached one outlives it)
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as c:
            model = OpenAIChatModel("m", provider=OpenAIProvider(openai_client=c))
            agent = Agent(model, tools=[get_weather])
            return await agent.run("What is the weather in Paris?")

    result = asyncio.run(main())
    assert result.output == FINAL
    check_upstream(up, calls)


def test_openai_agents_sdk_with_a_function_tool(served: tuple[FakeServer, str]) -> None:
    pytest.importorskip("agents")
    import openai
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    up, base_url = served
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    async def main() -> Any:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as c:
            model = OpenAIChatCompletionsModel(model="m", openai_client=c)
            agent = Agent(
                name="weather", instructions="Answer briefly.", model=model, tools=[get_weather]
            )
            return await Runner.run(agent, "What is the weather in Paris?")

    result = asyncio.run(main())
    assert result.final_output == FINAL
    check_upstream(up, calls)


def test_langchain_chat_openai_bind_tools(served: tuple[FakeServer, str]) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    up, base_url = served
    calls: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    llm = ChatOpenAI(model="m", base_url=base_url, api_key="unused", max_retries=0).bind_tools(
        [get_weather]
    )
    history: list[Any] = [HumanMessage("What is the weather in Paris?")]
    first = llm.invoke(history)
    assert "<tool_call>" not in str(first.content)
    assert len(first.tool_calls) == 1
    history.append(first)
    for call in first.tool_calls:
        history.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    final = llm.invoke(history)
    assert final.content == FINAL
    assert not final.tool_calls
    check_upstream(up, calls)
