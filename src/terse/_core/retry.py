"""Retry policy in tenacity's vocabulary, and the cheap re-ask.

terse retries with tenacity's own strategy objects, gathered in one `RetryPolicy`:
``stop`` and ``wait`` (any tenacity ``stop_*``/``wait_*``, combined with ``|`` and ``+``)
and ``retry`` (any predicate over a `tenacity.RetryCallState`; terse calls them with its own
`RetryState`, which has the fields they read). The predicates below name terse's failure
kinds::

    from tenacity import stop_after_attempt, stop_after_delay
    client.ask(..., retry_policy=terse.RetryPolicy(
        stop=stop_after_attempt(4) | stop_after_delay(60),
        retry=terse.retry_if_transport | terse.retry_if_invalid))

The openai client's own retry loop is switched off for terse's requests, so nothing is
retried twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from tenacity import Future, RetryCallState, retry_if_exception, wait_exponential, wait_random
from tenacity.wait import wait_base

from .._exceptions import (
    AnswerTruncated,
    ConnectionFailed,
    ExtractionError,
    NoAnswer,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    ThinkingTruncated,
    TransportError,
    UsageError,
)
from ..tools._calls import ToolCallError

__all__ = [
    "DEFAULT_RETRY",
    "RetryPolicy",
    "RetryState",
    "check_max_retries",
    "reask_messages",
    "retry_if_invalid",
    "retry_if_no_answer",
    "retry_if_transport",
    "retry_if_truncated",
    "tool_reask_messages",
    "wait_retry_after",
]


def _transport(exc: BaseException) -> bool:
    if isinstance(exc, ServerError):
        return exc.retryable
    if isinstance(exc, ResponseTooLarge):
        return False  # the same request would most likely flood again
    return isinstance(exc, (ConnectionFailed, ProtocolError)) or (
        isinstance(exc, TransportError) and not isinstance(exc, ServerError)
    )


retry_if_transport = retry_if_exception(_transport)
"""Retry 408/409/429/5xx responses, refused or reset connections, timeouts, dropped or
malformed streams. Never other 4xx: the same request would fail the same way."""

retry_if_invalid = retry_if_exception(lambda e: isinstance(e, (ExtractionError, ToolCallError)))
"""Retry (as a re-ask with feedback) when the answer did not validate as the requested type,
or a tool call cannot be executed (unknown tool, invalid arguments, cut by the token limit)."""

retry_if_truncated = retry_if_exception(
    lambda e: isinstance(e, (AnswerTruncated, ThinkingTruncated))
)
"""Retry when the output was cut by the token limit (the answer allowance is doubled)."""

retry_if_no_answer = retry_if_exception(lambda e: isinstance(e, NoAnswer))
"""Retry when the model stopped without writing an answer."""

DEFAULT_RETRY = retry_if_transport | retry_if_invalid | retry_if_no_answer
"""What terse retries unless told otherwise: transport faults, invalid answers, no answer.

