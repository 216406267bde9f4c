"""Turning what a server sends into typed parts, usage and a verdict. No I/O.

An `Assembler` takes one response: the raw bytes of a stream (`feed_bytes`, framed by
`terse._wire.sse.SSEDecoder`), single SSE lines (`feed_line`) or a whole JSON body
(`feed_whole` for bytes, `feed_body` for a parsed object). It stops (`stop`) at
``data: [DONE]``, at an error and at a `Limits` size, so the driver can close the stream.
It reads every known reasoning field (``reasoning_content``, ``reasoning``, ``thinking``;
the vLLM transition sends two with the same text, counted once), splits inline think tags
out of ``content`` with a `Splitter`, counts reasoning tokens as they stream, and says
when a thinking budget is reached so the caller can stop reading. `Assembler.result` then
classifies the response: an answer, or the precise reason there is none.

The assembler directs small pieces, each in its own module:

- `terse._wire.reader.ChunkReader`: events of every response shape to (reasoning,
  content) pieces, with the finish reason, usage, errors and ``[DONE]``;
- `terse._wire.split.Splitter`: inline think tags in the content;
- `terse._wire.filters`: a continued prefill, closing tags in a conclusion, leaked
  channel words;
- `terse._wire.accumulate.Accumulator`: the text kept, as typed parts, within `Limits`;
- `terse._wire.guard.BudgetGuard`: token counts and the thinking-budget cut;
- `terse._wire.usage.build_usage` and `terse._wire.verdict.classify`: the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import TerseError
from .._results import (
    AnswerDelta,
    Part,
    ReasoningDelta,
    TextPart,
    Usage,
    call_parts,
    check_parts,
)
from .._server.dialects import Dialect, ModelFamily
from .accumulate import Accumulator
from .filters import LeakFilter, Prefill, _CloseDrop
from .guard import BudgetGuard, Limit
from .reader import ChunkReader
from .split import Splitter
from .sse import DEFAULT_LIMITS, Limits
from .usage import build_usage
from .verdict import classify as _classify
from .verdict import server_error

__all__ = ["Assembler", "Limit", "Outcome", "build_usage", "server_error"]

Events = list[ReasoningDelta | AnswerDelta]


@dataclass(frozen=True)
class Outcome:
    """Everything one response amounted to.

    ``error`` is None for a usable answer; otherwise the `TerseError` that explains why
    there is none. ``cut`` is True when terse stopped reading at the thinking budget.
    ``parts`` is the response as typed parts in the order they came; ``reasoning`` and
    ``text`` are those parts joined by kind.
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
    parts: tuple[Part, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_parts(self, self.parts, self.reasoning, self.text)

    def call_parts(self, reasonings: list[str]) -> tuple[Part, ...]:
        """The parts of a call this response ended: see `terse._results.call_parts`."""
        return call_parts(reasonings, self.parts)


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
        # What the request was: fixed for the response.
        self._dialect = dialect
        self._thinking_open = thinking_open
        self._close_only_seen = close_only_seen
        self._answer_only = answer_only
        self._disabled = thinking_disabled
        self._prefilled_request = bool(prefill)
        self._prompt_estimate = prompt_estimate
        # The pieces.
        self._reader = reader = ChunkReader(self._take, self._with_partial, limits.line)
        self._text = Accumulator(limits, reader.fail)
        self._guard = BudgetGuard(limit, clock, dialect.token_per_chunk)
        self._prefill = Prefill(prefill) if prefill else None
        self._drop = _CloseDrop() if answer_only else None
        prefixes = family.leaked_prefixes if family is not None else ()
        self._leak = LeakFilter(prefixes) if prefixes else None
        self._splitter: Splitter | None = None
        # Where the response is.
        self._saw_reasoning_field = False
        self._answer_started = False
        self._thinking_cut = False  # undecided text cut by the token limit, filed as reasoning
        self._flushed = False

    # -- input ---------------------------------------------------------------------------

    @property
    def cut(self) -> bool:
        """True once the thinking budget was reached: stop reading and close the stream."""
        return self._guard.cut

    @property
    def stop(self) -> bool:
        """Whether to stop reading now: ``[DONE]``, an error, a limit, or the budget cut."""
        return self._reader.done or self._guard.cut

    def feed_bytes(self, chunk: bytes) -> Events:
        """Take raw bytes of an event stream; return the pieces they released."""
        return self._reader.feed_bytes(chunk)

    def end_stream(self) -> Events:
        """The event stream ended (the server closed it): release its last event."""
        return self._reader.end_stream()

    def feed_line(self, line: str) -> Events:
        """Take one SSE line; return the reasoning and answer pieces it released."""
        return self._reader.feed_line(line)

    def feed_data(self, data: str) -> Events:
        """Take the ``data`` of one SSE message event."""
        return self._reader.feed_data(data)

    def feed_chunk(self, obj: Any) -> Events:
        """Take one parsed stream event (chat, completions or llama.cpp ``/completion``)."""
        return self._reader.feed_chunk(obj)

    def feed_whole(self, data: bytes) -> None:
        """Take a whole non-streamed response body as bytes."""
        self._reader.feed_whole(data)

    def feed_body(self, obj: Any) -> None:
        """Take a whole non-streamed response body."""
        self._reader.feed_body(obj)

    def fail(self, error: TerseError) -> None:
        """Record that the response ended in an error (a dropped stream, a timeout)."""
        self._reader.fail(error)

    def check_time(self) -> bool:
        """Whether the seconds budget has run out while still thinking (sets `cut`)."""
        return self._guard.check_time(self._text.answering)

    def wake_at(self) -> float | None:
        """When the seconds budget runs out, on this assembler's clock (None: no such bound)."""
        return self._guard.wake_at(self._text.answering)

    # -- output ----------------------------------------------------------------------------

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens counted so far."""
        return self._guard.total

    def result(self) -> Outcome:
        """Finish: release held text and classify the response."""
        self.flush()
        reader, guard = self._reader, self._guard
        parts, reasoning, text = self._text.parts()
        closed = self._splitter.closed if self._splitter is not None else not self._thinking_cut
        if self._saw_reasoning_field and not text and reader.finish == "length":
            closed = False
        if self._disabled and not text and reasoning.strip() and reader.finish in ("stop", None):
            # A reasoning parser that waits for a </think> which never comes (thinking was
            # off) files the whole answer as reasoning: it is the answer.
            text, reasoning, closed = reasoning.strip(), "", True
            parts = [TextPart(text)]
        usage = build_usage(
            reader.usage,
            dialect=self._dialect,
            counted_reasoning=guard.total,
            counted_answer=guard.answer_tokens(text, reader.whole),
            prompt_estimate=self._prompt_estimate,
            method=guard.counter.method,
        )
        error = reader.error
        if error is None and not guard.cut:
            untagged = (
                self._splitter is not None
                and self._splitter.format is None
                and not self._saw_reasoning_field
                and self._thinking_open is None
            )
            error = _classify(text, reasoning, closed, reader.finish, self._answer_only, untagged)
        return Outcome(
            reasoning=reasoning,
            text=text,
            closed=closed,
            finish_reason=reader.finish,
            usage=usage,
            reasoning_tokens=usage.reasoning_tokens,
            cut=guard.cut,
            error=error,
            dialect_hint=reader.hint,
            close_only=self._splitter is not None and self._splitter.close_only,
            parts=tuple(parts),
        )

    # -- internals -------------------------------------------------------------------------

    def _with_partial(self, error: TerseError) -> TerseError:
        return self._text.with_partial(error)

    def _take(self, reasoning: str, content: str) -> Events:
        """One choice delta's reasoning field and content, as the reader found them."""
        events: Events = []
        if reasoning:
            if self._answer_only:
                content = reasoning + content
            else:
                self._saw_reasoning_field = True
                self._text.keep_reasoning(reasoning)
                events.append(ReasoningDelta(reasoning))
                self._guard.count(reasoning)
        if content:
            prefill = self._prefill
            if prefill is not None:
                content = prefill.take(content)
                if prefill.done:
                    self._prefill = None
            if content:
                self._take_content(content, events)
        return events

    def _take_content(self, content: str, events: Events) -> None:
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
        guard = self._guard
        before_answer = not self._answer_started
        part = splitter.feed(content)
        if splitter.undecided:
            # Text with no think tag yet may be close-only reasoning (the template
            # pre-filled <think>): it counts toward the budget until it is resolved, and is
            # kept in case the budget cuts it.
            self._text.hold(content)
            guard.count_held(content)
            return
        if self._text.undecided:
            guard.resolved(self._text.release(), reasoning=splitter.format is not None)
        if part.reasoning:
            self._text.keep_reasoning(part.reasoning)
            events.append(ReasoningDelta(part.reasoning))
        if (
            before_answer
            and not self._answer_only
            and (splitter.format is not None or not part.answer)
            and not (part.answer and not part.reasoning and guard.counter.method == "chunks")
        ):
            # Still on the thinking side: count the raw chunk, delimiters included, as the
            # server counts them. A chunk that released nothing but whitespace (a think tag
            # forming) waits (`BudgetGuard.hold_tag`).
            if splitter.format is not None and not part.reasoning.strip() and not part.answer:
                guard.hold_tag(content)  # a tag forming, or whitespace beside one
            else:
                guard.think(content, reasoning=bool(part.reasoning))
        elif self._answer_only or self._answer_started or part.answer:
            guard.settle_tags(reasoning=False)
            guard.answer_chunks += 1  # whitespace-only pieces of the answer count too
        if part.answer:
            self._answer_started = True
            self._emit_answer(part.answer, events)

    def _emit_answer(self, text: str, events: Events, final: bool = False) -> None:
        if self._drop is not None:
            text = self._drop.feed(text, final)
            if not text:
                return
        if self._leak is not None:
            text = self._leak.feed(text)
            if not text:
                return
        self._text.keep_answer(text)
        events.append(AnswerDelta(text))

    def _cut_inside_opened_thinking(self) -> bool:
        """Undecided text cut by the token limit, from a server known to open thinking."""
        return (
            self._reader.finish == "length"
            and self._close_only_seen
            and not self._saw_reasoning_field
            and not self._answer_only
            and not self._disabled
            and not self._prefilled_request
        )

    def flush(self) -> Events:
        """Release text held back at the end of the stream (idempotent)."""
        if self._flushed:
            return []
        self._flushed = True
        guard, kept = self._guard, self._text
        guard.settle_tags(reasoning=False)  # the stream ended on a tag, or a cut
        events: Events = []
        if self._prefill is not None and self._prefill.holding:
            content = self._prefill.take("", final=True)
            self._prefill = None
            self._take_content(content, events)
        if (guard.cut or self._cut_inside_opened_thinking()) and kept.undecided:
            # Cut at the budget (or by the token limit, on a server seen writing close-only
            # output) while the text had no tag yet: it was thinking that the template
            # opened; treat it as reasoning (it is concluded or reported, never answered).
            held = kept.release()
            guard.absorb(held)
            text = "".join(held)
            self._splitter = None
            self._thinking_cut = not guard.cut
            kept.keep_reasoning(text, check=False)
            events.append(ReasoningDelta(text))
            return events
        if self._splitter is not None:
            part = self._splitter.finish()
            if part.reasoning:
                kept.keep_reasoning(part.reasoning, check=False)
                events.append(ReasoningDelta(part.reasoning))
                guard.count(part.reasoning)
            if part.answer:
                self._emit_answer(part.answer, events)
        if self._drop is not None:
            self._emit_answer("", events, final=True)
        if self._leak is not None:
            rest = self._leak.flush()
            if rest:
                kept.keep_answer(rest, check=False)
                events.append(AnswerDelta(rest))
        return events
