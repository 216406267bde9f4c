"""The decisions of one call, as a generator: no I/O, shared by the sync and async clients.

`ask_flow` yields *operations* (`Call`: make this HTTP request; `Sleep`: wait this long)
and is sent back what each one produced (an `Outcome`, or None after a sleep). The
clients are thin drivers that perform the operations, so every policy — budgets,
concluding, disabling thinking, re-asking, retrying, deadlines, token caps, accounting —
lives here once, in the style of httpx's auth flows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tenacity import RetryCallState, Retrying

from .._exceptions import (
    AnswerTruncated,
    ExtractionError,
    NoAnswer,
    ResponseError,
    RetriesExhausted,
    ServerError,
    TerseError,
    ThinkingBudgetExceeded,
    ThinkingTruncated,
    TransportError,
)
from .._results import Answer, Attempt, BudgetReport, NewAttempt, ReasoningDelta, ServerInfo, Usage
from .._server.dialects import GENERIC, Dialect, ModelFamily, detect_from_response, dialect_named
from .._wire.assemble import Limit, Outcome
from .._wire.formats import FORMATS
from .._wire.split import Split
from .._wire.tokens import count_tokens
from .budget import (
    NATIVE_SLACK,
    Budget,
    conclude_messages,
    is_native_budget_refusal,
    native_budget_fields,
    new_turn_messages,
    prefix_messages,
    raw_prompt,
)
from .retry import reask_messages

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Call",
    "Memo",
    "Settings",
    "Sleep",
    "ask_flow",
    "probe_flow",
    "schema_instruction",
]

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

_OPENERS = tuple(o for f in FORMATS if not f.word_delimiters for o in f.opens)

PROBE_TIMEOUT = 10.0
"""Seconds allowed for each request of a probe, in total (a server that hangs there is not
probed); a call's deadline bounds them too."""


