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

Tool calls (the pure core is `terse.tools`): the reader hands server-parsed calls to a
`terse.tools.NativeAccumulator` (stream deltas) or `normalize_tool_calls` (a whole
message); when the request offered ``tools``, the answer text also runs through a
`terse.tools.ToolCallStream`, which takes inline calls out of it (the draft-vs-real rule:
calls are read in the answer only; reasoning left unclosed by a well-formed call is
ended by it). Both stream as `ToolCallDelta` events; the validated calls go on
`Outcome.tool_calls` (and as `ToolCallPart`s), unusable ones make `ToolCallError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import NoAnswer, TerseError
from .._results import (
    AnswerDelta,
    Part,
    ReasoningDelta,
    ReasoningPart,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    Usage,
    call_parts,
    check_parts,
)
from .._server.dialects import Dialect, ModelFamily
from ..tools._calls import ParsedCalls, ToolCall, ToolCallError, ToolProblem
from ..tools._native import NativeAccumulator, normalize_tool_calls
from ..tools._parse import (
    CallDelta,
    CallStarted,
    TextDelta,
    ToolCallStream,
    parse_output,
    parse_tool_calls,
)
from ..tools._schema import ToolSpec
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

Events = list[ReasoningDelta | AnswerDelta | ToolCallDelta]

_H_STARTS = ("<|channel|>", "<|start|>", "to=", "<|constrain|>", "<|message|>")
"""How raw gpt-oss harmony starts (as `terse.tools.ToolCallStream` detects it)."""


@dataclass(frozen=True)
class Outcome:
    """Everything one response amounted to.

    ``error`` is None for a usable answer; otherwise the `TerseError` that explains why
    there is none. ``cut`` is True when terse stopped reading at the thinking budget.
    ``parts`` is the response as typed parts in the order they came; ``reasoning`` and
    ``text`` are those parts joined by kind. ``tool_calls`` are the validated calls
    (server-parsed first, then inline ones), also in ``parts`` as `ToolCallPart`s.
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
    tool_calls: tuple[ToolCall, ...] = ()

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
        tools: The tools the request offered (by name), or None: then only server-parsed
            calls are read, unvalidated, and the answer text is left as it is.
        seed: Mixed into the ids generated for calls that came without one (unique per
            request in a conversation, so ids in a history never repeat).
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
        tools: Mapping[str, ToolSpec] | None = None,
        seed: str = "",
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
        self._reader = reader = ChunkReader(
            self._take, self._with_partial, limits.line, self._take_calls, cut=lambda: self.cut
        )
        self._tools = tools
        self._seed = seed
        self._native: NativeAccumulator | None = None
        self._native_whole: list[Any] = []
        self._inline = (
            ToolCallStream(tools, seed=seed, _splitter=False) if tools is not None else None
        )
        self._calls: ParsedCalls | None = None  # the calls, once the response ended
        # Raw gpt-oss harmony in ``content`` (a server with no harmony parser) is read whole
        # by the tools core: kept while it may be harmony ([] undecided), dropped once not.
        self._harmony: list[str] | None = [] if tools is not None and not answer_only else None
        self._is_harmony = False
        self._trailing: ToolCall | None = None  # a call drafted last in closed reasoning
        self._inline_text: str | None = None  # the answer outside inline calls
        self._text = Accumulator(limits, reader.fail)
        self._answer_limit = limits.answer
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
            self._inline_text = None  # (calls in it are not read: thinking was off)
        usage = build_usage(
            reader.usage,
            dialect=self._dialect,
            counted_reasoning=guard.total,
            counted_answer=guard.answer_tokens(text, reader.whole),
            prompt_estimate=self._prompt_estimate,
            method=guard.counter.method,
        )
        got = self._calls
        tool_calls: tuple[ToolCall, ...] = ()
        if got is not None:
            tool_calls = got.calls
            if got.reasoning is not None:  # a call ended the open reasoning
                reasoning, closed = got.reasoning, True
            if self._inline_text is not None:
                text = self._inline_text
            if got.reasoning is not None or self._inline_text is not None or tool_calls:
                parts = [p for p in parts if type(p) is ReasoningPart]
                if got.reasoning is not None:
                    parts = [ReasoningPart(reasoning)] if reasoning else []
                if text:
                    parts.append(TextPart(text))
                parts.extend(ToolCallPart(c) for c in tool_calls)
        error = reader.error
        if error is None and not guard.cut and got is not None and got.problems:
            error = ToolCallError.from_problems(
                got.problems, text=text, reasoning=reasoning, finish_reason=reader.finish
            )
        elif error is None and not guard.cut and tool_calls:
            error = None  # calls are the answer, with or without text
        elif error is None and not guard.cut:
            untagged = (
                self._splitter is not None
                and self._splitter.format is None
                and not self._saw_reasoning_field
                and self._thinking_open is None
            )
            error = _classify(text, reasoning, closed, reader.finish, self._answer_only, untagged)
            draft = self._trailing
            if isinstance(error, NoAnswer) and draft is not None:
                error = NoAnswer(
                    f"{error}; its last reasoning drafted a call to {draft.name} "
                    f"({draft.raw_arguments[:200]}) that was not made after the reasoning "
                    "closed: a rehearsal, not executed",
                    text=text,
                    reasoning=reasoning,
                    finish_reason=reader.finish,
                )
        return Outcome(
            reasoning=reasoning,
            text=text,
            closed=closed,
            finish_reason="tool_calls" if tool_calls and error is None else reader.finish,
            usage=usage,
            reasoning_tokens=usage.reasoning_tokens,
            cut=guard.cut,
            error=error,
            dialect_hint=reader.hint,
            close_only=self._splitter is not None and self._splitter.close_only,
            parts=tuple(parts),
            tool_calls=tool_calls,
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
            if self._harmony is not None:
                self._watch_harmony(content)
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
        inline = self._inline
        if inline is None:
            events.append(AnswerDelta(text))
            return
        self._inline_events(inline.feed(text), events)

    def _inline_events(self, got: list[Any], events: Events) -> None:
        """The events of the inline-call reader: text outside calls, calls forming."""
        for e in got:
            if type(e) is TextDelta:
                events.append(AnswerDelta(e.text))
            elif type(e) is CallStarted:
                events.append(ToolCallDelta(self._index(e.index), None, e.name, ""))
            elif type(e) is CallDelta:
                events.append(ToolCallDelta(self._index(e.index), None, None, e.text))

    def _index(self, inline_index: int) -> int:
        """An inline call's index among all calls: after the server-parsed ones."""
        native = self._native
        return inline_index + (len(native) if native is not None else 0)

    def _watch_harmony(self, content: str) -> None:
        kept = self._harmony
        assert kept is not None
        kept.append(content)
        if self._is_harmony:
            return
        head = "".join(kept).lstrip()
        if head.startswith(_H_STARTS):
            self._is_harmony = True
        elif head and not any(s.startswith(head) for s in _H_STARTS):
            self._harmony = None  # not harmony: nothing more to keep

    def _take_calls(self, calls: list[Any], whole: bool) -> Events:
        """Server-parsed calls: a whole message's list, or one chunk's deltas."""
        if whole:
            self._native_whole.extend(calls)
            return []
        native = self._native
        if native is None:
            native = self._native = NativeAccumulator()
        events: Events = []
        kept = self._text
        for e in native.add(calls):
            if isinstance(e, CallStarted):
                cid = native.call_id(e.index)
                events.append(ToolCallDelta(e.index, cid, e.name, ""))
            else:
                kept.a_size += len(e.text)  # streamed arguments count toward Limits.answer
                events.append(ToolCallDelta(e.index, None, None, e.text))
        if kept.a_size > self._answer_limit:
            kept.too_large("answer")
        return events

    def _finish_calls(self, events: Events) -> None:
        """The response ended: read its calls (native, inline, ending open reasoning)."""
        finish = self._reader.finish
        calls: list[ToolCall] = []
        problems: list[ToolProblem] = []
        native: ParsedCalls | None = None
        if self._native is not None:
            native = self._native.finish(self._tools, finish_reason=finish, seed=self._seed)
        elif self._native_whole:
            native = normalize_tool_calls(
                self._native_whole, self._tools, finish_reason=finish, seed=self._seed
            )
        if native is not None:
            calls.extend(native.calls)
            problems.extend(native.problems)
        text: str | None = None
        reasoning: str | None = None
        inline = self._inline
        if self._is_harmony and self._harmony is not None and not self._guard.cut:
            assert inline is not None
            inline.finish(finish)
            got = parse_output(
                "".join(self._harmony), self._tools, finish_reason=finish, seed=self._seed
            )
            text, reasoning = got.text, got.reasoning or ""
            calls.extend(got.calls)
            problems.extend(got.problems)
            for i, c in enumerate(got.calls):
                events.append(ToolCallDelta(self._index(i), c.id, c.name, c.raw_arguments))
        elif inline is not None and not self._guard.cut:
            self._inline_events(inline.finish(finish), events)
            got = inline.result()
            text = got.text
            calls.extend(got.calls)
            problems.extend(got.problems)
            if not calls and not problems and not text and not self._closed():
                # The reasoning never closed: a well-formed call at its end closes it.
                kept = self._text.reasoning()
                ended = parse_tool_calls(
                    "",
                    self._tools,
                    reasoning=kept,
                    closed=False,
                    finish_reason=finish,
                    seed=self._seed,
                )
                if ended.calls or ended.problems:
                    reasoning = ended.reasoning or ""
                    calls.extend(ended.calls)
                    problems.extend(ended.problems)
                    for i, c in enumerate(ended.calls):
                        events.append(ToolCallDelta(self._index(i), c.id, c.name, c.raw_arguments))
            elif not calls and not problems and not text and self._text.reasoning().strip():
                # Closed reasoning and nothing after it: a call that ended it is a draft
                # (tools.md §2 case C), never executed; named in the NoAnswer.
                drafted = parse_tool_calls(
                    "", self._tools, reasoning=self._text.reasoning(), closed=True
                )
                self._trailing = drafted.trailing_draft
        self._calls = ParsedCalls(
            calls=tuple(calls),
            text=text if text is not None else "",
            reasoning=reasoning,
            errors=tuple(p for p in problems if p.kind != "truncated"),
            truncated=tuple(p for p in problems if p.kind == "truncated"),
        )
        self._inline_text = text

    def _closed(self) -> bool:
        if self._splitter is not None:
            return self._splitter.closed
        return not self._thinking_cut

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
            # (No calls are read from thinking cut at the budget: it is concluded.)
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
                if self._inline is not None:
                    self._inline_events(self._inline.feed(rest), events)
                else:
                    events.append(AnswerDelta(rest))
        if self._inline is not None or self._native is not None or self._native_whole:
            self._finish_calls(events)
        return events
