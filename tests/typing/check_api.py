"""Static checks of terse's public types (run by mypy --strict from test_api_surface)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from typing_extensions import assert_type

import terse


class City(BaseModel):
    city: str


def sync_client(client: terse.Client) -> None:
    assert_type(client.ask("q"), terse.Answer[str])
    assert_type(client.ask("q", response_model=City), terse.Answer[City])
    assert_type(client.ask("q", response_model=int).value, int)
    # Special forms (Literal, unions) are not type[T] to a type checker: the value is Any.
    assert_type(client.ask("q", response_model=Literal["a", "b"]).value, Any)
    assert_type(client.ask("q", response_model=list[int]).value, list[int])
    assert_type(client.ask("q", thinking_budget=terse.Budget(tokens=10)).usage, terse.Usage)
    assert_type(client.probe(), terse.ServerInfo)
    assert_type(client.ask("q").parts, tuple[terse.Part, ...])
    for part in client.ask("q").parts:
        if isinstance(part, terse.ReasoningPart):
            assert_type(part.text, str)
        elif isinstance(part, terse.ToolCallPart):
            assert_type(part.call, terse.ToolCall)
        else:
            assert_type(part, terse.TextPart)
    answer = client.ask("q", tools=[{"type": "function", "function": {"name": "f"}}])
    assert_type(answer.tool_calls, tuple[terse.ToolCall, ...])
    assert_type(answer.message, dict[str, Any])


async def async_client(client: terse.AsyncClient) -> None:
    assert_type(await client.ask("q"), terse.Answer[str])
    assert_type(await client.ask("q", response_model=City), terse.Answer[City])
    assert_type(client.stream("q"), terse.AsyncAnswerStream[Any])


def splitting() -> None:
    assert_type(terse.split("x"), terse.Split)
    assert_type(terse.split("x").parts, tuple[terse.Part, ...])
    assert_type(terse.strip("x"), str)
    assert_type(terse.Splitter().feed("x"), terse.Delta)
