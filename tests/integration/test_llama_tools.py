"""Tool calls through terse against a real llama-server (``--jinja``, R1-style template).

The plumbing, not the model: a request with ``tools`` and a tool result in the history goes
through terse end to end — llama-server accepts what terse sends (the tools in OpenAI's shape,
the assistant's call with its id, the tool message answering it), and what comes back is a
clean `Answer` (text, or calls validated against the tools) or a typed terse error. SmolLM2
135M need not call tools well; nothing here depends on what it says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

import terse

from ._llama_terse_run import MODEL, TIMEOUT, Sent, _record

pytestmark = pytest.mark.llama

TEMPLATE = "chatml-r1-style"


def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: The city's name.
    """
    return f"18C and sunny in {city}"


HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny in Paris"},
]

# A typed error is an honest outcome for a 135M model (it may write a broken call); an
# untyped one, a server 4xx/5xx or a hang is a plumbing failure.
MODEL_OUTCOMES = (terse.ToolCallError, terse.ResponseError, terse.RetriesExhausted)


def _check(answer: terse.Answer[Any]) -> None:
    assert answer.dialect == "llamacpp"
    assert "<tool_call>" not in answer.text
    assert "<think>" not in answer.text
    assert "</think>" not in answer.text
    for call in answer.tool_calls:
        assert call.name == "get_weather"
        assert isinstance(call.arguments.get("city"), str)
        assert call.id
    if answer.tool_calls:
        assert answer.finish_reason == "tool_calls"
        msg = answer.message
        assert [c["id"] for c in msg["tool_calls"]] == [c.id for c in answer.tool_calls]
        assert "reasoning_content" not in msg  # llama.cpp does not ask for it back


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_result_in_the_history_goes_through(
    llama_servers: Callable[[str], Any], stream: bool
) -> None:
    server = llama_servers(TEMPLATE)
    seen: list[terse.Attempt] = []
    sent: list[Sent] = []
    api = openai.OpenAI(
        base_url=server.base_url,
        api_key="sk-local",
        http_client=openai.DefaultHttpxClient(
            event_hooks={"request": [lambda request: _record(sent, request)]}
        ),
    )
    with (
        api,
        terse.Client(
            api,
            model=MODEL,
            timeout=TIMEOUT,
            temperature=0,
            max_retries=1,
            on_attempt=seen.append,
        ) as client,
    ):
        try:
            if stream:
                with client.stream(HISTORY, tools=[get_weather], max_tokens=96) as s:
                    events = list(s)
                answer = s.get_answer()
                assert isinstance(events[-1], terse.Final)
            else:
                answer = client.ask(HISTORY, tools=[get_weather], max_tokens=96)
        except MODEL_OUTCOMES:
            answer = None  # a typed verdict on what the model wrote; the requests are checked below
    # terse sent the tools in OpenAI's shape and the history as given, every time ...
    chats = [x.body for x in sent if x.path.endswith("/chat/completions")]
    assert chats
    for body in chats:
        assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
        assert body["tools"][0]["function"]["parameters"]["required"] == ["city"]
        assert body["messages"][:3] == HISTORY  # the re-ask may add feedback, never reasoning
        assert all("reasoning_content" not in m for m in body["messages"])
    # ... and, whatever the model said, the server accepted every request terse made.
    assert seen
    for attempt in seen:
        assert not isinstance(attempt.error, (terse.ServerError, terse.TransportError)), attempt
    if answer is not None:
        _check(answer)


def test_run_tools_completes_or_stops_with_a_typed_reason(
    llama_servers: Callable[[str], Any],
) -> None:
    server = llama_servers(TEMPLATE)
    ran: list[str] = []

    def weather(city: str) -> str:
        """Weather for a city.

        Args:
            city: The city's name.
        """
        ran.append(city)
        return get_weather(city)

    with terse.Client(
        base_url=server.base_url, model=MODEL, timeout=TIMEOUT, temperature=0, max_retries=1
    ) as client:
        try:
            answer = client.run_tools(
                "What is the weather in Paris? Use the tool.",
                tools=[weather],
                max_steps=3,
                max_tokens=96,
            )
        except terse.RetriesExhausted as exc:
            for attempt in exc.attempts:
                assert not isinstance(attempt.error, (terse.ServerError, terse.TransportError))
            return
        except (terse.ToolCallError, terse.ResponseError):
            return
    assert not answer.tool_calls  # the loop ends on a text answer
    assert sum(len(s.results) for s in answer.steps) == len(ran)  # every call was run once
    for step in answer.steps:
        for result in step.results:
            assert result.error is None or result.content.startswith("Error: ")
