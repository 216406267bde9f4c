"""One call's running state: accounting, request bodies, token caps, the final `Answer`.

`Run` is what the flow (``flow.py``) and its budget policies (``exceed.py``) share while
one call runs: it performs one request at a time through the flow's driver (`Run.call`
yields a `Call` and records the `Attempt`), builds request bodies within the call's token
caps and the dialect's native budget, and turns the last `Outcome` into the `Answer`.
No I/O: the requests are yielded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tenacity import RetryCallState

from .._exceptions import (
    AnswerTruncated,
    ExtractionError,
    RetriesExhausted,
    ServerError,
    TerseError,
    ThinkingTruncated,
    TransportError,
)
from .._results import Answer, Attempt, BudgetReport, ServerInfo, Usage
from .._server.dialects import GENERIC, Dialect, ModelFamily, dialect_named, reasoning_echo
from .._wire.assemble import Limit, Outcome
from .._wire.split import Split
from ..tools._calls import ToolCallError
from ..tools._schema import ToolSpec
from .budget import NATIVE_SLACK, Budget
from .exceed import on_exceed_policy
from .ops import Call, Op, timeout_parts

__all__ = ["DEFAULT_MAX_TOKENS", "Memo", "Run", "Settings", "outcome_name_of"]

log = logging.getLogger("terse")

DEFAULT_MAX_TOKENS = 16384
"""Server-side cap sent when neither the caller nor a budget sets one."""

_CHAT_ONLY = frozenset(
    {
        "max_completion_tokens",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "chat_template_kwargs",
        "reasoning_effort",
        "messages",
        "stream_options",
    }
)
"""Request fields that mean nothing to a raw completion (the rest, e.g. temperature, carry over)."""


@dataclass
class Memo:
    """What a client learned about its server, kept across calls."""

    dialect: Dialect | None = None
    native_ok: bool = True
    info: ServerInfo | None = None
    thinking_open: bool | None = None
    close_only_seen: bool = False  # the server wrote reasoning closed by a tag it never opened


@dataclass(frozen=True)
class Settings:
    """Everything one call needs, resolved from client defaults and call arguments."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    request: Mapping[str, Any]
    stop: Callable[[RetryCallState], bool]
    wait: Callable[[RetryCallState], float]
    retry: Callable[[RetryCallState], bool]
    response_model: Any = None
    budget: Budget | None = None
    repair_budget: Budget | str | None = "same"
    deadline: float | None = None
    timeout: Any = 600.0
    headers: Mapping[str, str] | None = None
    query: Mapping[str, object] | None = None
    max_total_tokens: int | None = None
    family: ModelFamily | None = None
    thinking_open: bool | None = None
    stream: bool = False
    salvage: bool = False
    partial: bool = False
    schema_hint: bool = True
    on_attempt: Callable[[Attempt], None] | None = None
    tools: Mapping[str, ToolSpec] | None = None


def outcome_name(out: Outcome) -> str:
    err = out.error
    if err is None:
        return "budget" if out.cut else "ok"
    return outcome_name_of(err)