@dataclass(frozen=True)
class Call:
    """One HTTP request for the driver to make.

    ``endpoint`` is ``"chat"`` (``/chat/completions``), ``"completions"``
    (``/completions``), ``"beta-chat"`` (DeepSeek's ``/beta/chat/completions``),
    ``"apply-template"`` (llama.cpp, POST at the server root) or ``"get"`` (GET ``path``
    at the server root). The driver streams when ``stream`` is set and stops reading when
    the `Assembler` reports the ``limit`` reached. ``timeout`` is what openai takes per
    request (seconds, an ``openai.Timeout``, or None for none); ``headers`` and ``query``
    are the call's ``extra_headers`` and ``extra_query``, sent with every request it makes.
    """

    endpoint: str
    body: Mapping[str, Any] | None = None
    stream: bool = False
    purpose: str = "ask"
    limit: Limit | None = None
    answer_only: bool = False
    thinking_disabled: bool = False
    prefill: str | None = None
    path: str = ""
    timeout: Any = None
    deadline_at: float | None = None
    """The call's deadline on the monotonic clock: the driver stops waiting then."""
    headers: Mapping[str, str] | None = None
    query: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next operation (retry backoff)."""

    seconds: float


Op = Call | Sleep | NewAttempt | ReasoningDelta
"""What the flow yields: requests and sleeps to perform, events to pass on to the stream."""


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


def _outcome_name(out: Outcome) -> str:
    err = out.error
    if err is None:
        return "budget" if out.cut else "ok"
    names = {
        ThinkingTruncated: "thinking_truncated",
        AnswerTruncated: "answer_truncated",
        ExtractionError: "invalid",
        ServerError: "server",
    }
    for cls, name in names.items():
        if isinstance(err, cls):
            return name
    if isinstance(err, TransportError):
        return "transport"
    return "no_answer"


class _Run:
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
            timeout = _clamp_timeout(timeout, remaining)
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
            outcome=_outcome_name(out),
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
            body.update(native_budget_fields(self.dialect, budget.tokens))
        return body

    def native(self, budget: Budget | None) -> bool:
        """Whether to ask for the server's own budget: it concludes by itself, so only then."""
        return (
            budget is not None
            and budget.tokens is not None
            and budget.tokens > 0  # 0 is "thinking off": the switch, never a 0-token budget
            and budget.native
            and budget.on_exceed == "conclude"
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

    # -- the call --------------------------------------------------------------------------

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
        state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
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
                state.set_exception((type(exc), exc, exc.__traceback__))
                if not s.retry(state):
                    raise
                if s.stop(state):
                    if state.attempt_number == 1:
                        raise  # no retry was allowed: the failure itself is the answer
                    raise self.exhausted("attempts", exc) from exc
                delay = float(s.wait(state))
                if self.deadline_at is not None and self.clock() + delay >= self.deadline_at:
                    raise self.exhausted("deadline", exc) from exc
                if s.max_total_tokens is not None and self.spent.total_tokens >= s.max_total_tokens:
                    raise self.exhausted("tokens", exc) from exc
                self.try_number += 1
                yield NewAttempt(self.try_number, _outcome_name_of(exc), exc)
                if delay > 0:
                    yield Sleep(delay)
                state.prepare_for_next_attempt()
                purpose = "retry"
                if isinstance(exc, ExtractionError):
                    messages = reask_messages(base, exc)
                    purpose = "reask"
                    if s.repair_budget == "off":
                        budget, thinking_off = None, True
                    elif s.repair_budget != "same":
                        budget = s.repair_budget if isinstance(s.repair_budget, Budget) else None
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
            sent_native = any(k in body for k in native_budget_fields(self.dialect, 1))
            if (
                isinstance(err, ServerError)
                and sent_native
                and is_native_budget_refusal(err.status, err.message)
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
            if budget is not None and budget.on_exceed == "raise":
                raise ThinkingBudgetExceeded(
                    f"thinking reached the budget ({out.reasoning_tokens} reasoning tokens)",
                    reasoning=out.reasoning,
                    reasoning_tokens=out.reasoning_tokens,
                )
            how = budget.on_exceed if budget is not None else "conclude"
            first = out
            if how == "disable":
                out, method = (yield from self.disable(messages, budget, answer_tokens)), "disable"
            else:
                out, method = yield from self.conclude(messages, out, budget, answer_tokens)
            if report is None:
                report = BudgetReport(hit=False, reasoning_tokens=first.reasoning_tokens)
            report = replace(report, hit=report.hit or first.cut, strategy=how, method=method)
        if out.error is not None:
            allowance = off or budget  # the answer's tokens came from Budget.answer_tokens
            if allowance is not None and out.text:
                ran_out = self.answer_ran_out(out.error, answer_tokens or allowance.answer_tokens)
                if ran_out is not None:
                    raise ran_out
            raise out.error
        return self.finish(out, report)

    def finish(self, out: Outcome, report: BudgetReport | None) -> Answer[Any]:
        s = self.s
        reasoning = "".join(self.reasoning)
        value: Any = out.text
        salvaged = False
        if s.response_model is not None and s.response_model is not str:
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

    def conclude(
        self,
        messages: list[dict[str, Any]],
        cut: Outcome,
        budget: Budget | None,
        answer_tokens: int | None = None,
    ) -> Generator[Op, Any, tuple[Outcome, str]]:
        """Continue the cut reasoning into an answer, trying the dialect's methods in order.

        A conclusion that ran out of answer tokens ends here with `AnswerTruncated` naming
        ``Budget.answer_tokens``: another method would think again and be cut the same way.
        """
        nudge = budget.nudge if budget is not None else Budget(tokens=1).nudge
        stream = self.s.stream
        cap = self.answer_cap(budget, answer_tokens)
        reasoning = cut.reasoning
        last: Outcome | None = None
        for method in self.dialect.conclude:
            if method == "llamacpp-completion":
                tpl = yield from self.call(
                    Call("apply-template", {"messages": messages}, purpose="conclude")
                )
                prompt = tpl.body.get("prompt") if isinstance(tpl.body, Mapping) else None
                if tpl.error is not None or not isinstance(prompt, str):
                    last = tpl
                    continue
                body = {k: v for k, v in self.s.request.items() if k not in _CHAT_ONLY}
                body.update(
                    model=self.s.model,
                    prompt=raw_prompt(prompt, reasoning, nudge),
                    max_tokens=cap,
                )
                op = Call("completions", body, stream=stream, purpose="conclude", answer_only=True)
            elif method == "chat-prefill":
                body = self.chat_body(
                    conclude_messages(messages, reasoning, nudge),
                    stream=stream,
                    budget=None,
                    answer_tokens=cap,
                    patch={"continue_final_message": True, "add_generation_prompt": False},
                )
                op = Call("chat", body, stream=stream, purpose="conclude", answer_only=True)
            elif method == "deepseek-prefix":
                body = self.chat_body(
                    prefix_messages(messages, reasoning, nudge),
                    stream=stream,
                    budget=None,
                    answer_tokens=cap,
                )
                op = Call("beta-chat", body, stream=stream, purpose="conclude")
            else:  # "new-turn": works on any chat endpoint
                can_off = self.s.family is None or self.s.family.can_disable
                body = self.chat_body(
                    new_turn_messages(messages, reasoning),
                    stream=True if budget is not None else stream,
                    budget=None,
                    answer_tokens=cap,
                    patch=self.dialect.disable_thinking if can_off else None,
                )
                op = Call(
                    "chat",
                    body,
                    stream=bool(body.get("stream")),
                    purpose="conclude",
                    limit=self.limit_for(budget),
                    thinking_disabled=can_off,
                )
            out = yield from self.call(op)
            last = out
            if out.error is None and not out.cut:
                self.reasoning.append(out.reasoning)
                return out, method
            if op.answer_only and self.answer_ran_out(out.error, cap) is not None:
                self.reasoning.append(out.reasoning)
                ran_out = self.answer_ran_out(out.error, cap)
                assert ran_out is not None
                raise ran_out
            if stream and (out.text or out.reasoning):
                # This conclusion streamed text and failed; the next method starts the
                # answer again: void what was shown and replay the reasoning that stands.
                yield NewAttempt(self.try_number, "conclude", out.error)
                shown = "".join(self.reasoning)
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
            reasoning=reasoning,
            finish_reason="budget",
        )

    def disable(
        self, messages: list[dict[str, Any]], budget: Budget | None, answer_tokens: int | None
    ) -> Generator[Op, Any, Outcome]:
        """Ask again with thinking switched off."""
        body = self.chat_body(
            messages,
            stream=self.s.stream,
            budget=None,
            answer_tokens=self.answer_cap(budget, answer_tokens),
            patch=self.dialect.disable_thinking,
        )
        out = yield from self.call(
            Call("chat", body, stream=self.s.stream, purpose="disable", thinking_disabled=True)
        )
        self.reasoning.append(out.reasoning)
        return out


def _outcome_name_of(exc: BaseException) -> str:
    names = {
        ThinkingTruncated: "thinking_truncated",
        AnswerTruncated: "answer_truncated",
        ExtractionError: "invalid",
        ServerError: "server",
        TransportError: "transport",
    }
    for cls, name in names.items():
        if isinstance(exc, cls):
            return name
    return "no_answer"


def _clamp_timeout(timeout: Any, remaining: float) -> Any:
    """openai's per-request timeout, no longer than what is left of the call's deadline."""
    if timeout is None:
        return remaining
    if isinstance(timeout, (int, float)):
        return min(float(timeout), remaining)
    parts = {k: getattr(timeout, k, None) for k in ("connect", "read", "write", "pool")}
    clamped = {k: remaining if v is None else min(v, remaining) for k, v in parts.items()}
    return type(timeout)(**clamped)  # an httpx/httpx2 Timeout


def aux_until(call: Call, now: float) -> float | None:
    """When a probe or template request gives up: its own timeout in total, and the deadline.

    ``call.timeout`` is openai's (seconds, or an httpx ``Timeout`` whose longest part counts).
    """
    t = call.timeout
    if t is not None and not isinstance(t, (int, float)):
        parts = [getattr(t, k, None) for k in ("connect", "read", "write", "pool")]
        known = [float(v) for v in parts if v is not None]
        t = max(known) if known else None
    until = None if t is None else now + float(t)
    if call.deadline_at is not None:
        until = call.deadline_at if until is None else min(until, call.deadline_at)
    return until


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
    run = _Run(settings, memo, clock, started)
    try:
        return (yield from run.main())
    except TerseError as exc:
        if not exc.attempts:
            exc.attempts = tuple(run.attempts)  # the cost of a failed call is never lost
        raise


_PROBES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (path at the server root, dialect, keys whose presence identifies it)
    ("/props", "llamacpp", ("build_info", "default_generation_settings", "chat_template")),
    ("/server_info", "sglang", ("reasoning_parser", "model_path", "enable_strict_thinking")),
    ("/version", "vllm", ("version",)),
    ("/api/version", "ollama", ("version",)),
)

