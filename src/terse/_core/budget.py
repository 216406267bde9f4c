"""Thinking budgets: the public value object.

A budget is enforced with the best mechanism the server offers, in this order:

1. the server's native budget, where the dialect has one (its `NativeBudget`: llama.cpp
   ``reasoning_budget_tokens``, vLLM ``thinking_token_budget``, SGLang
   ``custom_params.thinking_budget``), always backed by terse's own count in case the
   server ignores it;
2. a client cut: terse counts reasoning tokens as they stream and, at the budget, closes
   the stream and acts on ``on_exceed`` (the policy objects of ``exceed.py``): by default
   it *concludes*, continuing the model's own text with the think block closed after a
   short nudge (the dialect's `Continuation` policies), so the model writes its answer;
3. ``on_exceed="disable"``: re-ask with thinking switched off.

Every request also carries a server-side ``max_tokens``, so a request whose stream was
abandoned cannot run on to the context limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .._exceptions import UsageError

__all__ = ["NATIVE_SLACK", "QWEN_NUDGE", "Budget", "as_budget"]

QWEN_NUDGE = (
    "\n\nConsidering the limited time by the user, I have to give the solution "
    "based on the thinking directly now."
)
"""The Qwen3 recipe's stop sentence (QwenLM/Qwen3 docs, thinking_budget.md)."""

OnExceed = Literal["conclude", "disable", "raise"]


@dataclass(frozen=True)
class Budget:
    """How long a model may think before terse makes it answer.

    Attributes:
        tokens: Most reasoning tokens allowed (None: no token limit). ``0`` means *do not
            think*: the request switches thinking off with the server's own switch
            (``chat_template_kwargs.enable_thinking=false``, DeepSeek's
            ``thinking.type="disabled"``, Ollama's ``think=false``, …) and its answer is
            capped at ``answer_tokens``; a model that cannot switch thinking off
            (gpt-oss, Qwen3 2507, Magistral) is asked plainly.
        seconds: Most seconds of thinking allowed (None: no time limit).
        answer_tokens: Tokens allowed for the answer after the thinking (also the cap of
            the concluding request).
        on_exceed: What to do when the budget is reached: ``"conclude"`` (close the
            thinking and have the model answer from it), ``"disable"`` (re-ask with
            thinking off), or ``"raise"`` (`ThinkingBudgetExceeded`, with the partial
            reasoning).
        nudge: Appended to the reasoning before the think block is closed.
        native: Use the server's own budget where the dialect has one.

    Example:
        >>> Budget(tokens=512, seconds=20)
        Budget(tokens=512, seconds=20, answer_tokens=1024, on_exceed='conclude', native=True)
    """

    tokens: int | None = None
    seconds: float | None = None
    answer_tokens: int = 1024
    on_exceed: OnExceed = "conclude"
    nudge: str = QWEN_NUDGE
    native: bool = True

    def __post_init__(self) -> None:
        if self.tokens is None and self.seconds is None:
            raise UsageError("a Budget needs tokens=, seconds=, or both")
        if self.tokens is not None and (
            not isinstance(self.tokens, int) or isinstance(self.tokens, bool) or self.tokens < 0
        ):
            raise UsageError(
                f"Budget.tokens must be an int >= 0 (0: do not think), not {self.tokens!r}"
            )
        if self.seconds is not None and not (
            isinstance(self.seconds, (int, float))
            and self.seconds > 0
            and math.isfinite(self.seconds)
        ):
            raise UsageError(f"Budget.seconds must be a positive number, not {self.seconds!r}")
        if not isinstance(self.answer_tokens, int) or self.answer_tokens < 1:
            raise UsageError(
                f"Budget.answer_tokens must be a positive int, not {self.answer_tokens!r}"
            )
        if self.on_exceed not in ("conclude", "disable", "raise"):
            raise UsageError(
                f"Budget.on_exceed must be 'conclude', 'disable' or 'raise', not {self.on_exceed!r}"
            )

    def __repr__(self) -> str:
        return (
            f"Budget(tokens={self.tokens!r}, seconds={self.seconds!r}, "
            f"answer_tokens={self.answer_tokens!r}, on_exceed={self.on_exceed!r}, native={self.native!r})"
        )


def as_budget(value: int | Budget | None) -> Budget | None:
    """Accept the shorthand: an int is a token budget."""
    if value is None or isinstance(value, Budget):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Budget(tokens=value)
    raise UsageError(f"thinking_budget must be an int, a terse.Budget or None, not {value!r}")


# Native budgets stop the thinking slightly late (the forced close tag itself); terse's own
# guard allows this much before it cuts the stream as well.
NATIVE_SLACK = 2