class Run:
    """State of one call while its flow runs."""

    def __init__(
        self, s: Settings, memo: Memo, clock: Callable[[], float], started: float | None = None
    ) -> None:
        self.s = s
        self.memo = memo
        self.clock = clock
        self.start = clock() if started is None else started
        self.deadline_at = None if s.deadline is None else self.start + s.deadline
        self.attempts: list[Attempt] = []
        self.spent = Usage()
        self.reasoning: list[str] = []
        self.capped_by_total = False  # a request's max_tokens was lowered by max_total_tokens
        self.try_number = 1

    @property
    def dialect(self) -> Dialect:
        return self.memo.dialect or GENERIC

    # -- one HTTP request ----------------------------------------------------------------

    def call(self, op: Call) -> Generator[Op, Any, Outcome]:
        timeout = self.s.timeout
        if self.deadline_at is not None:
            remaining = self.deadline_at - self.clock()
            if remaining <= 0:
                raise self.exhausted("deadline", None)
            timeout = clamp_timeout(timeout, remaining)
        started = self.clock()
        out: Outcome = yield replace(
            op,
            timeout=timeout,
            deadline_at=self.deadline_at,
            headers=self.s.headers,
            query=self.s.query,
        )
        if out.dialect_hint and self.memo.dialect in (None, GENERIC):
            self.memo.dialect = dialect_named(out.dialect_hint)
        if out.close_only:
            self.memo.close_only_seen = True
        if op.endpoint in ("get",):
            return out
        attempt = Attempt(
            number=len(self.attempts) + 1,
            purpose=op.purpose,
            outcome=outcome_name(out),
            usage=out.usage,
            latency=self.clock() - started,
            finish_reason=out.finish_reason,
            error=out.error,
            endpoint=op.endpoint,
        )
        self.attempts.append(attempt)
        self.spent = self.spent + out.usage
        log.info(
            "terse attempt %d (%s via %s): %s, %d reasoning + %d answer tokens, %.3fs",
            attempt.number,
            attempt.purpose,
            op.endpoint,
            attempt.outcome,
            out.usage.reasoning_tokens,
            out.usage.answer_tokens,
            attempt.latency,
        )
        if self.s.on_attempt is not None:
            self.s.on_attempt(attempt)
        return out

    def exhausted(self, reason: str, cause: BaseException | None) -> RetriesExhausted:
        what = {
            "attempts": "no attempts left",
            "deadline": "the call's deadline passed",
            "tokens": "the call's token cap was reached",
        }[reason]
        err = RetriesExhausted(
            f"terse gave up after {len(self.attempts)} request(s): {what}"
            + (f"; last error: {cause}" if cause else ""),
            attempts=self.attempts,
            reason=reason,
        )
        err.__cause__ = cause
        return err

    # -- request bodies --------------------------------------------------------------------

    def token_cap(self, wanted: int) -> int:
        cap = wanted
        if self.s.max_total_tokens is not None:
            left = self.s.max_total_tokens - self.spent.total_tokens
            if left <= 0:
                raise self.exhausted("tokens", None)
            if left < cap:
                self.capped_by_total = True
            cap = min(cap, left)
        return max(1, cap)

    def chat_body(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream: bool,
        budget: Budget | None,
        answer_tokens: int | None,
        patch: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.s.model, "messages": list(messages), **self.s.request}
        if patch:
            body.update(patch)
        if "max_tokens" not in body and "max_completion_tokens" not in body:
            if budget is not None and budget.tokens is not None:
                wanted = budget.tokens + NATIVE_SLACK + (answer_tokens or budget.answer_tokens)
            else:
                wanted = DEFAULT_MAX_TOKENS if answer_tokens is None else answer_tokens
            body["max_tokens"] = self.token_cap(wanted)
        if stream:
            body["stream"] = True
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            body.pop("stream", None)
        if self.native(budget):
            assert budget is not None
            assert budget.tokens is not None
            knob = self.dialect.native_budget
            assert knob is not None
            body.update(knob.fields(budget.tokens))
        return body

    # `Bodies` for the continuation policies: the call's options, within its caps.

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream: bool,
        answer_tokens: int,
        patch: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chat body with no thinking budget, capped at ``answer_tokens``."""
        return self.chat_body(
            messages, stream=stream, budget=None, answer_tokens=answer_tokens, patch=patch
        )

    def raw(self, prompt: str, max_tokens: int) -> dict[str, Any]:
        """A raw-completion body: the caller's options that mean something there."""
        body = {k: v for k, v in self.s.request.items() if k not in _CHAT_ONLY}
        body.update(model=self.s.model, prompt=prompt, max_tokens=max_tokens)
        return body

    def native(self, budget: Budget | None) -> bool:
        """Whether to ask for the server's own budget: it concludes by itself, so only then."""
        return (
            budget is not None
            and budget.tokens is not None
            and budget.tokens > 0  # 0 is "thinking off": the switch, never a 0-token budget
            and budget.native
            and on_exceed_policy(budget.on_exceed).native
            and self.memo.native_ok
            and self.dialect.native_budget is not None
        )

    def limit_for(self, budget: Budget | None) -> Limit | None:
        if budget is None:
            return None
        tokens = budget.tokens
        if tokens is not None and self.native(budget):
            tokens += NATIVE_SLACK
        return Limit(tokens=tokens, seconds=budget.seconds)

    def finish(self, out: Outcome, report: BudgetReport | None) -> Answer[Any]:
        s = self.s
        reasoning = "".join(self.reasoning)
        value: Any = out.text
        salvaged = False
        wants_value = s.response_model is not None and s.response_model is not str
        if wants_value and not out.tool_calls:  # a tool call is the answer: nothing to extract
            from .._extract.extract import extract_details

            try:
                got = extract_details(
                    Split(reasoning, out.text, True),
                    s.response_model,
                    salvage=s.salvage,
                    partial=s.partial,
                )
            except ExtractionError as exc:
                exc.reasoning = reasoning
                self.attempts[-1] = replace(self.attempts[-1], outcome="invalid", error=exc)
                raise
            value, salvaged = got.value, got.source == "reasoning"
        return Answer(
            value=value,
            text=out.text,
            reasoning=reasoning,
            finish_reason=out.finish_reason,
            usage=self.spent,
            attempts=tuple(self.attempts),
            dialect=self.dialect.name,
            model=s.model,
            budget=report,
            salvaged=salvaged,
            parts=out.call_parts(self.reasoning),
            tool_calls=out.tool_calls,
            reasoning_echo=reasoning_echo(self.dialect, s.family),
        )

    # -- after the budget ------------------------------------------------------------------

    def answer_cap(self, budget: Budget | None, answer_tokens: int | None = None) -> int:
        if answer_tokens is None:
            answer_tokens = budget.answer_tokens if budget is not None else 1024
        return self.token_cap(answer_tokens)

    def answer_ran_out(self, err: TerseError | None, cap: int) -> AnswerTruncated | None:
        """An answer cut by terse's own answer allowance, as an error that names the knob.

        None unless ``err`` is such a cut: the caller's own ``max_tokens`` (or the call's
        ``max_total_tokens``) keeps the server's wording.
        """
        if (
            not isinstance(err, (AnswerTruncated, ThinkingTruncated))
            or err.finish_reason != "length"
        ):
            return None
        if self.capped_by_total or any(
            k in self.s.request for k in ("max_tokens", "max_completion_tokens")
        ):
            return None
        out = AnswerTruncated(
            f"the answer was cut at its {cap} answer tokens (finish_reason=length) after the "
            "thinking ended; raise Budget.answer_tokens",
            text=err.text,
            reasoning="".join(self.reasoning),  # the whole call's, the cut thought included
            finish_reason=err.finish_reason,
        )
        out.__cause__ = err
        return out


def outcome_name_of(exc: BaseException) -> str:
    names = {
        ThinkingTruncated: "thinking_truncated",
        AnswerTruncated: "answer_truncated",
        ExtractionError: "invalid",
        ToolCallError: "invalid",
        ServerError: "server",
        TransportError: "transport",
    }
    for cls, name in names.items():
        if isinstance(exc, cls):
            return name
    return "no_answer"


def clamp_timeout(timeout: Any, remaining: float) -> Any:
    """openai's per-request timeout, no longer than what is left of the call's deadline."""
    if timeout is None:
        return remaining
    if isinstance(timeout, (int, float)):
        return min(float(timeout), remaining)
    parts = timeout_parts(timeout)
    clamped = {k: remaining if v is None else min(v, remaining) for k, v in parts.items()}
    return type(timeout)(**clamped)  # an httpx/httpx2 Timeout
