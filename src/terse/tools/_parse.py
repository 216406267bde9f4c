"""Tool calls out of raw model text: the stream engine and the whole-text entry points.

`ToolCallStream` takes raw output chunk by chunk, runs `terse.Splitter` on it, scans the
reasoning for drafts and the answer for calls (`terse.tools._scan`), and applies the
draft-vs-real rule (`terse.tools._rule`). `parse_output` feeds it the whole text in one
chunk, so a stream chunked anywhere gives what the whole text gives.

Cost: `feed` has fast paths for the chunks that make up most of a stream, and they share
the splitter's own instead of running behind it: plain reasoning passes the splitter
untouched (`reasoning_passthrough`) and, once seen in the same state, is one dict lookup
(`Hot`); mid-line answer text passes it after one set test (`answer_passthrough`,
`take_answer`), then is plain text or the markup of a call in progress. Everything else
goes through the general path, and the fast paths return, chunk for chunk, the events it
would (``tests/tools/test_fast_paths.py``). ``benchmarks/bench_toolcalls.py`` measures
it against plain-text streaming.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._wire.splitter import answer_passthrough, reasoning_passthrough, take_answer
from ._calls import ParsedCalls
from ._events import (
    CallDelta,
    CallDone,
    CallFailed,
    CallStarted,
    InlineEvent,
    ReasoningText,
    TextDelta,
)
from ._hot import CD, NO_EVENT, OFF, R_PLAIN, R_TABLE, RT, TD, cache, remember, state_for
from ._openers import ENDS_LINE, HOLD, LINE_START, MID_LINE, QUIET_ANYWHERE, QUIET_MID
from ._rule import H_STARTS, StreamRules, finalize_call
from ._scan import Pending
from ._schema import ToolLike, ToolSpec

__all__ = [
    "CallDelta",
    "CallDone",
    "CallFailed",
    "CallStarted",
    "InlineEvent",
    "ReasoningText",
    "TextDelta",
    "ToolCallStream",
    "finalize_call",
    "parse_output",
    "parse_tool_calls",
]

# --- the engine ---------------------------------------------------------------------------


class ToolCallStream(StreamRules):
    """Reasoning, answer text and tool calls from raw model text, chunk by chunk.

    Args:
        tools: The tools offered (dicts, functions, pydantic models); calls are validated
            against them. ``None`` reads delimited calls without validating them.
        thinking_open: As for `terse.Splitter`: ``True`` when the chat template opened the
            reasoning in the prompt.
        finish_reason: ``"length"`` when the output was cut by the token limit: a call the
            text ends inside is then truncated, never repaired. May also be set later with
            `finish`.
        seed: Mixed into generated call ids (use a per-response value).

    Feed it chunks; each `feed` returns events (`ReasoningText`, `TextDelta`,
    `CallStarted`, `CallDelta`, `CallDone`, `CallFailed`); `finish` returns the rest, and
    `result` the `ParsedCalls`.
    """

    def __init__(
        self,
        tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
        *,
        thinking_open: bool | None = None,
        finish_reason: str | None = None,
        seed: str = "",
        _splitter: bool = True,
    ) -> None:
        super().__init__(
            tools,
            thinking_open=thinking_open,
            finish_reason=finish_reason,
            seed=seed,
            _splitter=_splitter,
        )
        self._rfast = False  # the reasoning fast path of `feed` applies
        # The hottest path's state (see `Hot`); while it is not `OFF` it, not
        # ``self._rseg.ws`` and ``self._rscan._buf``, holds the whitespace kept back at
        # the end of the reasoning and the partial opener the draft scanner holds.
        self._hot = OFF
        self._afast = False  # the answer fast path of `feed` applies
        # ... and what a chunk must lack to skip the splitter there (`answer_passthrough`)
        self._aquiet: frozenset[str] | None = None

    def feed(self, chunk: str) -> list[InlineEvent]:
        """Take the next chunk of raw output; return the events it completes."""
        try:
            e = self._hot.get(chunk)
        except TypeError:  # unhashable: not a str, worded below
            e = None
        if e is not None:
            # The hottest path: mid-line in the reasoning, a chunk seen plain (`Hot`).
            ev, r, self._hot = e
            if r:
                self._reasoning.append(r)
                return [ev]
            return []
        if not isinstance(chunk, str):
            raise TypeError(f"ToolCallStream.feed() takes str, not {type(chunk).__name__}")
        hot = self._hot
        if hot is not OFF:
            self._leave_hot()
        if self._rfast:
            # Inside the reasoning with nothing held anywhere: a chunk without the one
            # character that can start a closing delimiter (the splitter passes it through
            # as reasoning, changing nothing) and that can start no draft is reasoning as
            # it stands.
            f = reasoning_passthrough(self._splitter)  # type: ignore[arg-type]
            if f and f not in chunk:
                rscan = self._rscan
                t = rscan._buf + chunk if rscan._buf else chunk  # after a held partial opener
                q = R_PLAIN.get(t)
                if q is None:
                    q = R_TABLE.quietness(t)
                if q & HOLD:  # plain but for a possible opener at the end: hold that
                    k = q >> 4
                    rscan._buf = t[k:]
                    t = t[:k]
                    if k:
                        q = QUIET_MID | (q & ENDS_LINE)  # not a blank line: plain as it stands
                        rscan._before = LINE_START if q & ENDS_LINE else MID_LINE
                elif q & QUIET_ANYWHERE or (q and rscan._before != LINE_START):
                    rscan._before = LINE_START if q & ENDS_LINE else MID_LINE
                    rscan._buf = ""
                else:
                    q = 0
                if q:
                    seg = self._rseg
                    r = ""
                    if not t:
                        pass
                    elif seg.in_seg:  # _Segments.add, inline
                        w = seg.ws + t if seg.ws else t
                        r = w.rstrip()
                        seg.ws = w[len(r) :] if len(r) != len(w) else ""
                    else:
                        r = seg.add(t)
                    rev: ReasoningText | None = None
                    if r:
                        rev = RT.get(r)
                        if rev is None:
                            rev = cache(RT, r, ReasoningText(r))
                    if rscan._before == MID_LINE and seg.in_seg:
                        nxt = state_for(f, seg.ws, rscan._buf)
                        if nxt is not OFF:
                            if hot is not OFF and len(chunk) <= 64:
                                # Seen plain mid-line from a hot state: remember it.
                                remember(hot, chunk, (rev or NO_EVENT, r, nxt))
                            self._hot = nxt
                    if rev is None:
                        return []
                    self._reasoning.append(r)
                    return [rev]
        elif self._afast:
            # In the answer: the splitter cleans the text; a call block in progress
            # takes it as markup (read again only when that can change), and plain text
            # outside blocks is text.
            out: list[InlineEvent]
            spl = self._splitter
            quiet = self._aquiet
            if quiet is not None and quiet.isdisjoint(chunk):
                # Mid-line answer text with nothing the splitter acts on: its fast path.
                a = take_answer(spl, chunk)  # type: ignore[arg-type]
            else:
                d = spl.feed(chunk)  # type: ignore[union-attr]
                if d.reasoning or not (self._reasoning_closed or not self._splitter_format()):
                    out = []
                    self._split_delta(d.reasoning, d.answer, out)
                    self._set_fast()
                    return out
                a = d.answer
                self._aquiet = answer_passthrough(spl)  # type: ignore[arg-type]
            if not a:
                return []
            ascan = self._ascan
            if ascan._pending:
                delta = ascan.more(a)
                if delta is not None:
                    if not delta:
                        return []
                    if self._started_block:
                        ev3 = CD.get(delta)
                        if ev3 is None or ev3.index != self._count:
                            ev3 = cache(CD, delta, CallDelta(self._count, delta))
                        return [ev3]
                    out = []
                    self._answer_item(Pending(ascan._named, delta), out)
                    return out
                out = []
                for item in ascan.feed_read():
                    self._answer_item(item, out)
                return out
            if not (ascan._pending or ascan._fence or ascan._fresh):
                # Outside blocks and fences: `CallScanner.plain` and `_Segments.add`, inline.
                t = ascan._buf + a if ascan._buf else a  # after a held partial opener
                tab = ascan._table
                q = tab.plain.get(t)
                if q is None:
                    q = tab.quietness(t)
                if q & HOLD:  # plain but for a possible opener at the end: hold that
                    k = q >> 4
                    ascan._buf = t[k:]
                    if not k:
                        return []
                    ascan._before = LINE_START if q & ENDS_LINE else MID_LINE
                    t = t[:k]
                elif q & QUIET_ANYWHERE or (q and ascan._before != LINE_START):
                    ascan._before = LINE_START if q & ENDS_LINE else MID_LINE
                    ascan._buf = ""
                else:
                    q = 0
                if q:
                    seg = self._aseg
                    if seg.in_seg:
                        w = seg.ws + t if seg.ws else t
                        kept = w.rstrip()
                        seg.ws = w[len(kept) :] if len(kept) != len(w) else ""
                    else:
                        kept = seg.add(t)
                    if not kept:
                        return []
                    self._text.append(kept)
                    ev2 = TD.get(kept)
                    if ev2 is None:
                        ev2 = cache(TD, kept, TextDelta(kept))
                    return [ev2]
            out = []
            self._answer(a, out, final=False)
            return out
        out = []
        self._slow(chunk, out)
        self._set_fast()
        return out

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles take the state out of the shared hot path first.
        if self._hot is not OFF:
            self._leave_hot()
        return self.__dict__

    def _leave_hot(self) -> None:
        """Leave the hottest path: what its state holds back goes back where it belongs."""
        hot = self._hot
        self._rseg.ws = hot.ws
        self._rscan._buf = hot.held
        self._hot = OFF

    def _set_fast(self) -> None:
        """Which fast path of `feed` applies now."""
        split = self._mode == "split" and self._splitter is not None
        self._rfast = (
            split
            and self._has_reasoning
            and not self._reasoning_closed
            and not self._tentative
            and self._rscan.idle
        )
        self._hot = OFF
        if self._rfast and self._rscan._before == MID_LINE and self._rseg.in_seg:
            f = reasoning_passthrough(self._splitter)  # type: ignore[arg-type]
            if f:
                self._hot = state_for(f, self._rseg.ws, self._rscan._buf)
        self._afast = split and (self._reasoning_closed or not self._has_reasoning)
        self._aquiet = None

    def _slow(self, chunk: str, out: list[InlineEvent]) -> None:
        if self._mode == "harmony":
            self._hbuf += chunk
            self._harmony(out, final=False)
            return
        if self._mode == "start":
            self._hbuf += chunk
            head = self._hbuf.lstrip()
            if not head:
                return
            if head.startswith(H_STARTS):
                self._mode = "harmony"
                self._harmony(out, final=False)
                return
            if any(s.startswith(head) for s in H_STARTS):
                return
            self._mode = "split"
            chunk, self._hbuf = self._hbuf, ""
        if self._splitter is not None:
            d = self._splitter.feed(chunk)
            self._split_delta(d.reasoning, d.answer, out)
        else:
            self._answer(chunk, out, final=False)

    def finish(self, finish_reason: str | None = None) -> list[InlineEvent]:
        """Signal the end of the output; return the remaining events."""
        if self._done:
            raise RuntimeError("ToolCallStream.finish() called twice")
        self._done = True
        self._rfast = self._afast = False
        if self._hot is not OFF:
            self._leave_hot()
        if finish_reason == "length" and not self._length:
            self._length = True
            self._rscan._length = True
            self._ascan._length = True
        out: list[InlineEvent] = []
        if self._mode == "start":
            if self._hbuf.strip():
                self._mode = "split"
                chunk, self._hbuf = self._hbuf, ""
                if self._splitter is not None:
                    d = self._splitter.feed(chunk)
                    self._split_delta(d.reasoning, d.answer, out)
            else:
                self._mode = "split"
        if self._mode == "harmony":
            self._harmony(out, final=True)
            return out
        if self._splitter is not None:
            d = self._splitter.finish()
            self._split_delta(d.reasoning, d.answer, out)
            if self._splitter.format is not None or self._thinking_open:
                self._has_reasoning = True
            if self._has_reasoning and not self._reasoning_closed:
                if self._splitter.closed:
                    self._close_reasoning(out)
                else:
                    self._end_open_reasoning(out)
        self._answer("", out, final=True)
        return out

    def result(self) -> ParsedCalls:
        """The parsed output (after `finish`)."""
        if not self._done:
            raise RuntimeError("ToolCallStream.result() needs finish() first")
        trailing = self._trailing
        if trailing is not None and (
            self._calls or self._errors or self._truncated or "".join(self._text)
        ):
            trailing = None
        if self._length:
            trailing = None
        return ParsedCalls(
            calls=tuple(self._calls),
            text="".join(self._text),
            reasoning="".join(self._reasoning) if self._has_reasoning else None,
            drafts=tuple(self._drafts),
            trailing_draft=trailing,
            truncated=tuple(self._truncated),
            errors=tuple(self._errors),
            closed=self._reasoning_closed
            or not self._has_reasoning
            or bool(self._calls or self._truncated),
        )


# --- entry points ---------------------------------------------------------------------------


def parse_output(
    raw: str,
    tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
    *,
    thinking_open: bool | None = None,
    finish_reason: str | None = None,
    seed: str = "",
) -> ParsedCalls:
    """Reasoning, answer text and tool calls of one raw model output (format detected).

    Example:
        >>> tools = [{"type": "function", "function": {"name": "get_weather",
        ...     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
        >>> p = parse_output('<think>Paris.</think>Checking.<tool_call>'
        ...     '{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>', tools)
        >>> p.reasoning, p.text, p.calls[0].name, p.calls[0].arguments
        ('Paris.', 'Checking.', 'get_weather', {'city': 'Paris'})
    """
    s = ToolCallStream(tools, thinking_open=thinking_open, finish_reason=finish_reason, seed=seed)
    s.feed(raw)
    s.finish()
    return s.result()


def parse_tool_calls(
    answer_text: str,
    tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
    *,
    reasoning: str | None = None,
    closed: bool = True,
    finish_reason: str | None = None,
    seed: str = "",
) -> ParsedCalls:
    """Tool calls in an answer already split from its reasoning (by `terse.split`, or a server).

    ``reasoning`` is searched only for drafts (``closed=True``) or, when the reasoning never
    closed (``closed=False``), for calls that end it.
    """
    s = ToolCallStream(tools, finish_reason=finish_reason, seed=seed, _splitter=False)
    out: list[InlineEvent] = []
    if reasoning is not None:
        s._has_reasoning = True
        for item in s._rscan.feed(reasoning):
            s._reasoning_item(item, out)
        if closed:
            s._close_reasoning(out)
    s._done = True
    if reasoning is not None and not closed:
        s._end_open_reasoning(out)
    s._answer(answer_text, out, final=False)
    s._answer("", out, final=True)
    return s.result()
