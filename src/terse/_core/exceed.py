"""Budget policies: what a call does when thinking reaches its budget, and on a re-ask.

``Budget(on_exceed=...)`` and ``repair_budget=`` take strings (and a `Budget`) at the
public edge; inside, each behaviour is one small policy object:

- `OnExceed`: `Conclude` (continue the cut reasoning into an answer with the dialect's
  `Continuation` policies, best first), `Disable` (ask again with thinking off) and
  `Raise` (`ThinkingBudgetExceeded`). A policy says whether the server's own budget can
  stand in for terse's cut (`OnExceed.native`: only a policy that concludes, since the
  server concludes by itself).
- `Repair`: the thinking budget of a re-ask after an invalid answer: `KeepBudget`
  (``"same"``), `ThinkingOff` (``"off"``) and `UseBudget` (a `Budget`, or None for no
  budget).

`on_exceed_policy` and `repair_policy` map the public values to these objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._exceptions import (
    ServerError,
    ThinkingBudgetExceeded,
    ThinkingTruncated,
    TransportError,
)
from .._results import NewAttempt, ReasoningDelta
from .._server.continuation import Cut
from .._wire.assemble import Outcome
from .budget import Budget
from .ops import Call, Op

if TYPE_CHECKING:
    from .run import Run

__all__ = [
    "Conclude",
    "Disable",
    "KeepBudget",
    "OnExceed",
    "Raise",
    "Repair",
    "ThinkingOff",
    "UseBudget",
    "on_exceed_policy",
    "repair_policy",
]

_DEFAULT_NUDGE = Budget(tokens=1).nudge


class OnExceed(ABC):
    """What to do when thinking reached the budget (or ended without an answer under one)."""

    name: ClassVar[str]
    """The ``Budget.on_exceed`` value, reported as `BudgetReport.strategy`."""
    native: ClassVar[bool] = False
    """Whether the server's native budget may be asked for (it concludes by itself)."""

    @abstractmethod
    def handle(
        self,
        run: Run,
        messages: list[dict[str, Any]],
        cut: Outcome,
        budget: Budget | None,
        answer_tokens: int | None,
    ) -> Generator[Op, Any, tuple[Outcome, str]]:
        """Turn the cut reply ``cut`` into an answer: ``(outcome, method used)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Raise(OnExceed):
    """Stop with `ThinkingBudgetExceeded`, carrying the partial reasoning."""

    name = "raise"

    def handle(
        self,
        run: Run,
        messages: list[dict[str, Any]],
        cut: Outcome,
        budget: Budget | None,
        answer_tokens: int | None,
    ) -> Generator[Op, Any, tuple[Outcome, str]]:
        raise ThinkingBudgetExceeded(
            f"thinking reached the budget ({cut.reasoning_tokens} reasoning tokens)",
            reasoning=cut.reasoning,
            reasoning_tokens=cut.reasoning_tokens,
        )  # raised on the call, before any request


class Disable(OnExceed):
    """Ask again with thinking switched off."""

    name = "disable"

    def handle(
        self,
        run: Run,
        messages: list[dict[str, Any]],
        cut: Outcome,
        budget: Budget | None,
        answer_tokens: int | None,
    ) -> Generator[Op, Any, tuple[Outcome, str]]:
        stream = run.s.stream
        body = run.chat_body(
            messages,
            stream=stream,
            budget=None,
            answer_tokens=run.answer_cap(budget, answer_tokens),
            patch=run.dialect.disable_thinking,
        )
        out = yield from run.call(
            Call("chat", body, stream=stream, purpose="disable", thinking_disabled=True)
        )
        run.reasoning.append(out.reasoning)
        return out, "disable"


class Conclude(OnExceed):
    """Continue the cut reasoning into an answer, trying the dialect's continuations in order.

    A conclusion that ran out of answer tokens ends here with `AnswerTruncated` naming
    ``Budget.answer_tokens``: another method would think again and be cut the same way.
    """

    name = "conclude"
    native = True

    def handle(
        self,
        run: Run,
        messages: list[dict[str, Any]],
        cut: Outcome,
        budget: Budget | None,
        answer_tokens: int | None,
    ) -> Generator[Op, Any, tuple[Outcome, str]]:
        stream = run.s.stream
        can_off = run.s.family is None or run.s.family.can_disable
        spec = Cut(
            messages=messages,
            reasoning=cut.reasoning,
            nudge=budget.nudge if budget is not None else _DEFAULT_NUDGE,
            cap=run.answer_cap(budget, answer_tokens),
            stream=stream,
            guard=run.limit_for(budget),
            thinking_off=run.dialect.disable_thinking if can_off else None,
        )
        last: Outcome | None = None
        for method in run.dialect.conclude:
            template: str | None = None
            if method.needs_template:
                # The tools are rendered into the prompt too: the conclusion may be a call.
                tools = run.s.request.get("tools")
                render = {"messages": messages, **({"tools": tools} if tools else {})}
                tpl = yield from run.call(Call("apply-template", render, purpose="conclude"))
                prompt = tpl.body.get("prompt") if isinstance(tpl.body, Mapping) else None
                if tpl.error is not None or not isinstance(prompt, str):
                    last = tpl
                    continue
                template = prompt
            op = method.build(spec, run, template)
            out = yield from run.call(op)
            last = out
            if out.error is None and not out.cut:
                run.reasoning.append(out.reasoning)
                return out, method.name
            if op.answer_only and run.answer_ran_out(out.error, spec.cap) is not None:
                run.reasoning.append(out.reasoning)
                ran_out = run.answer_ran_out(out.error, spec.cap)  # with the whole reasoning
                assert ran_out is not None
                raise ran_out
            if stream and (out.text or out.reasoning):
                # This conclusion streamed text and failed; the next method starts the
                # answer again: void what was shown and replay the reasoning that stands.
                yield NewAttempt(run.try_number, "conclude", out.error)
                shown = "".join(run.reasoning)
                if shown:
                    yield ReasoningDelta(shown)
            if isinstance(out.error, TransportError) and not (
                isinstance(out.error, ServerError) and 400 <= out.error.status < 500
            ):
                raise out.error
        err = last.error if last is not None else None
        raise ThinkingTruncated(
            "thinking was cut at the budget and no way to conclude it produced an answer"
            + (f" (last: {err})" if err else ""),
            reasoning=cut.reasoning,
            finish_reason="budget",
        )


_ON_EXCEED: Mapping[str, OnExceed] = {p.name: p for p in (Conclude(), Disable(), Raise())}


def on_exceed_policy(value: str | OnExceed) -> OnExceed:
    """The policy for a ``Budget.on_exceed`` value (``"conclude"``, ``"disable"``, ``"raise"``)."""
    if isinstance(value, OnExceed):
        return value
    return _ON_EXCEED[value]


class Repair(ABC):
    """The thinking budget of a re-ask after an answer that failed extraction."""

    @abstractmethod
    def apply(self, budget: Budget | None, thinking_off: bool) -> tuple[Budget | None, bool]:
        """``(budget, thinking off)`` for the re-ask, from the previous try's."""


class KeepBudget(Repair):
    """``"same"``: the re-ask thinks under the call's budget."""

    def apply(self, budget: Budget | None, thinking_off: bool) -> tuple[Budget | None, bool]:
        return budget, thinking_off


class ThinkingOff(Repair):
    """``"off"``: the re-ask switches thinking off."""

    def apply(self, budget: Budget | None, thinking_off: bool) -> tuple[Budget | None, bool]:
        return None, True


@dataclass(frozen=True)
class UseBudget(Repair):
    """A `Budget` of its own for the re-ask (None: no budget)."""

    budget: Budget | None

    def apply(self, budget: Budget | None, thinking_off: bool) -> tuple[Budget | None, bool]:
        return self.budget, thinking_off


def repair_policy(value: Budget | str | Repair | None) -> Repair:
    """The policy for a ``repair_budget`` value: ``"same"``, ``"off"``, a `Budget` or None."""
    if isinstance(value, Repair):
        return value
    if value == "same":
        return KeepBudget()
    if value == "off":
        return ThinkingOff()
    return UseBudget(value if isinstance(value, Budget) else None)