Truncation is not retried by default: the same cap would cut the same output again.
With a thinking budget, thinking cut by the cap is concluded instead; add
`retry_if_truncated` to re-ask after a cut answer with twice the answer allowance."""


class wait_retry_after(wait_base):
    """Honour ``Retry-After``, back off after other faults, re-ask at once after a bad answer.

    A 429's hint is capped at ``max_wait`` seconds; other transport faults wait what
    ``fallback`` says (exponential with jitter by default); a re-ask after an invalid or
    missing answer does not wait.
    """

    def __init__(self, fallback: wait_base | None = None, max_wait: float = 60.0) -> None:
        self.fallback = fallback or (
            wait_exponential(multiplier=0.5, max=20.0) + wait_random(0, 0.5)
        )
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after >= 0:
            return float(min(retry_after, self.max_wait))
        if exc is not None and not isinstance(exc, TransportError):
            return 0.0  # a re-ask after a bad answer has nothing to wait for
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class RetryPolicy:
    """How a call retries, in tenacity's vocabulary: ``retry_policy=terse.RetryPolicy(...)``.

    Args:
        stop: When to give up — any tenacity stop (``stop_after_attempt(4) |
            stop_after_delay(60)``). Left out: ``max_retries`` decides (default 2 retries).
        wait: How long to wait before a retry — any tenacity wait. Left out:
            `wait_retry_after` (``Retry-After`` honoured, backoff after faults, none
            before a re-ask).
        retry: Which failures to retry — a predicate over a `tenacity.RetryCallState`
            (`retry_if_transport`, `retry_if_invalid`, … combined with ``|``). Left out:
            `DEFAULT_RETRY`.

    Why one object under its own keyword: ``stop`` is also OpenAI's stop sequences, a
    ``chat.completions.create`` parameter, and terse keeps every create() name with
    OpenAI's meaning (``ask(..., stop=["\\n\\n"])`` sends stop sequences). No OpenAI API
    has a ``retry_policy`` parameter, so it cannot collide, and tenacity's own names live
    inside it unchanged. It is not a ``tenacity.Retrying``: that one's defaults retry
    every exception forever, and its hooks (``before_sleep``, ``sleep``, ``reraise``) have
    no place in terse's loop, which sleeps, accounts and re-asks itself.
    ``max_retries=N`` stays the shorthand for ``stop=stop_after_attempt(N + 1)``.
    """

    stop: Callable[[RetryCallState], bool] | None = None
    wait: Callable[[RetryCallState], float] | None = None
    retry: Callable[[RetryCallState], bool] | None = None

    def __post_init__(self) -> None:
        for name in ("stop", "wait", "retry"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise UsageError(
                    f"RetryPolicy({name}=...) takes a tenacity strategy, not {value!r}"
                )


R = TypeVar("R")


class RetryState:
    """The state of terse's retry loop, as tenacity's strategies read it.

    tenacity's ``stop``, ``wait`` and ``retry`` strategies are callables over a
    `tenacity.RetryCallState`, and read only the fields tenacity documents for it:
    ``attempt_number``, ``outcome`` (a `tenacity.Future`: ``failed``, ``exception()``),
    ``outcome_timestamp``, ``seconds_since_start``, ``start_time``, ``idle_for``,
    ``upcoming_sleep``, ``next_action`` and the wrapped call's ``fn``/``args``/``kwargs``.
    A ``RetryCallState`` is made by a ``tenacity.Retrying`` for the call it wraps; terse's
    loop is not one (it sleeps by yielding, accounts and re-asks itself), so it keeps these
    fields here instead of building a ``RetryCallState`` around a throwaway ``Retrying()``.
    There is no wrapped function (``fn`` is None, ``retry_object`` None). Times are on the
    flow's clock (``time.monotonic`` in the clients), so ``stop_after_delay`` counts from
    the first try; ``idle_for`` adds up the waits the loop asked for.
    """

    retry_object: Any = None
    fn: Any = None
    args: tuple[Any, ...] = ()

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.kwargs: dict[str, Any] = {}
        self.start_time = clock()
        self.attempt_number = 1
        self.outcome: Future | None = None
        self.outcome_timestamp: float | None = None
        self.idle_for = 0.0
        self.upcoming_sleep = 0.0
        self.next_action: Any = None

    @property
    def seconds_since_start(self) -> float | None:
        if self.outcome_timestamp is None:
            return None
        return self.outcome_timestamp - self.start_time

    def failed(self, exc: BaseException) -> None:
        """The current attempt raised ``exc``."""
        self.outcome = Future.construct(self.attempt_number, exc, True)
        self.outcome_timestamp = self._clock()

    def next_attempt(self, slept: float) -> None:
        """The loop waited ``slept`` seconds and starts the next attempt."""
        self.idle_for += slept
        self.outcome = None
        self.outcome_timestamp = None
        self.attempt_number += 1
        self.next_action = None

    def ask(self, strategy: Callable[[RetryCallState], R]) -> R:
        """What a tenacity strategy says of this state (it reads the fields above only)."""
        return strategy(cast(RetryCallState, self))

    def __repr__(self) -> str:
        return f"RetryState(attempt_number={self.attempt_number}, idle_for={self.idle_for:g})"


def check_max_retries(value: Any) -> int:
    """``max_retries``: an int >= 0 (the one check, for clients, calls and batches)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"max_retries must be an int >= 0, not {value!r}")
    return value


def reask_messages(
    messages: Sequence[Mapping[str, Any]], error: ExtractionError
) -> list[dict[str, Any]]:
    """The original messages, the failed *answer* only (never the reasoning), and feedback."""
    out = [dict(m) for m in messages]
    if error.text.strip():
        out.append({"role": "assistant", "content": error.text})
    out.append({"role": "user", "content": error.feedback()})
    return out


def tool_reask_messages(
    messages: Sequence[Mapping[str, Any]], error: ToolCallError
) -> list[dict[str, Any]]:
    """The original messages, the failed answer's text (never its reasoning), and feedback.

    The failed calls are described in the feedback (name, what is wrong, the arguments as
    written, shortened), not replayed as ``tool_calls``: a call with no tool result after
    it is a history some servers refuse.
    """
    out = [dict(m) for m in messages]
    if error.text.strip():
        out.append({"role": "assistant", "content": error.text})
    lines = [error.feedback()]
    for p in error.problems[:5]:
        if p.raw:
            raw = p.raw if len(p.raw) <= 300 else p.raw[:300] + "…"
            lines.append(f"(call {p.index} was written as: {raw})")
    out.append({"role": "user", "content": "\n".join(lines)})
    return out


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), or None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from datetime import datetime, timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds)
