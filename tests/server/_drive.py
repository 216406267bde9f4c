"""Drive `ask_flow` in process: a scripted driver that records each `Call` and answers it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tenacity import retry_if_exception_type, stop_after_attempt, wait_none

from terse._core.flow import Call, Memo, Settings, Sleep, ask_flow
from terse._core.run import Run
from terse._exceptions import TerseError
from terse._results import Usage
from terse._server.dialects import dialect_named
from terse._wire.assemble import Outcome


def outcome(
    reasoning: str = "",
    text: str = "",
    *,
    cut: bool = False,
    error: TerseError | None = None,
    body: Any = None,
    finish_reason: str | None = "stop",
) -> Outcome:
    """One response as the assembler would report it (the one place that builds them)."""
    return Outcome(
        reasoning=reasoning,
        text=text,
        closed=True,
        finish_reason=finish_reason,
        usage=Usage(reasoning_tokens=len(reasoning.split()), answer_tokens=len(text.split())),
        reasoning_tokens=len(reasoning.split()),
        cut=cut,
        error=error,
        body=body,
    )


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "model": "m",
        "messages": ({"role": "user", "content": "What is 6 x 7?"},),
        "request": {},
        "stop": stop_after_attempt(1),
        "wait": wait_none(),
        "retry": retry_if_exception_type(TerseError),
    }
    base.update(kw)
    return Settings(**base)


def run_for(dialect: str, **kw: Any) -> Run:
    return Run(settings(**kw), Memo(dialect=dialect_named(dialect)), clock=lambda: 0.0)


def drive(dialect: str, answer: Callable[[Call], Outcome], **kw: Any) -> tuple[Any, list[Call]]:
    """Run one ask to its end; ``answer`` replies to each request. Returns (answer, calls)."""
    calls: list[Call] = []
    flow = ask_flow(settings(**kw), Memo(dialect=dialect_named(dialect)), clock=lambda: 0.0)
    result: Any = None
    while True:
        try:
            op = flow.send(result)
        except StopIteration as stop:
            return stop.value, calls
        if isinstance(op, Call):
            calls.append(op)
            result = answer(op)
        else:
            assert not isinstance(op, Sleep)
            result = None


def body_of(call: Call) -> Mapping[str, Any]:
    assert call.body is not None
    return call.body
