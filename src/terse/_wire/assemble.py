"""Turning what a server sends into reasoning, answer, usage and a verdict. No I/O.

An `Assembler` takes one response: the raw bytes of a stream (`feed_bytes`, framed by
`terse._wire.sse.SSEDecoder`), single SSE lines (`feed_line`) or a whole JSON body
(`feed_whole` for bytes, `feed_body` for a parsed object). It stops (`stop`) at
``data: [DONE]``, at an error and at a `Limits` size, so the driver can close the stream. It reads every known reasoning field (``reasoning_content``,
``reasoning``, ``thinking``; the vLLM transition sends two with the same text, counted
once), splits inline think tags out of ``content`` with a `Splitter`, counts reasoning
tokens as they stream, and says when a thinking budget is reached so the caller can stop
reading. `Assembler.result` then classifies the response: an answer, or the precise
reason there is none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import (
    AnswerTruncated,
    NoAnswer,
    ProtocolError,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    TerseError,
    ThinkingTruncated,
)
from .._results import AnswerDelta, ReasoningDelta, Usage
from .._secrets import scrub
from .._server.dialects import Dialect, ModelFamily, detect_from_response
from .formats import FORMATS
from .split import Splitter, _tail_candidate
from .sse import DEFAULT_LIMITS, Limits, SSEDecoder, parse_json
from .tokens import TokenCounter, count_tokens

__all__ = ["Assembler", "Limit", "Outcome", "build_usage"]

_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


@dataclass(frozen=True)
class Limit:
    """When to stop reading a stream because the thinking ran too long."""

    tokens: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Outcome:
    """Everything one response amounted to.

    ``error`` is None for a usable answer; otherwise the `TerseError` that explains why
    there is none. ``cut`` is True when terse stopped reading at the thinking budget.
    """

    reasoning: str
    text: str
    closed: bool
    finish_reason: str | None
    usage: Usage
    reasoning_tokens: int
    cut: bool = False
    error: TerseError | None = None
    dialect_hint: str | None = None
    body: Any = None
    close_only: bool = False


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def build_usage(
    server: Mapping[str, Any] | None,
    *,
    dialect: Dialect,
    counted_reasoning: int,
    counted_answer: int,
    prompt_estimate: Callable[[], int],
    method: str,
) -> Usage:
    """Combine what the server reported with what terse counted into one `Usage`."""
    local = "counted" if method in ("chunks", "tiktoken") else "estimated"
    sources: set[str] = set()
    prompt = _int(_dig(server, ("prompt_tokens",)))
    if prompt is None:
        prompt = prompt_estimate()
        sources.add("estimated" if prompt else "none")
    else:
        sources.add("server")
    completion = _int(_dig(server, ("completion_tokens",)))
    reasoning = None
    for path in (
        dialect.reasoning_usage,
        ("completion_tokens_details", "reasoning_tokens"),
        ("reasoning_tokens",),
    ):
        if path and reasoning is None:
            reasoning = _int(_dig(server, path))
    if completion is not None and reasoning is not None:
        answer = max(0, completion - reasoning)
        sources.add("server")
    elif completion is not None:
        # Only the total is reported: count the (short) answer, and the rest is reasoning,
        # delimiters included. With no reasoning at all, everything is answer.
        if counted_reasoning == 0:
            counted_answer = completion
        answer = min(counted_answer, completion)
        reasoning = completion - answer
        sources.add("server" if reasoning == 0 or answer == 0 else local)
    else:
        reasoning, answer = counted_reasoning, counted_answer
        if reasoning or answer:
            sources.add(local)
    cached = _int(_dig(server, ("prompt_tokens_details", "cached_tokens")))
    if cached is None:
        cached = _int(_dig(server, ("prompt_cache_hit_tokens",)))
    if len(sources) > 1:
        sources.discard("none")
    source = sources.pop() if len(sources) == 1 else ("mixed" if sources else "none")
    return Usage(
        prompt_tokens=prompt,
        reasoning_tokens=reasoning,
        answer_tokens=answer,
        total_tokens=prompt + reasoning + answer,
        source=source,  # type: ignore[arg-type]  # one of the UsageSource literals by construction
        cached_tokens=cached,
    )


def server_error(
    status: int, body: str, retry_after: float | None = None, secrets: Iterable[str] = ()
) -> ServerError:
    """A `ServerError` (or `RateLimited`) carrying the server's own message.

    ``secrets`` (the client's key and secret header values) are scrubbed from the body
    before anything is taken from it: a server may echo the key it was sent.
    """
    body = scrub(body, secrets)
    message = body.strip()[:300] or f"HTTP {status}"
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, Mapping):
        err = obj.get("error", obj)
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            message = err["message"]
        elif isinstance(err, str):
            message = err
        elif isinstance(obj.get("message"), str):
            message = obj["message"]
    if status == 429:
        return RateLimited(status, message, body, retry_after=retry_after)
    return ServerError(status, message, body)


_CLOSES = tuple(sorted({c for f in FORMATS if not f.word_delimiters for c in f.closes}, key=len))[
    ::-1
]
_CLOSE_FIRSTS = "".join(sorted({c[0] for c in _CLOSES}))
_CLOSE_HOLD = max(len(c) for c in _CLOSES) - 1


class _CloseDrop:
    """Streams answer text as it comes, without the closing think tags a model writes in it.

    Used for a conclusion: terse closed the think block itself, so every piece is answer;
    a model that closes it once more leaves only its tag out. At most a possible partial
    tag (the longest closing delimiter minus one character) is held back.
    """

    __slots__ = ("_held", "_started")

    def __init__(self) -> None:
        self._held = ""
        self._started = False

    def feed(self, text: str, final: bool = False) -> str:
        buf = self._held + text
        if any(c in buf for c in _CLOSES):
            for close in _CLOSES:
                buf = buf.replace(close, "")
        cut = len(buf) if final else _tail_candidate(buf, _CLOSES, _CLOSE_FIRSTS, _CLOSE_HOLD)
        out, self._held = buf[:cut], buf[cut:]
        if not self._started:
            out = out.lstrip()
            self._started = bool(out)
        return out


class Assembler:
    """Accumulates one response and classifies it.

    Args:
        dialect: The server dialect (for usage paths and exact chunk counting).
        family: The model family, if known (leaked channel words).
        thinking_open: Passed to the content `Splitter` when no reasoning field is seen.
        close_only_seen: This server has been seen writing close-only output (its template
            pre-fills the opening tag). Text with no tag that the token limit cuts is then
            reasoning (`ThinkingTruncated`), not a cut answer.
        answer_only: The request continues a reasoning that terse closed itself: every
            piece of text is answer, whichever field it arrives in.
        thinking_disabled: The request switched thinking off, so text that a reasoning
            parser filed as reasoning with no content is really the answer.
        limit: When to report `cut` (thinking budget), or None.
        prefill: The content of a final assistant message the request asked the server to
            continue; the answer is that prefill plus the continuation.
        prompt_estimate: Returns a local count of the prompt's tokens; called only when the
            server does not report them.
        clock: A monotonic clock (injectable for tests).
        limits: Sizes past which the response is refused (`ResponseTooLarge`).
    """

    def __init__(
        self,
        *,
        dialect: Dialect,
        family: ModelFamily | None = None,
        thinking_open: bool | None = None,
        close_only_seen: bool = False,
        answer_only: bool = False,
        thinking_disabled: bool = False,
        limit: Limit | None = None,
        prefill: str | None = None,
        prompt_estimate: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._dialect = dialect
        self._family = family
        self._thinking_open = thinking_open
        self._close_only_seen = close_only_seen
        self._answer_only = answer_only
        self._disabled = thinking_disabled
        self._limit = limit
        self._prefill = prefill or None
        self._prefilled_request = self._prefill is not None
        self._head = ""  # content held while a repeated prefill may be forming
        self._prompt_estimate = prompt_estimate
        self._clock = clock
        self._start = clock()
        self._splitter: Splitter | None = None
        self._saw_reasoning_field = False
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        self._held = ""  # answer text held while a leaked channel word may be forming
        self._drop = _CloseDrop() if answer_only else None
        self._prefix_checked = not (family and family.leaked_prefixes)
        self._counter = TokenCounter("chunks" if dialect.token_per_chunk else "tiktoken")
        self._provisional = TokenCounter(self._counter.method)
        self._undecided: list[str] = []  # content held undecided, kept in case the budget cuts it
        self._tags: list[str] = []  # thinking chunks that released nothing yet (a tag forming?)
        self._tag_tokens = 0  # counted tokens that were think tags, not reasoning
        self._thought = False  # a content chunk has been counted as reasoning
        self._answer_started = False
        self._answer_chunks = 0
        self._whole = False
        self._finish: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._error: TerseError | None = None
        self._hint: str | None = None
        self._done = False
        self._seen_chunk = False
        self._flushed = False
        self._limits = limits
        self._decoder: SSEDecoder | None = None
        self._r_size = 0  # characters of reasoning kept
        self._r_fixed = 0  # leading items of _reasoning that are joined blocks
        self._a_size = 0
        self._a_fixed = 0
        self._u_size = 0  # characters of undecided content held
        self._thinking_cut = False  # undecided text cut by the token limit, filed as reasoning
        self.cut = False
        """True once the thinking budget was reached: stop reading and close the stream."""

    # -- input ---------------------------------------------------------------------------

    @property
    def stop(self) -> bool:
        """Whether to stop reading now: ``[DONE]``, an error, a limit, or the budget cut."""
        return self._done or self.cut

    def feed_bytes(self, chunk: bytes) -> list[ReasoningDelta | AnswerDelta]:
        """Take raw bytes of an event stream; return the pieces they released."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = SSEDecoder(self._limits.line)
        try:
            events = decoder.feed(chunk)
        except TerseError as exc:
            self._fail(self._with_partial(exc))
            return []
        return self._feed_events(events) if events else []

    def end_stream(self) -> list[ReasoningDelta | AnswerDelta]:
        """The event stream ended (the server closed it): release its last event."""
        decoder = self._decoder
        if decoder is None or self._done:
            return []
        try:
            events = decoder.finish()
        except TerseError as exc:
            self._fail(self._with_partial(exc))
            return []
        out = self._feed_events(events) if events else []
        if not decoder.fields and not self._done and decoder.head.strip():
            # Not an event stream at all: an HTML page, or a JSON body sent to a stream
            # request by a server that ignores "stream": say what arrived.
            from .sse import _html_error, _looks_html

            head = decoder.head
            if _looks_html(head):
                self._fail(_html_error(head))
            else:
                text = head.decode("utf-8", "replace")
                self._fail(ProtocolError("the server's stream held no SSE events", text))
        return out

    def _feed_events(self, events: list[tuple[str, str]]) -> list[ReasoningDelta | AnswerDelta]:
        out: list[ReasoningDelta | AnswerDelta] = []
        for kind, data in events:
            if self._done:
                break
            if kind == "message":
                got = self.feed_data(data)
            elif kind == "error":
                self._error_event(data)
                got = []
            else:
                continue  # a named event terse does not know (e.g. "ping")
            if got:
                out.extend(got)
        return out

    def _error_event(self, data: str) -> None:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            obj = None
        status = 500
        if isinstance(obj, Mapping):
            err = obj.get("error", obj)
            code = _int(err.get("code")) if isinstance(err, Mapping) else None
            code = code or _int(obj.get("code"))
            if code is not None and 400 <= code <= 599:
                status = code
        error = server_error(status, data or "the server sent an error event")
        self._fail(error)

    def feed_line(self, line: str) -> list[ReasoningDelta | AnswerDelta]:
        """Take one SSE line; return the reasoning and answer pieces it released."""
        if not line.startswith("data:") or self._done:
            return []
        return self.feed_data(line[6:] if line[5:6] == " " else line[5:])

    def feed_data(self, data: str) -> list[ReasoningDelta | AnswerDelta]:
        """Take the ``data`` of one SSE message event."""
        if self._done:
            return []
        if data.endswith("]") and data.strip() == "[DONE]":
            self._done = True
            return []
        try:
            obj = json.loads(data)
        except RecursionError:
            self._fail(ProtocolError("server sent a stream event nested too deeply", data[:2000]))
            return []
        except ValueError:
            if "\n" in data:  # a sloppy server's events on consecutive lines: one at a time
                return self._feed_lines(data)
            self._fail(ProtocolError("server sent a stream line that is not JSON", data[:2000]))
            return []
        if type(obj) is not dict:
            self._fail(ProtocolError("server sent a stream event that is not an object", data))
            return []
        return self.feed_chunk(obj)

    def _feed_lines(self, data: str) -> list[ReasoningDelta | AnswerDelta]:
        out: list[ReasoningDelta | AnswerDelta] = []
        for part in data.split("\n"):
            if part.strip():
                out.extend(self.feed_data(part))
        return out

    def feed_whole(self, data: bytes) -> None:
        """Take a whole non-streamed response body as bytes."""
        try:
            obj = parse_json(data)
        except TerseError as exc:
            self._fail(exc)
            return
        self.feed_body(obj)

    def feed_chunk(self, obj: Mapping[str, Any]) -> list[ReasoningDelta | AnswerDelta]:
        """Take one parsed stream event (chat, completions or llama.cpp ``/completion``)."""
        choices = obj.get("choices")
        if "error" in obj and not choices:
            err = obj["error"]
            code = _int(err.get("code")) if isinstance(err, Mapping) else None
            self._fail(server_error(code or _int(obj.get("code")) or 500, json.dumps(obj)))
            return []
        if self._hint is None and (not self._seen_chunk or "usage" in obj or "timings" in obj):
            self._hint = detect_from_response(obj)
        self._seen_chunk = True
        usage = obj.get("usage")
        if usage and isinstance(usage, Mapping):
            self._usage = usage
        reasoning = ""
        content: Any = None
        if choices and type(choices) is list:
            choice = choices[0]
            if not isinstance(choice, Mapping):
                return []
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message")
            if isinstance(delta, Mapping):
                content = delta.get("content")
                reasoning = _reasoning_of(delta)
            if content is None:
                content = choice.get("text")
            finish = choice.get("finish_reason")
            if finish is not None and isinstance(finish, str):
                self._finish = finish
        elif "content" in obj and "stop" in obj:  # llama.cpp native /completion chunk
            content = obj.get("content")
            if obj.get("stop"):
                self._finish = "length" if obj.get("stopped_limit") else "stop"
        else:
            return []
        if not reasoning and not content:
            return []
        return self._take(reasoning, content if type(content) is str else "")

    def feed_body(self, obj: Any) -> None:
        """Take a whole non-streamed response body."""
        if not isinstance(obj, Mapping):
            self._fail(ProtocolError("server response is not a JSON object", str(obj)[:2000]))
            return
        self._whole = True  # one body: chunks say nothing about token counts
        self.feed_chunk(obj)
        self._done = True

    def fail(self, error: TerseError) -> None:
        """Record that the response ended in an error (a dropped stream, a timeout)."""
        self._fail(error)

    # -- output ----------------------------------------------------------------------------

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens counted so far."""
        return self._counter.total

    def result(self) -> Outcome:
        """Finish: release held text and classify the response."""
        self.flush()
        reasoning = "".join(self._reasoning)
        text = "".join(self._answer).strip()
        closed = self._splitter.closed if self._splitter is not None else not self._thinking_cut
        if self._saw_reasoning_field and not text and self._finish == "length":
            closed = False
        if self._disabled and not text and reasoning.strip() and self._finish in ("stop", None):
            # A reasoning parser that waits for a </think> which never comes (thinking was
            # off) files the whole answer as reasoning: it is the answer.
            text, reasoning, closed = reasoning.strip(), "", True
        usage = build_usage(
            self._usage,
            dialect=self._dialect,
            counted_reasoning=self._counter.total,
            counted_answer=self._answer_tokens(text),
            prompt_estimate=self._prompt_estimate,
            method=self._counter.method,
        )
        error = self._error
        if error is None and not self.cut:
            untagged = (
                self._splitter is not None
                and self._splitter.format is None
                and not self._saw_reasoning_field
                and self._thinking_open is None
            )
            error = _classify(text, reasoning, closed, self._finish, self._answer_only, untagged)
        return Outcome(
            reasoning=reasoning,
            text=text,
            closed=closed,
            finish_reason=self._finish,
            usage=usage,
            reasoning_tokens=usage.reasoning_tokens,
            cut=self.cut,
            error=error,
            dialect_hint=self._hint,
            close_only=self._splitter is not None and self._splitter.close_only,
        )

    # -- internals -------------------------------------------------------------------------

    def _fail(self, error: TerseError) -> None:
        if self._error is None:
            self._error = error
        self._done = True

    def _keep_reasoning(self, text: str) -> None:
        pieces = self._reasoning
        pieces.append(text)
        self._r_size += len(text)
        if len(pieces) > 4096:  # join small pieces: a str per token costs ~60 bytes
            pieces[self._r_fixed :] = ["".join(pieces[self._r_fixed :])]
            self._r_fixed += 1
        if self._r_size + self._u_size > self._limits.reasoning:
            self._too_large("reasoning")

    def _keep_answer(self, text: str) -> None:
        pieces = self._answer
        pieces.append(text)
        self._a_size += len(text)
        if len(pieces) > 4096:
            pieces[self._a_fixed :] = ["".join(pieces[self._a_fixed :])]
            self._a_fixed += 1
        if self._a_size > self._limits.answer:
            self._too_large("answer")

    def _too_large(self, which: str) -> None:
        size = self._limits.reasoning if which == "reasoning" else self._limits.answer
        self._fail(
            ResponseTooLarge(
                f"the model's {which} passed {size} characters (Limits.{which}); terse stopped "
                "reading",
                limit=which,
                max=size,
                text="".join(self._answer)[: self._limits.answer],
                reasoning=("".join(self._reasoning) + "".join(self._undecided))[
                    : self._limits.reasoning
                ],
            )
        )

    def _with_partial(self, error: TerseError) -> TerseError:
        if isinstance(error, ResponseTooLarge):
            error.text = "".join(self._answer)
            error.reasoning = "".join(self._reasoning) + "".join(self._undecided)
        return error

    def wake_at(self) -> float | None:
        """When the seconds budget runs out, on this assembler's clock (None: no such bound)."""
        limit = self._limit
        if limit is None or limit.seconds is None or self.cut or self._answer:
            return None
        return self._start + limit.seconds

    def _answer_tokens(self, text: str) -> int:
        if self._counter.method == "chunks" and not self._whole:
            return self._answer_chunks
        return count_tokens(text) if text else 0

    def _take(self, reasoning: str, content: str) -> list[ReasoningDelta | AnswerDelta]:
        events: list[ReasoningDelta | AnswerDelta] = []
        if reasoning:
            if self._answer_only:
                content = reasoning + content
            else:
                self._saw_reasoning_field = True
                self._keep_reasoning(reasoning)
                events.append(ReasoningDelta(reasoning))
                self._count(reasoning)
        if content:
            if self._prefill is not None:
                content = self._prefilled(content, final=False)
            if content:
                self._take_content(content, events)
        return events

    def _prefilled(self, content: str, final: bool) -> str:
        """Normalise a continued assistant prefill to the whole message.

        llama.cpp repeats the prefill at the start of ``content``; other servers send only
        the continuation. Either way the answer is the prefill plus the continuation.
        """
        prefill = self._prefill
        assert prefill is not None
        self._head += content
        if len(self._head) < len(prefill) and not final:
            return ""
        head, self._head, self._prefill = self._head, "", None
        return head if head.startswith(prefill) else prefill + head

    def _take_content(self, content: str, events: list[ReasoningDelta | AnswerDelta]) -> None:
        splitter = self._splitter
        if splitter is None:
            if self._answer_only:
                # The think block was closed for the model: everything is answer, streamed
                # as it comes (a close tag it writes anyway is dropped by `_CloseDrop`).
                mode: bool | None = False
            elif self._saw_reasoning_field:
                mode = False
            elif self._disabled or self._prefilled_request:
                # Thinking is off, or the reply continues the caller's own assistant text:
                # a template-opened <think> cannot be assumed.
                mode = None
            else:
                mode = self._thinking_open
            splitter = self._splitter = Splitter(thinking_open=mode)
        before_answer = not self._answer_started
        part = splitter.feed(content)
        if splitter.undecided:
            # Text with no think tag yet may be close-only reasoning (the template
            # pre-filled <think>): it counts toward the budget until it is resolved, and is
            # kept in case the budget cuts it.
            self._undecided.append(content)
            self._u_size += len(content)
            if self._u_size + self._r_size > self._limits.reasoning:
                self._too_large("reasoning")
            if self._limit is not None:
                self._count(content, provisional=True)
            return
        held, self._undecided = self._undecided, []
        self._u_size = 0
        if held:
            self._provisional = TokenCounter(self._counter.method)
            if splitter.format is not None:  # resolved as reasoning: count what was held
                for chunk in held:
                    self._count(chunk)
            else:  # resolved as answer: the held chunks were answer
                self._answer_chunks += len(held)
        if part.reasoning:
            self._keep_reasoning(part.reasoning)
            events.append(ReasoningDelta(part.reasoning))
        if (
            before_answer
            and not self._answer_only
            and (splitter.format is not None or not part.answer)
            and not (part.answer and not part.reasoning and self._counter.method == "chunks")
        ):
            # Still on the thinking side: count the raw chunk, delimiters included, as the
            # server counts them. A chunk that released nothing but whitespace (a think tag
            # forming) waits: it counts toward the budget only if reasoning follows, so inline
            # tags (llama.cpp --reasoning-format none) never make terse cut before a native
            # budget that counts reasoning alone.
            if splitter.format is not None and not part.reasoning.strip() and not part.answer:
                self._tags.append(content)  # a tag forming, or whitespace beside one
            else:
                self._settle_tags(reasoning=bool(part.reasoning))
                self._count(content)
                self._thought = True
        elif self._answer_only or self._answer_started or part.answer:
            self._settle_tags(reasoning=False)
            self._answer_chunks += 1  # whitespace-only pieces of the answer count too
        if part.answer:
            self._answer_started = True
            self._emit_answer(part.answer, events)

    def _settle_tags(self, reasoning: bool) -> None:
        """Count the chunks held by `_tags`: reasoning after all, or a think tag."""
        if not self._tags:
            return
        tags, self._tags = self._tags, []
        guarded = reasoning and self._thought  # before any reasoning: the opening tag
        for chunk in tags:
            self._count(chunk, guarded=guarded)

    def _count(self, reasoning: str, provisional: bool = False, guarded: bool = True) -> None:
        if provisional:
            total = self._provisional.feed(reasoning) + self._counter.total
        else:
            before = self._counter.total
            total = self._counter.feed(reasoning)
            if not guarded:  # a think tag: the server counts it, a budget does not
                self._tag_tokens += total - before
        total -= self._tag_tokens
        limit = self._limit
        if limit is None or self.cut:
            return
        if (limit.tokens is not None and total >= limit.tokens) or (
            limit.seconds is not None and self._clock() - self._start >= limit.seconds
        ):
            self.cut = True

    def check_time(self) -> bool:
        """Whether the seconds budget has run out while still thinking (sets `cut`)."""
        limit = self._limit
        if (
            limit is not None
            and limit.seconds is not None
            and not self._answer
            and not self.cut
            and self._clock() - self._start >= limit.seconds
        ):
            self.cut = True
        return self.cut

    def _emit_answer(
        self, text: str, events: list[ReasoningDelta | AnswerDelta], final: bool = False
    ) -> None:
        if self._drop is not None:
            text = self._drop.feed(text, final)
            if not text:
                return
        if not self._prefix_checked:
            self._held += text
            family = self._family
            assert family is not None
            longest = max(len(p) for p in family.leaked_prefixes)
            if len(self._held) <= longest:
                return
            text, self._held = _drop_leaked(self._held, family.leaked_prefixes), ""
            self._prefix_checked = True
        self._keep_answer(text)
        events.append(AnswerDelta(text))

    def _cut_inside_opened_thinking(self) -> bool:
        """Undecided text cut by the token limit, from a server known to open thinking."""
        return (
            self._finish == "length"
            and self._close_only_seen
            and not self._saw_reasoning_field
            and not self._answer_only
            and not self._disabled
            and not self._prefilled_request
        )

    def flush(self) -> list[ReasoningDelta | AnswerDelta]:
        """Release text held back at the end of the stream (idempotent)."""
        if self._flushed:
            return []
        self._flushed = True
        self._settle_tags(reasoning=False)  # the stream ended on a tag, or a cut
        events: list[ReasoningDelta | AnswerDelta] = []
        if self._prefill is not None and self._head:
            self._take_content(self._prefilled("", final=True), events)
        if (self.cut or self._cut_inside_opened_thinking()) and self._undecided:
            # Cut at the budget (or by the token limit, on a server seen writing close-only
            # output) while the text had no tag yet: it was thinking that the template
            # opened; treat it as reasoning (it is concluded or reported, never answered).
            text = "".join(self._undecided)
            for chunk in self._undecided:
                self._counter.feed(chunk)
            self._undecided = []
            self._u_size = 0
            self._splitter = None
            self._thinking_cut = not self.cut
            self._reasoning.append(text)
            events.append(ReasoningDelta(text))
            return events
        if self._splitter is not None:
            part = self._splitter.finish()
            if part.reasoning:
                self._reasoning.append(part.reasoning)
                events.append(ReasoningDelta(part.reasoning))
                self._count(part.reasoning)
            if part.answer:
                self._emit_answer(part.answer, events)
        if self._drop is not None:
            self._emit_answer("", events, final=True)
        if self._held and self._family is not None:
            text = _drop_leaked(self._held, self._family.leaked_prefixes)
            self._held = ""
            self._answer.append(text)
            events.append(AnswerDelta(text))
        return events


def _reasoning_of(delta: Mapping[str, Any]) -> str:
    """The reasoning text of a message or delta, whichever field carries it.

    The vLLM transition sends ``reasoning`` and ``reasoning_content`` with the same text:
    it counts once. Should they ever differ, ``reasoning`` (the current name) wins.
    """
    found = delta.get("reasoning")
    if found and type(found) is str:
        return found
    for key in _REASONING_KEYS:
        value = delta.get(key)
        if value and type(value) is str:
            return value
    return ""


def _drop_leaked(text: str, prefixes: tuple[str, ...]) -> str:
    stripped = text.lstrip()
    for p in prefixes:
        if stripped.startswith(p) and len(stripped) > len(p):
            nxt = stripped[len(p)]
            if nxt.isdigit() or nxt.isupper() or nxt in "{[\"'*`-":
                return stripped[len(p) :]
    return text


def _classify(
    text: str,
    reasoning: str,
    closed: bool,
    finish: str | None,
    answer_only: bool,
    untagged: bool = False,
) -> TerseError | None:
    if not closed and not answer_only:
        if finish == "stop":
            # The model ended its turn inside an unclosed think block: the same output a
            # reasoning parser files as reasoning with no content (NoAnswer, below).
            return NoAnswer(
                "the model stopped (stop) inside its reasoning, without closing it or answering",
                text=text,
                reasoning=reasoning,
                finish_reason=finish,
            )
        if finish == "length":
            msg = "the output was cut by the token limit while the model was still thinking"
        else:
            msg = "the output ended while the model was still thinking (no closing tag)"
        return ThinkingTruncated(msg, text=text, reasoning=reasoning, finish_reason=finish)
    if finish == "length":
        if not text:
            return ThinkingTruncated(
                "the token limit was reached before any answer was written",
                reasoning=reasoning,
                finish_reason=finish,
            )
        hint = (
            " (if this text is reasoning that the chat template opened, without a think tag,"
            " pass thinking_open=True)"
            if untagged
            else ""
        )
        return AnswerTruncated(
            "the answer was cut by the token limit (finish_reason=length); raise max_tokens" + hint,
            text=text,
            reasoning=reasoning,
            finish_reason=finish,
        )
    if not text:
        why = "tool calls" if finish == "tool_calls" else "no answer text"
        return NoAnswer(
            f"the model stopped ({finish or 'no finish reason'}) with {why} after its reasoning",
            reasoning=reasoning,
            finish_reason=finish,
        )
    return None
