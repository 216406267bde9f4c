"""Every error terse raises, under one root.

The tree separates *you* (a wrong call) from *the wire* (the server could not be
reached or refused) from *the model* (its output could not be turned into an
answer)::

    TerseError
    ├── UsageError                  terse was called wrongly (bad option, bad type)
    ├── TransportError              the request did not produce a usable response
    │   ├── ServerError             the server answered with an HTTP error status
    │   │   └── RateLimited         429; ``retry_after`` holds the server's hint
    │   ├── ConnectionFailed        connect/read failure, timeout, idle or deadline expiry, stream dropped
    │   ├── ProtocolError           the response was not valid OpenAI-compatible JSON/SSE (or was HTML)
    │   └── ResponseTooLarge        a `terse.Limits` size was exceeded; the part read is kept
    ├── ResponseError               the model answered, but not with a usable answer
    │   ├── ThinkingTruncated       output ended inside the reasoning (``finish_reason=length``)
    │   │   └── ThinkingBudgetExceeded   the thinking budget was hit and ``on_exceed="raise"``
    │   ├── AnswerTruncated         the answer itself was cut by the token limit
    │   ├── NoAnswer                a normal stop with an empty answer
    │   └── ExtractionError         no candidate in the answer validates as the requested type
    └── RetriesExhausted            attempts, time or tokens ran out; carries every attempt

Every error that concerns a model response keeps the evidence (``reasoning``,
``text``, ``raw``), so nothing is lost when a row of a batch job fails. No error
ever shows an API key: server text is scrubbed as it enters (`terse._secrets`), and every
error's ``str``, ``repr`` and pickle is scrubbed again on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._secrets import scrub, scrub_value

if TYPE_CHECKING:
    from ._results import Attempt

__all__ = [
    "AnswerTruncated",
    "ConnectionFailed",
    "ExtractionError",
    "NoAnswer",
    "ProtocolError",
    "RateLimited",
    "ResponseError",
    "ResponseTooLarge",
    "RetriesExhausted",
    "ServerError",
    "TerseError",
    "ThinkingBudgetExceeded",
    "ThinkingTruncated",
    "TransportError",
    "UsageError",
]

_BODY_LIMIT = 2000


_SCRUB_MARGIN = 1024  # scrubbed past the cut, so a key straddling it leaves no prefix


def _truncate(text: str, limit: int = _BODY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit} more chars]"


def _clean(text: str, limit: int = _BODY_LIMIT) -> str:
    """``text`` scrubbed of secrets, then truncated (only the part kept is scrubbed)."""
    head = scrub(text[: limit + _SCRUB_MARGIN])
    if len(head) <= limit:
        return head
    return head[:limit] + f"… [{len(text) - limit} more chars]"


class TerseError(Exception):
    """Root of every error terse raises.

    ``attempts`` holds the record of every request the failed call made (empty for errors
    raised before any request), so a failure's cost is never lost.
    """

    attempts: Sequence[Attempt] = ()

    def __str__(self) -> str:
        return scrub(super().__str__())

    def __repr__(self) -> str:
        return scrub(super().__repr__())

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to another process, a Ray driver, a cache) without any secret, and
        # rebuilt without calling __init__, so every subclass round-trips whole.
        state = {k: scrub_value(v) for k, v in self.__dict__.items()}
        return (_rebuild, (type(self), scrub_value(self.args), state))


def _rebuild(cls: type[TerseError], args: tuple[Any, ...], state: dict[str, Any]) -> TerseError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class UsageError(TerseError, ValueError):
    """terse was called wrongly: an unknown option, a bad budget, a type it cannot build."""


class WrongType(UsageError, TypeError):
    """A `UsageError` for an argument of the wrong type (also a `TypeError`, as Python's own)."""


class TransportError(TerseError):
    """The request did not produce a usable HTTP response."""


class ServerError(TransportError):
    """The server answered with an HTTP error status.

    ``status`` is the HTTP status, ``message`` the server's own error message when it
    sent one, and ``body`` the raw response body, truncated to 2,000 characters.
    """

    def __init__(self, status: int, message: str, body: str = "") -> None:
        self.status = status
        self.message = _clean(message)
        self.body = _clean(body)
        super().__init__(f"server returned HTTP {status}: {self.message}")

    @property
    def retryable(self) -> bool:
        """Whether trying again may succeed (408, 409, 429 and 5xx)."""
        return self.status in (408, 409, 429) or self.status >= 500


class RateLimited(ServerError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds, when given."""

    def __init__(
        self, status: int, message: str, body: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(status, message, body)
        self.retry_after = retry_after


class ConnectionFailed(TransportError):
    """Connecting or reading failed: refused, reset, timed out, or the stream dropped mid-way."""


class ProtocolError(TransportError):
    """The response was not what an OpenAI-compatible server sends (bad JSON, bad SSE)."""

    def __init__(self, message: str, body: str = "") -> None:
        self.body = _clean(body)
        super().__init__(message)


class ResponseTooLarge(TransportError):
    """The response went over one of `terse.Limits`; terse stopped reading it.

    ``limit`` names the limit (``"body"``, ``"line"``, ``"reasoning"`` or ``"answer"``) and
    ``max`` its size; ``text`` and ``reasoning`` hold what had been read (at most the
    limit). Not retried by default: the same request would most likely flood again.
    """

    def __init__(
        self, message: str, *, limit: str, max: int, text: str = "", reasoning: str = ""
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.max = max
        self.text = text
        self.reasoning = reasoning

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_too_large, (str(self), self.limit, self.max, self.text, self.reasoning))


def _rebuild_too_large(
    message: str, limit: str, max: int, text: str, reasoning: str
) -> ResponseTooLarge:
    return ResponseTooLarge(message, limit=limit, max=max, text=text, reasoning=reasoning)


class ResponseError(TerseError):
    """The model answered, but the output could not be turned into an answer.

    ``text`` is the answer text (possibly empty or cut), ``reasoning`` the reasoning
    text, ``finish_reason`` what the server said.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        reasoning: str = "",
        finish_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.text = text
        self.reasoning = reasoning
        self.finish_reason = finish_reason


class ThinkingTruncated(ResponseError):
    """The output ended while the model was still thinking; there is no answer."""


class ThinkingBudgetExceeded(ThinkingTruncated):
    """The thinking budget was reached and the budget says ``on_exceed="raise"``.

    ``reasoning`` holds the partial reasoning; ``reasoning_tokens`` how many tokens of
    it were counted when the budget fired.
    """

    def __init__(self, message: str, *, reasoning: str = "", reasoning_tokens: int = 0) -> None:
        super().__init__(message, reasoning=reasoning, finish_reason="budget")
        self.reasoning_tokens = reasoning_tokens


class AnswerTruncated(ResponseError):
    """The answer was cut by the token limit (``finish_reason=length`` after thinking ended)."""


class NoAnswer(ResponseError):
    """The model stopped normally but wrote no answer (thinking only, or empty content)."""


class ExtractionError(ResponseError):
    """No candidate in the answer validates as the requested type.

    ``text`` is the answer that was searched (never the reasoning), ``candidates`` every
    candidate string tried, in order, and ``errors`` one message per failed candidate.
    :meth:`feedback` renders a short text fit to send back to the model in a re-ask.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        candidates: Sequence[str] = (),
        errors: Sequence[str] = (),
        target: str = "",
        reasoning: str = "",
    ) -> None:
        super().__init__(message, text=text, reasoning=reasoning)
        self.candidates = list(candidates)
        self.errors = list(errors)
        self.target = target

    def feedback(self, limit: int = 1200) -> str:
        """A short correction request for the model: what was wrong and what is wanted."""
        if not self.text.strip():
            head = "Your reply contained no final answer after your reasoning."
        elif not self.candidates:
            head = "Your final answer did not contain a value I could parse."
        else:
            head = "Your final answer could not be used."
        lines = [head]
        if self.errors:
            lines.append("Problems:")
            lines.extend(f"- {e}" for e in self.errors[-3:])
        if self.target:
            lines.append(f"Reply again with only the final answer, as {self.target}.")
        else:
            lines.append("Reply again with only the corrected final answer.")
        return _truncate("\n".join(lines), limit)


class RetriesExhausted(TerseError):
    """Attempts, time or total tokens ran out before a usable answer arrived.

    ``attempts`` records every request made (outcome, error, usage, latency);
    ``reason`` says which bound stopped the retries; ``__cause__`` is the last failure.
    """

    def __init__(self, message: str, *, attempts: Sequence[Attempt], reason: str) -> None:
        super().__init__(message)
        self.attempts = list(attempts)
        self.reason = reason

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last attempt (the same object as ``__cause__``)."""
        return self.__cause__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_retries, (str(self), self.attempts, self.reason))


def _rebuild_retries(message: str, attempts: Sequence[Attempt], reason: str) -> RetriesExhausted:
    return RetriesExhausted(message, attempts=attempts, reason=reason)
