"""`run_tools`: the agent loop as one state object, shared by the sync and async clients.

``Client.run_tools`` and ``AsyncClient.run_tools`` are its two shells. Each turn they ask
with the history and the tools (`ToolLoop.options` gives the turn's options, with what is
left of the deadline and of the token cap), hand the answer to `ToolLoop.take`, and, when
the model called tools, run each call (`invoke` or `ainvoke`) and hand the results to
`ToolLoop.record`, which appends the assistant message (`Answer.message`: the reasoning
echoed only where the provider demands it) and one ``role: "tool"`` message per call, each
answering its call's id. A function that raises is reported to the model as an error
result; the loop goes on. Turns, time and tokens are bounded: `RetriesExhausted` with
``reason`` ``"steps"``, ``"deadline"`` or ``"tokens"``, carrying every attempt of every turn.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pydantic

from .._exceptions import RetriesExhausted, UsageError, WrongType
from .._results import Answer, Attempt, ToolResult, ToolStep, Usage
from ..tools._calls import ToolCall
from ..tools._schema import ToolSpec, tool_specs

__all__ = ["MAX_STEPS", "ToolLoop"]

MAX_STEPS = 10
"""Default number of model turns `run_tools` makes before it gives up."""


class ToolLoop:
    """One `run_tools` call: the history, the functions, and what has been spent."""

    def __init__(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        options: Mapping[str, Any],
        max_steps: int,
        *,
        awaitable: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"max_steps must be an int >= 1, not {max_steps!r}")
        if "tools" not in options or not options["tools"]:
            raise UsageError("run_tools needs tools=[...]: the functions the model may call")
        self.specs = _functions(tool_specs(options["tools"]), awaitable=awaitable)
        self.messages = _messages(prompt)
        self.max_steps = max_steps
        self.clock = clock
        deadline = options.get("deadline")
        self.deadline_at = None if deadline is None else clock() + float(deadline)
        self.max_total = options.get("max_total_tokens")
        self.base = dict(options)
        self.steps: list[ToolStep] = []
        self.attempts: list[Attempt] = []
        self.usage = Usage()

    def options(self) -> dict[str, Any]:
        """The next turn's options: what is left of the deadline and of the token cap."""
        opts = dict(self.base)
        if self.deadline_at is not None:
            left = self.deadline_at - self.clock()
            if left <= 0:
                raise self._exhausted("deadline", "the deadline passed")
            opts["deadline"] = left
        if self.max_total is not None:
            left_tokens = self.max_total - self.usage.total_tokens
            if left_tokens <= 0:
                raise self._exhausted("tokens", f"max_total_tokens={self.max_total} was spent")
            opts["max_total_tokens"] = left_tokens
        return opts

    def take(self, answer: Answer[Any]) -> bool:
        """Account for one turn's answer; True when it is the final one (no tool calls)."""
        self.attempts.extend(answer.attempts)
        self.usage = self.usage + answer.usage
        if not answer.tool_calls:
            return True
        if len(self.steps) + 1 >= self.max_steps:
            raise self._exhausted(
                "steps", f"the model still called tools after max_steps={self.max_steps} turns"
            )
        return False

    def record(self, answer: Answer[Any], results: Sequence[ToolResult]) -> None:
        """The turn's assistant message and one tool message per call, into the history."""
        self.steps.append(ToolStep(answer=answer, results=tuple(results)))
        self.messages.append(answer.message)
        for r in results:
            self.messages.append({"role": "tool", "tool_call_id": r.call.id, "content": r.content})

    def finish(self, answer: Answer[Any]) -> Answer[Any]:
        """The final answer, with every step and the usage and attempts of every turn."""
        return replace(
            answer, usage=self.usage, attempts=tuple(self.attempts), steps=tuple(self.steps)
        )

    # -- running the functions ----------------------------------------------------------

    def invoke(self, call: ToolCall) -> ToolResult:
        """Run one call's function; an exception becomes an error result for the model."""
        spec = self.specs[call.name]
        try:
            value = _function(spec)(**spec.bind(call.arguments))
        except Exception as exc:  # the model is told, and the loop goes on
            return _failed(call, exc)
        return ToolResult(call=call, content=_content(value), value=value)

    async def ainvoke(self, call: ToolCall) -> ToolResult:
        """`invoke` for the async client: coroutine functions awaited, others in a thread."""
        spec = self.specs[call.name]
        fn = _function(spec)
        try:
            kwargs = spec.bind(call.arguments)
            if inspect.iscoroutinefunction(fn):
                value = await fn(**kwargs)
            else:
                value = await asyncio.to_thread(fn, **kwargs)
        except Exception as exc:
            return _failed(call, exc)
        return ToolResult(call=call, content=_content(value), value=value)

    def _exhausted(self, reason: str, why: str) -> RetriesExhausted:
        return RetriesExhausted(
            f"run_tools stopped after {len(self.steps)} tool steps: {why}",
            attempts=self.attempts,
            reason=reason,
        )


def _functions(specs: dict[str, ToolSpec], *, awaitable: bool) -> dict[str, ToolSpec]:
    for name, spec in specs.items():
        if spec.function is None:
            raise UsageError(
                f"run_tools runs the tools itself, so each must be a function; {name!r} is a "
                "tool dict or a model (use ask(tools=...) and run the calls yourself)"
            )
        if not awaitable and inspect.iscoroutinefunction(spec.function):
            raise UsageError(
                f"tool {name!r} is an async function: use AsyncClient.run_tools to await it"
            )
    return specs


def _function(spec: ToolSpec) -> Callable[..., Any]:
    assert spec.function is not None  # checked by _functions
    return spec.function


def _messages(prompt: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, Sequence):
        messages = [dict(m) for m in prompt if isinstance(m, Mapping)]
        if len(messages) == len(prompt):
            return messages
    raise WrongType(f"prompt must be a str or a list of messages, not {type(prompt).__name__}")


def _content(value: Any) -> str:
    """A function's return value as the text of a tool message."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _failed(call: ToolCall, exc: Exception) -> ToolResult:
    error = f"{type(exc).__name__}: {exc}"
    return ToolResult(call=call, content=f"Error: {error}", error=error)