# ``owned_by`` of the first /v1/models entry that names the server.
_OWNERS = {
    "vllm": "vllm",
    "sglang": "sglang",
    "llamacpp": "llamacpp",
    "ollama": "ollama",
    "deepseek": "deepseek",
}

PROBE_PROMPT = "Reply with the single word OK."
PROBE_TOKENS = 48
"""Cap of the probe's one test generation (only with ``generate=True``)."""


def _reasoning_shape(body: Any) -> str | None:
    """Where a non-streamed chat response put the reasoning: field, inline, close-only, none."""
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        return None
    if any(isinstance(message.get(k), str) and message[k] for k in _REASONING_FIELDS):
        return "field"
    content = message.get("content")
    text = content.lstrip() if isinstance(content, str) else ""
    if text.startswith(tuple(o for f in FORMATS for o in f.opens)):
        return "inline"
    if any(c in text for f in FORMATS if not f.word_delimiters for c in f.closes):
        return "close-only"
    return "none"


_REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
_PROBE_BUDGET = 2  # vLLM's native budget in the probe's generation: is it honoured?


def _reasoning_text(body: Any) -> str:
    try:
        message = body["choices"][0]["message"]
        return str(next(message[k] for k in _REASONING_FIELDS if isinstance(message.get(k), str)))
    except (KeyError, IndexError, TypeError, StopIteration):
        return ""


