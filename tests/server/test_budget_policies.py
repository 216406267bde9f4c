"""on_exceed and repair_budget as policy objects, driven through `ask_flow` in process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import terse
from terse._core.exceed import (
    Conclude,
    Disable,
    KeepBudget,
    Raise,
    ThinkingOff,
    UseBudget,
    on_exceed_policy,
    repair_policy,
)
from terse._core.ops import Call
from terse._exceptions import ServerError
from terse._wire.assemble import Outcome

from ._drive import body_of, drive, outcome

THOUGHT = "let me count the sevens one by one"


def cut_then(answer: Outcome) -> Callable[[Call], Outcome]:
    """A server whose first reply is cut at the budget and whose later ones are ``answer``."""
    seen: list[Call] = []

    def reply(call: Call) -> Outcome:
        seen.append(call)
        if len(seen) == 1:
            return outcome(THOUGHT, cut=True, finish_reason=None)
        return answer

    return reply


def test_strings_map_to_policies_at_the_edge() -> None:
    assert isinstance(on_exceed_policy("conclude"), Conclude)
    assert isinstance(on_exceed_policy("disable"), Disable)
    assert isinstance(on_exceed_policy("raise"), Raise)
    mine = Disable()
    assert on_exceed_policy(mine) is mine
    assert [p.native for p in (Conclude(), Disable(), Raise())] == [True, False, False]
    with pytest.raises(terse.UsageError):
        terse.Budget(tokens=5, on_exceed="stop")  # type: ignore[arg-type]


def test_repair_values_map_to_policies() -> None:
    b, other = terse.Budget(tokens=5), terse.Budget(tokens=9)
    assert isinstance(repair_policy("same"), KeepBudget)
    assert isinstance(repair_policy("off"), ThinkingOff)
    assert repair_policy(other) == UseBudget(other)
    assert repair_policy(None) == UseBudget(None)
    assert KeepBudget().apply(b, False) == (b, False)
    assert ThinkingOff().apply(b, False) == (None, True)
    assert UseBudget(other).apply(b, False) == (other, False)
    assert UseBudget(None).apply(b, True) == (None, True)


def test_raise_stops_after_the_cut_with_the_partial_reasoning() -> None:
    calls: list[Call] = []

    def reply(call: Call) -> Outcome:
        calls.append(call)
        return outcome(THOUGHT, cut=True, finish_reason=None)

    with pytest.raises(terse.ThinkingBudgetExceeded) as err:
        drive("vllm", reply, budget=terse.Budget(tokens=5, on_exceed="raise"))
    assert err.value.reasoning == THOUGHT
    assert len(calls) == 1
    assert "thinking_token_budget" not in body_of(calls[0])  # only Conclude asks the server


def test_disable_asks_again_with_the_dialects_switch() -> None:
    answer, calls = drive(
        "deepseek",
        cut_then(outcome(text="42")),
        budget=terse.Budget(tokens=5, on_exceed="disable"),
    )
    assert [c.purpose for c in calls] == ["ask", "disable"]
    assert calls[1].thinking_disabled
    assert body_of(calls[1])["thinking"] == {"type": "disabled"}
    assert answer.text == "42"
    assert (answer.budget.strategy, answer.budget.method) == ("disable", "disable")


def test_conclude_on_llamacpp_renders_the_template_then_completes() -> None:
    def reply(call: Call) -> Outcome:
        if call.endpoint == "apply-template":
            return outcome(body={"prompt": "<|assistant|><think>\n"})
        if call.endpoint == "completions":
            return outcome(text="42")
        return outcome(THOUGHT, cut=True, finish_reason=None)

    answer, calls = drive("llamacpp", reply, budget=terse.Budget(tokens=5))
    assert [c.endpoint for c in calls] == ["chat", "apply-template", "completions"]
    assert body_of(calls[0])["reasoning_budget_tokens"] == 5  # the native knob, from the row
    assert body_of(calls[2])["prompt"].endswith("\n</think>\n\n")
    assert (answer.budget.strategy, answer.budget.method) == ("conclude", "llamacpp-completion")
    assert answer.reasoning == THOUGHT


def test_conclude_falls_back_along_the_chain() -> None:
    def reply(call: Call) -> Outcome:
        if call.endpoint == "apply-template":
            return outcome(error=ServerError(404, "no such endpoint", ""))
        if call.purpose == "conclude":
            return outcome(text="42")
        return outcome(THOUGHT, cut=True, finish_reason=None)

    answer, calls = drive("llamacpp", reply, budget=terse.Budget(tokens=5))
    assert [c.endpoint for c in calls] == ["chat", "apply-template", "chat"]
    assert "<notes>" in body_of(calls[2])["messages"][-1]["content"]
    assert answer.budget.method == "new-turn"


def test_a_refused_native_budget_is_dropped_and_the_request_resent() -> None:
    refusal = ServerError(400, "thinking_token_budget is set but reasoning_config is not set", "")
    calls: list[Call] = []

    def reply(call: Call) -> Outcome:
        calls.append(call)
        if "thinking_token_budget" in body_of(call):
            return outcome(error=refusal)
        return outcome("short", text="42")

    answer, _ = drive("vllm", reply, budget=terse.Budget(tokens=50))
    assert [("thinking_token_budget" in body_of(c)) for c in calls] == [True, False]
    assert answer.text == "42"
