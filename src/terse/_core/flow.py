"""The decisions of one call, as a generator: no I/O, shared by the sync and async clients.

`ask_flow` yields *operations* (`Call`: make this HTTP request; `Sleep`: wait this long)
and is sent back what each one produced (an `Outcome`, or None after a sleep). The
clients are thin drivers that perform the operations, so every policy — budgets,
concluding, disabling thinking, re-asking, retrying, deadlines, token caps, accounting —
lives in the core once, in the style of httpx's auth flows.

This module is the call's loop: tries, retries and re-asks (`ask_flow`), and one try with
its thinking budget (`_Flow.one_try`). The rest of the core: ``ops.py`` (the operations),
``run.py`` (the call's state, request bodies, accounting, the `Answer`), ``exceed.py``
(the ``on_exceed`` and ``repair_budget`` policies), ``budget.py`` (`Budget`); what each
server does differently is in ``_server`` (dialects, continuations, `probe_flow`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .._exceptions import (
    AnswerTruncated,
    ExtractionError,
    NoAnswer,
    ResponseError,
    ServerError,
    TerseError,
    ThinkingBudgetExceeded,
    ThinkingTruncated,
    TransportError,
)
from .._results import Answer, BudgetReport, NewAttempt
from .._server.probe import PROBE_TIMEOUT, probe_flow
from .._wire.assemble import Outcome
from ..tools._calls import ToolCallError
from .budget import Budget
from .exceed import on_exceed_policy, repair_policy
from .ops import Call, Op, Sleep, aux_until
from .retry import RetryState, reask_messages, tool_reask_messages
from .run import DEFAULT_MAX_TOKENS, Memo, Run, Settings, outcome_name_of

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "PROBE_TIMEOUT",
    "Call",
    "Memo",
    "Op",
    "Settings",
    "Sleep",
    "ask_flow",
    "aux_until",
    "probe_flow",
    "schema_instruction",
]


def schema_instruction(target: Any) -> str | None:
    """A sentence telling the model the shape of the answer wanted, or None for ``str``."""
    if target is None or target is str:
        return None
    import json

    from pydantic import TypeAdapter

    simple = {int: "an integer", float: "a number", bool: "yes or no"}
    if target in simple:
        return f"Give your final answer as {simple[target]} only."
    try:
        schema = TypeAdapter(target).json_schema()
    except Exception:
        return None
    if "enum" in schema and len(schema) <= 3:
        options = ", ".join(json.dumps(v) for v in schema["enum"])
        return f"Give your final answer as exactly one of: {options}."
    return (
        "Give your final answer as JSON matching this JSON Schema "
        f"(no prose around it):\n{json.dumps(schema, separators=(',', ':'))}"
    )


def _with_hint(messages: Sequence[Mapping[str, Any]], hint: str | None) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    if not hint:
        return out
    for m in reversed(out):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            m["content"] = f"{m['content']}\n\n{hint}"
            return out
    out.append({"role": "user", "content": hint})
    return out


class _Flow(Run):
    """One call's loop: tries, retries and re-asks."""

    def main(self) -> Generator[Op, Any, Answer[Any]]:
        s = self.s
        base = _with_hint(
            s.messages, schema_instruction(s.response_model) if s.schema_hint else None
        )
        messages: list[dict[str, Any]] = base
        purpose = "ask"
        budget = s.budget
        answer_tokens: int | None = None
        thinking_off = False
        repair = repair_policy(s.repair_budget)
        state = RetryState(self.clock)
        while True:
            try:
                return (
                    yield from self.one_try(messages, purpose, budget, answer_tokens, thinking_off)
                )
            except ThinkingBudgetExceeded:
                raise
            except (ResponseError, TransportError) as exc:
                if self.deadline_at is not None and self.clock() >= self.deadline_at:
                    raise self.exhausted("deadline", exc) from exc
                if self.capped_by_total and isinstance(exc, (ThinkingTruncated, AnswerTruncated)):
                    raise self.exhausted("tokens", exc) from exc
                state.failed(exc)
                if not state.ask(s.retry):
                    raise
                if state.ask(s.stop):
                    if state.attempt_number == 1 or isinstance(exc, ToolCallError):
                        # No retry was allowed (the failure itself is the answer), or the
                        # re-asks could not fix a tool call: say which call and why.
                        raise
                    raise self.exhausted("attempts", exc) from exc
                delay = float(state.ask(s.wait))
                if self.deadline_at is not None and self.clock() + delay >= self.deadline_at:
                    raise self.exhausted("deadline", exc) from exc
                if s.max_total_tokens is not None and self.spent.total_tokens >= s.max_total_tokens:
                    raise self.exhausted("tokens", exc) from exc
                self.try_number += 1
                yield NewAttempt(self.try_number, outcome_name_of(exc), exc)
                if delay > 0:
                    yield Sleep(delay)
                state.next_attempt(delay)
                purpose = "retry"
                if isinstance(exc, ExtractionError):
                    messages = reask_messages(base, exc)
                    purpose = "reask"
                    budget, thinking_off = repair.apply(budget, thinking_off)
                elif isinstance(exc, ToolCallError):
                    messages = tool_reask_messages(base, exc)
                    purpose = "reask"
                    budget, thinking_off = repair.apply(budget, thinking_off)
                    if exc.finish_reason == "length" and budget is not None:
                        # A call cut by terse's answer allowance: give the re-ask twice as much.
                        answer_tokens = (answer_tokens or budget.answer_tokens) * 2
                elif isinstance(exc, AnswerTruncated):
                    current = answer_tokens or (budget.answer_tokens if budget else 2048)
                    answer_tokens = current * 2

    def one_try(
        self,
        messages: list[dict[str, Any]],
        purpose: str,
        budget: Budget | None,
        answer_tokens: int | None,
        thinking_off: bool = False,
    ) -> Generator[Op, Any, Answer[Any]]:
        s = self.s
        can_off = s.family is None or s.family.can_disable
        off = budget if budget is not None and budget.tokens == 0 else None
        if off is not None:
            # thinking_budget=0: "do not think". The server's own switch, no budget to guard
            # (a template that ignores the switch must not have its answer cut as thinking).
            budget, thinking_off = None, True
            answer_tokens = answer_tokens or off.answer_tokens
        stream = s.stream or budget is not None
        patch = self.dialect.disable_thinking if thinking_off and can_off else None
        self.reasoning = []
        out: Outcome
        while True:
            body = self.chat_body(
                messages, stream=stream, budget=budget, answer_tokens=answer_tokens, patch=patch
            )
            last = messages[-1] if messages else {}
            prefill = last.get("content") if last.get("role") == "assistant" else None
            out = yield from self.call(
                Call(
                    "chat",
                    body,
                    stream=stream,
                    purpose=purpose,
                    limit=self.limit_for(budget),
                    thinking_disabled=patch is not None,
                    prefill=prefill if isinstance(prefill, str) else None,
                )
            )
            err = out.error
            knob = self.dialect.native_budget
            if (
                isinstance(err, ServerError)
                and knob is not None
                and knob.sent_in(body)
                and knob.refused(err.status, err.message)
            ):
                self.memo.native_ok = False  # the server has no native budget: terse counts
                continue
            break
        if isinstance(out.error, TransportError):
            raise out.error
        self.reasoning.append(out.reasoning)
        report = None
        if off is not None:
            report = BudgetReport(
                reasoning_tokens=out.reasoning_tokens,
                limit_tokens=0,
                limit_seconds=off.seconds,
                strategy="off",
                method="switch" if patch is not None else None,
            )
        if budget is not None:
            report = BudgetReport(
                hit=out.cut,
                reasoning_tokens=out.reasoning_tokens,
                limit_tokens=budget.tokens,
                limit_seconds=budget.seconds,
            )
            native = self.native(budget)
            if not out.cut and native and budget.tokens and out.reasoning_tokens >= budget.tokens:
                report = replace(report, hit=True, strategy="native")
        # Thinking that ended without an answer (cut by the cap, or a model that stopped
        # inside its thought) is concluded like a budget hit when a budget policy is set.
        unfinished = isinstance(out.error, (ThinkingTruncated, NoAnswer))
        if out.cut or (unfinished and budget is not None and out.reasoning.strip()):
            policy = on_exceed_policy(budget.on_exceed if budget is not None else "conclude")
            first = out
            out, method = yield from policy.handle(self, messages, out, budget, answer_tokens)
            if report is None:
                report = BudgetReport(hit=False, reasoning_tokens=first.reasoning_tokens)
            report = replace(
                report, hit=report.hit or first.cut, strategy=policy.name, method=method
            )
        if out.error is not None:
            allowance = off or budget  # the answer's tokens came from Budget.answer_tokens
            if allowance is not None and out.text:
                ran_out = self.answer_ran_out(out.error, answer_tokens or allowance.answer_tokens)
                if ran_out is not None:
                    raise ran_out
            raise out.error
        return self.finish(out, report)


def ask_flow(
    settings: Settings,
    memo: Memo,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
) -> Generator[Op, Any, Answer[Any]]:
    """The whole of one ``ask``: yields operations, returns the `Answer`.

    ``started`` is when the call began on ``clock`` (its deadline counts from there, probes
    included); now when left out.
    """
    run = _Flow(settings, memo, clock, started)
    try:
        return (yield from run.main())
    except TerseError as exc:
        if not exc.attempts:
            exc.attempts = tuple(run.attempts)  # the cost of a failed call is never lost
        raise