def probe_flow(
    *, url_hint: str | None = None, model: str | None = None, generate: bool = False
) -> Generator[Op, Any, ServerInfo]:
    """Ask the server what it is, and say for each finding whether it was verified.

    GETs llama.cpp ``/props``, SGLang ``/server_info``, vLLM ``/version``, Ollama
    ``/api/version``, then ``/v1/models``. With ``generate`` (and a model, given or the
    first one listed), one tiny non-streamed chat shows where the server puts reasoning
    (a reasoning field, inline tags, a close tag only) and which server answered; on vLLM
    it carries ``thinking_token_budget`` so a 400 proves there is no native budget.
    """
    evidence: dict[str, str] = {}
    name: str | None = None
    body: Mapping[str, Any] = {}
    for path, candidate, keys in _PROBES:
        out: Outcome = yield Call("get", path=path, purpose="probe", timeout=PROBE_TIMEOUT)
        got = out.body
        if out.error is not None or not isinstance(got, Mapping):
            continue
        key = next((k for k in keys if k in got), None)
        if key is None:
            continue
        name, body = candidate, got
        evidence["dialect"] = f"verified: GET {path} answered with {key!r}"
        break
    listed: str | None = None
    models = Outcome("", "", True, None, Usage(), 0)
    if name is None or (generate and not model):
        models = yield Call("get", path="/v1/models", purpose="probe", timeout=PROBE_TIMEOUT)
    if isinstance(models.body, Mapping):
        data = models.body.get("data")
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            owner = str(data[0].get("owned_by") or "").lower()
            ident = data[0].get("id")
            listed = ident if isinstance(ident, str) and ident else None
            if name is None and owner in _OWNERS:
                name = _OWNERS[owner]
                evidence["dialect"] = f"verified: GET /v1/models says owned_by={owner!r}"
    if name is None and url_hint is not None:
        name = url_hint
        evidence["dialect"] = "assumed: from the URL alone"
    if name is None:
        evidence["dialect"] = "assumed: no native endpoint answered (a generic server)"
    dialect = dialect_named(name) if name else GENERIC
    template = body.get("chat_template")
    thinking_open: bool | None = None
    if name == "llamacpp":
        # Render a one-message chat: does the generation prompt open a think block?
        probe = {"messages": [{"role": "user", "content": "hi"}]}
        rendered: Outcome = yield Call(
            "apply-template", probe, purpose="probe", timeout=PROBE_TIMEOUT
        )
        prompt = rendered.body.get("prompt") if isinstance(rendered.body, Mapping) else None
        if isinstance(prompt, str):
            thinking_open = prompt.rstrip().endswith(_OPENERS)
            evidence["template_opens_thinking"] = "verified: POST /apply-template rendered a chat"
    if thinking_open is None and isinstance(template, str):
        tail = template.rstrip()[-80:]
        thinking_open = "<think>" in tail and "</think>" not in tail
        evidence["template_opens_thinking"] = "assumed: from the end of /props chat_template"
    native: bool | None = dialect.native_budget is not None
    if name == "sglang":
        native = bool(body.get("enable_strict_thinking"))
        evidence["native_budget"] = "verified: /server_info enable_strict_thinking"
    elif name == "vllm":
        native = None  # refused with a 400 unless the server has a reasoning config
        evidence["native_budget"] = (
            "unknown: vLLM refuses thinking_token_budget without --reasoning-config; "
            "terse tries it once and falls back (probe with a generation to check)"
        )
    elif native:
        evidence["native_budget"] = "assumed: this server's builds honour the request field"
    else:
        evidence["native_budget"] = f"assumed: {dialect.label} has none (terse counts and cuts)"
    reasoning: str | None = None
    model = model or listed
    if generate and model:
        ask: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": PROBE_PROMPT}],
            "max_tokens": PROBE_TOKENS,
        }
        fields = native_budget_fields(dialect, _PROBE_BUDGET) if name == "vllm" else {}
        gen: Outcome = yield Call(
            "probe-chat", {**ask, **fields}, purpose="probe", timeout=PROBE_TIMEOUT
        )
        err = gen.error
        if fields:
            if isinstance(err, ServerError) and is_native_budget_refusal(err.status, err.message):
                native = False
                evidence["native_budget"] = "verified: refused with a 400 (no reasoning config)"
                gen = yield Call("probe-chat", ask, purpose="probe", timeout=PROBE_TIMEOUT)
                err = gen.error
            elif err is None:
                thought = _reasoning_text(gen.body)
                native = count_tokens(thought) <= _PROBE_BUDGET + NATIVE_SLACK
                if not native:
                    evidence["native_budget"] = "verified: accepted, but thinking ran past it"
                elif thought:
                    evidence["native_budget"] = "verified: the test's thinking stopped at it"
                else:
                    evidence["native_budget"] = "assumed: accepted (the test did not think)"
        if err is None:
            reasoning = _reasoning_shape(gen.body)
            evidence["reasoning"] = f"verified: a {PROBE_TOKENS}-token test generation"
            hinted = detect_from_response(gen.body) if isinstance(gen.body, Mapping) else None
            if hinted is not None and not evidence["dialect"].startswith("verified"):
                name, dialect = hinted, dialect_named(hinted)
                evidence["dialect"] = "verified: recognised in a test generation's response"
            if reasoning == "close-only" and thinking_open is None:
                thinking_open = True
                evidence["template_opens_thinking"] = "verified: the output had a close tag only"
        else:
            evidence["reasoning"] = f"unknown: the test generation failed ({err})"
    elif generate:
        evidence["reasoning"] = "unknown: no model to test with (give one)"
    else:
        evidence["reasoning"] = "unknown: not generated (probe with a generation to see)"
    for fact in ("template_opens_thinking",):
        evidence.setdefault(fact, "unknown")
    version = body.get("version") or body.get("build_info")
    return ServerInfo(
        dialect=dialect.name,
        label=dialect.label,
        version=str(version) if version is not None else None,
        native_budget=native,
        template_opens_thinking=thinking_open,
        raw=dict(body) if body else (dict(models.body) if isinstance(models.body, Mapping) else {}),
        reasoning=reasoning,
        evidence=evidence,
    )
