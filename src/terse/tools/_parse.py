"""Tool calls out of raw model text: the draft-vs-real rule, whole texts and streams.

The rule (``shared/reference/tools.md`` §2):

- Calls are read only in the answer region. A call drafted inside a *closed* reasoning
  block is a rehearsal: reported in `ParsedCalls.drafts`, never returned as a call.
- A well-formed call that begins inside an *unclosed* reasoning block (the template opened
  it in the prompt) ends the reasoning and is real, provided only calls and whitespace
  follow it. Anything else after it makes it a draft again.
- A call that is the last thing inside a closed reasoning block, with no call and no text
  after the reasoning, is `ParsedCalls.trailing_draft`: reported, not executed, and
  `ParsedCalls.promote` executes it on request.
- Markup in a markdown code fence, or in inline code, is data.

`ToolCallStream` is the engine; `parse_output` feeds it the whole text in one chunk, so a
stream chunked anywhere gives what the whole text gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._wire.split import Splitter
from ._bodies import Block, RawCall, load_json
from ._calls import ParsedCalls, ToolCall, ToolProblem, make_id
from ._formats import CallFormat
from ._scan import (
    ENDS_LINE,
    HOLD,
    LINE_START,
    MID_LINE,
    QUIET_ANYWHERE,
    QUIET_MID,
    CallScanner,
    Cut,
    Found,
    Item,
    Pending,
    Text,
    _table,
)
from ._schema import ToolLike, ToolSpec, tool_specs

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


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasoningText:
    """Reasoning text released by the stream (joined, it is `ParsedCalls.reasoning`)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """Answer text outside the calls (joined, it is `ParsedCalls.text`)."""

    text: str


@dataclass(frozen=True)
class CallStarted:
    """A call block began; ``index`` is the position its first call will take."""

    index: int
    name: str


@dataclass(frozen=True)
class CallDelta:
    """Raw markup of the call in progress, as it arrives (for a UI; not parsed yet)."""

    index: int
    text: str


@dataclass(frozen=True)
class CallDone:
    """A complete, validated call."""

    call: ToolCall


@dataclass(frozen=True)
class CallFailed:
    """A call that cannot be executed (unknown tool, invalid, malformed or truncated)."""

    problem: ToolProblem


InlineEvent = ReasoningText | TextDelta | CallStarted | CallDelta | CallDone | CallFailed


# --- helpers ----------------------------------------------------------------------------

# Events are immutable, and streams repeat the same strings: the plain-text events of the
# fast paths are shared, not allocated per chunk (bounded caches, cleared when full).
_RT: dict[str, ReasoningText] = {}
_TD: dict[str, TextDelta] = {}
_CD: dict[str, CallDelta] = {}
# Chunks seen to be plain reasoning mid-line (no opener or its prefix, no fence character,
# not ending a line): the event of the chunk without its trailing spaces (None if it is
# only spaces), and those spaces.
_R_FAST: dict[str, tuple[ReasoningText | None, str]] = {}
_R_TABLE = _table(False)  # the reasoning is scanned for drafts without tool names
_R_PLAIN = _R_TABLE.plain


def _cache(cache: dict[str, Any], key: str, value: Any) -> Any:
    if len(key) <= 64:
        if len(cache) >= 8192:
            cache.clear()
        cache[key] = value
    return value


class _Segments:
    """Text segments, each stripped, empty ones dropped, joined with a newline."""

    __slots__ = ("any", "in_seg", "ws")

    def __init__(self) -> None:
        self.any = False
        self.in_seg = False
        self.ws = ""

    def add(self, t: str) -> str:
        if not self.in_seg:
            t = t.lstrip()
            if not t:
                return ""
            self.in_seg = True
            prefix = "\n" if self.any else ""
            self.any = True
        else:
            prefix = ""
            t = self.ws + t
        kept = t.rstrip()
        self.ws = t[len(kept) :]
        return prefix + kept

    def boundary(self) -> None:
        self.in_seg = False
        self.ws = ""


def finalize_call(
    raw: RawCall, index: int, fmt: str, specs: Mapping[str, ToolSpec] | None, seed: str = ""
) -> ToolCall | ToolProblem:
    """Validate one written call against the tools: a `ToolCall` or a `ToolProblem`."""
    if raw.truncated:
        return ToolProblem("truncated", raw.name, raw.raw, "the call was cut before its end", index)
    if raw.problem:
        return ToolProblem("malformed", raw.name, raw.raw, raw.problem, index)
    spec = specs.get(raw.name) if specs else None
    if specs is not None and spec is None:
        known = ", ".join(sorted(specs)) or "(none)"
        return ToolProblem(
            "unknown_tool",
            raw.name,
            raw.raw,
            f"no tool is named {raw.name!r}; known: {known}",
            index,
        )
    args: dict[str, Any]
    if raw.texts is not None:
        args = spec.coerce_texts(raw.texts) if spec is not None else dict(raw.texts)
        if raw.args:
            args.update(raw.args)
    else:
        args = dict(raw.args or {})
    errors: tuple[str, ...] = ()
    if spec is not None:
        args, errors = spec.validate(args)
    raw_args = raw.raw
    if raw.texts is not None and not raw_args.startswith("{"):
        raw_args = raw.raw
    if errors:
        return ToolProblem(
            "invalid_arguments",
            raw.name,
            raw_args,
            "the arguments do not match the tool's schema",
            index,
            errors,
        )
    cid = raw.id or make_id(index, raw.name, raw_args, seed)
    return ToolCall(cid, raw.name, args, raw_args, raw.repairs, fmt)


# --- harmony (gpt-oss) ------------------------------------------------------------------

_H_STARTS = ("<|channel|>", "<|start|>", "to=", "<|constrain|>", "<|message|>")
_H_TERMS = re.compile(r"<\|(?:end|call|return)\|>")
_H_RECIPIENT = re.compile(r"to=([^\s<]+)")
_H_CHANNEL = re.compile(r"<\|channel\|>\s*(\w+)")


def _harmony_message(piece: str) -> tuple[str, str, str, bool] | None:
    """(kind, header-name, body, terminated) for one harmony message, or None (no body)."""
    mi = piece.find("<|message|>")
    if mi == -1:
        return None
    header, body = piece[:mi], piece[mi + len("<|message|>") :]
    t = _H_TERMS.search(body)
    terminated = t is not None
    if t is not None:
        body = body[: t.start()]
    rec = _H_RECIPIENT.search(header)
    ch = _H_CHANNEL.search(header)
    channel = ch.group(1) if ch else ""
    if rec is not None:
        return (
            ("call" if rec.group(1).startswith("functions.") else "builtin"),
            rec.group(1),
            body,
            terminated,
        )
    if channel == "analysis":
        return "reasoning", "", body, terminated
    return "text", "", body, terminated


# --- the engine ---------------------------------------------------------------------------


class ToolCallStream:
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
        if isinstance(tools, Mapping):
            self._specs: dict[str, ToolSpec] | None = dict(tools)
        else:
            self._specs = tool_specs(tools) if tools is not None else None
        names = frozenset(self._specs) if self._specs is not None else None
        self._length = finish_reason == "length"
        self._seed = seed
        self._splitter = Splitter(thinking_open=thinking_open) if _splitter else None
        self._thinking_open = thinking_open
        self._rscan = CallScanner(None, length=self._length)
        self._ascan = CallScanner(names, length=self._length)
        self._mode = "start" if _splitter else "plain"  # start | plain | harmony
        self._hbuf = ""
        self._has_reasoning = False
        self._reasoning_closed = False
        self._reasoning: list[str] = []
        self._rseg = _Segments()
        self._aseg = _Segments()
        self._text: list[str] = []
        self._tentative: list[Item] = []  # blocks (and whitespace) at the end of open reasoning
        self._drafts: list[ToolCall] = []
        self._trailing: ToolCall | None = None
        self._calls: list[ToolCall] = []
        self._errors: list[ToolProblem] = []
        self._truncated: list[ToolProblem] = []
        self._count = 0
        self._started_block = False
        self._done = False
        self._rfast = False  # the reasoning fast path of `feed` applies
        self._r1 = False  # ... and its hottest case (see `feed`)
        self._afast = False  # the answer fast path of `feed` applies

    # -- public ---------------------------------------------------------------------------

    def feed(self, chunk: str) -> list[InlineEvent]:
        """Take the next chunk of raw output; return the events it completes."""
        if self._r1:
            # The hottest path: mid-line in the reasoning, no opener or fence held, and a
            # chunk already seen to be plain (cached with its event, see _R_FAST).
            e = _R_FAST.get(chunk)
            if e is not None and self._splitter._fast not in chunk:  # type: ignore[union-attr]
                ev, tail = e
                seg = self._rseg
                ws = seg.ws
                if ev is None:  # only spaces: held
                    seg.ws = ws + tail
                    return []
                seg.ws = tail
                if ws:
                    r = ws + ev.text
                    ev = _RT.get(r) or _cache(_RT, r, ReasoningText(r))
                    self._reasoning.append(r)
                else:
                    self._reasoning.append(ev.text)
                return [ev]
        if not isinstance(chunk, str):
            raise TypeError(f"ToolCallStream.feed() takes str, not {type(chunk).__name__}")
        if self._rfast:
            # Inside the reasoning with nothing held anywhere: a chunk without the one
            # character that can start a closing delimiter (the splitter's own fast path,
            # where it returns the chunk as reasoning and changes nothing) and that can
            # start no draft is reasoning as it stands.
            f = self._splitter._fast  # type: ignore[union-attr]
            if f and f not in chunk:
                rscan = self._rscan
                t = rscan._buf + chunk if rscan._buf else chunk  # after a held partial opener
                q = _R_PLAIN.get(t)
                if q is None:
                    q = _R_TABLE.quietness(t)
                if q & HOLD:  # plain but for a possible opener at the end: hold that
                    k = q >> 4
                    rscan._buf = t[k:]
                    self._r1 = False
                    if not k:
                        return []
                    t = t[:k]
                    q = QUIET_MID | (q & ENDS_LINE)  # not a blank line: plain as it stands
                    before = LINE_START if q & ENDS_LINE else MID_LINE
                    rscan._before = before
                elif q & QUIET_ANYWHERE or (q and rscan._before != LINE_START):
                    before = LINE_START if q & ENDS_LINE else MID_LINE
                    rscan._before = before
                    rscan._buf = ""
                else:
                    q = 0
                if q:
                    seg = self._rseg
                    if seg.in_seg:  # _Segments.add, inline
                        w = seg.ws + t if seg.ws else t
                        r = w.rstrip()
                        seg.ws = w[len(r) :] if len(r) != len(w) else ""
                    else:
                        r = seg.add(t)
                    self._r1 = before == MID_LINE and seg.in_seg and not rscan._buf
                    if self._r1 and t is chunk and len(chunk) <= 64:
                        # Seen plain mid-line: cache it for the hottest path.
                        kept = chunk.rstrip()
                        if len(_R_FAST) >= 8192:
                            _R_FAST.clear()
                        _R_FAST[chunk] = (
                            _RT.get(kept) or _cache(_RT, kept, ReasoningText(kept))
                            if kept
                            else None,
                            chunk[len(kept) :],
                        )
                    if not r:
                        return []
                    self._reasoning.append(r)
                    ev = _RT.get(r)
                    if ev is None:
                        ev = _cache(_RT, r, ReasoningText(r))
                    return [ev]
        elif self._afast:
            # In the answer: the splitter cleans the text; a call block in progress
            # takes it as markup (read again only when that can change), and plain text
            # outside blocks is text.
            d = self._splitter.feed(chunk)  # type: ignore[union-attr]
            if not d.reasoning and (self._reasoning_closed or not self._splitter_format()):
                a = d.answer
                if not a:
                    return []
                ascan = self._ascan
                if ascan._pending:
                    delta = ascan.more(a)
                    if delta is not None:
                        if not delta:
                            return []
                        if self._started_block:
                            ev3 = _CD.get(delta)
                            if ev3 is None or ev3.index != self._count:
                                ev3 = _cache(_CD, delta, CallDelta(self._count, delta))
                            return [ev3]
                        out: list[InlineEvent] = []
                        self._answer_item(Pending(ascan._named, delta), out)
                        return out
                    out = []
                    for item in ascan.feed_read():
                        self._answer_item(item, out)
                    return out
                released = ascan.plain(a) if ascan.idle else None
                if released is not None:
                    if not released:
                        return []
                    kept = self._aseg.add(released)
                    if not kept:
                        return []
                    self._text.append(kept)
                    ev2 = _TD.get(kept)
                    if ev2 is None:
                        ev2 = _cache(_TD, kept, TextDelta(kept))
                    return [ev2]
                out = []
                self._answer(a, out, final=False)
                return out
            out = []
            self._split_delta(d.reasoning, d.answer, out)
            self._set_fast()
            return out
        out = []
        self._slow(chunk, out)
        self._set_fast()
        return out

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
        self._r1 = (
            self._rfast
            and not self._rscan._buf
            and self._rscan._before == MID_LINE
            and self._rseg.in_seg
        )
        self._afast = split and (self._reasoning_closed or not self._has_reasoning)

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
            if head.startswith(_H_STARTS):
                self._mode = "harmony"
                self._harmony(out, final=False)
                return
            if any(s.startswith(head) for s in _H_STARTS):
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
        self._rfast = self._r1 = self._afast = False
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

    # -- reasoning --------------------------------------------------------------------------

    def _split_delta(self, reasoning: str, answer: str, out: list[InlineEvent]) -> None:
        if reasoning:
            self._has_reasoning = True
            if self._reasoning_closed:
                self._emit_reasoning(reasoning, out)
            else:
                for item in self._rscan.feed(reasoning):
                    self._reasoning_item(item, out)
        if answer:
            if (self._has_reasoning or self._splitter_format()) and not self._reasoning_closed:
                self._has_reasoning = True
                self._close_reasoning(out)
            self._answer(answer, out, final=False)

    def _splitter_format(self) -> bool:
        return self._splitter is not None and self._splitter.format is not None

    def _emit_reasoning(self, t: str, out: list[InlineEvent]) -> None:
        r = self._rseg.add(t)
        if r:
            self._reasoning.append(r)
            out.append(ReasoningText(r))

    def _reasoning_item(self, item: Item, out: list[InlineEvent]) -> None:
        if isinstance(item, Text):
            if self._tentative and item.text.strip():
                self._flush_tentative(out)
            if self._tentative:
                self._tentative.append(item)
            else:
                self._emit_reasoning(item.text, out)
        elif isinstance(item, (Found, Cut)):
            self._tentative.append(item)

    def _flush_tentative(self, out: list[InlineEvent]) -> ToolCall | None:
        """Release held blocks as reasoning (they were drafts); return the last draft."""
        last: ToolCall | None = None
        for it in self._tentative:
            if isinstance(it, Text):
                self._emit_reasoning(it.text, out)
                continue
            if isinstance(it, Found):
                for raw in it.block.calls:
                    n = len(self._drafts)
                    got = finalize_call(raw, n, it.row.name, self._specs, self._seed)
                    last = got if isinstance(got, ToolCall) else None  # only valid ones promote
                    if not isinstance(got, ToolCall):
                        got = finalize_call(raw, n, it.row.name, None, self._seed)
                    if isinstance(got, ToolCall):
                        self._drafts.append(got)
            if isinstance(it, (Found, Cut)):
                self._emit_reasoning(it.markup, out)
        self._tentative = []
        return last

    def _close_reasoning(self, out: list[InlineEvent]) -> None:
        """The reasoning closed: blocks in it were drafts."""
        for item in self._rscan.finish():
            if isinstance(item, Cut):
                item = Text(item.markup)
            self._reasoning_item(item, out)
        terminal = next(
            (
                it
                for it in reversed(self._tentative)
                if not (isinstance(it, Text) and not it.text.strip())
            ),
            None,
        )
        last = self._flush_tentative(out)
        if isinstance(terminal, Found) and last is not None:
            self._trailing = last
        self._reasoning_closed = True
        self._rseg.boundary()

    def _end_open_reasoning(self, out: list[InlineEvent]) -> None:
        """The output ended inside the reasoning: trailing blocks there are real calls."""
        for item in self._rscan.finish():
            self._reasoning_item(item, out)
        for it in self._tentative:
            if isinstance(it, (Found, Cut)):
                self._answer_item(it, out)
        self._tentative = []

    # -- answer -----------------------------------------------------------------------------

    def _answer(self, t: str, out: list[InlineEvent], final: bool) -> None:
        items = self._ascan.finish() if final else self._ascan.feed(t)
        for item in items:
            self._answer_item(item, out)

    def _answer_item(self, item: Item, out: list[InlineEvent]) -> None:
        if isinstance(item, Text):
            r = self._aseg.add(item.text)
            if r:
                self._text.append(r)
                out.append(TextDelta(r))
            return
        self._aseg.boundary()
        if isinstance(item, Pending):
            if not self._started_block:
                self._started_block = True
                out.append(CallStarted(self._count, item.name))
            out.append(CallDelta(self._count, item.delta))
            return
        if isinstance(item, Cut):
            if not self._started_block:
                out.append(CallStarted(self._count, item.name))
            self._started_block = False
            p = ToolProblem(
                "truncated", item.name, item.markup, "the call was cut before its end", self._count
            )
            self._count += 1
            self._truncated.append(p)
            out.append(CallFailed(p))
            return
        assert isinstance(item, Found)
        self._found(item.block, item.row, out)

    def _found(self, block: Block, row: CallFormat, out: list[InlineEvent]) -> None:
        if not self._started_block and block.calls:
            out.append(CallStarted(self._count, block.calls[0].name))
        self._started_block = False
        for raw in block.calls:
            got = finalize_call(raw, self._count, row.name, self._specs, self._seed)
            self._count += 1
            if isinstance(got, ToolCall):
                self._calls.append(got)
                out.append(CallDone(got))
            else:
                (self._truncated if got.kind == "truncated" else self._errors).append(got)
                out.append(CallFailed(got))

    # -- harmony ------------------------------------------------------------------------------

    def _harmony(self, out: list[InlineEvent], final: bool) -> None:
        buf = self._hbuf
        pos = 0
        while pos < len(buf):
            t = _H_TERMS.search(buf, pos)
            nxt = buf.find("<|start|>", pos + 1)
            if t is not None and (nxt == -1 or t.end() <= nxt):
                end = t.end()
            elif nxt != -1:
                end = nxt
            elif final:
                end = len(buf)
            else:
                break
            self._harmony_piece(buf[pos:end], out)
            pos = end
        self._hbuf = buf[pos:]

    def _harmony_piece(self, piece: str, out: list[InlineEvent]) -> None:
        msg = _harmony_message(piece)
        if msg is None:
            return
        kind, recipient, body, terminated = msg
        if kind != "reasoning":
            self._reasoning_closed = True
        if kind == "reasoning":
            self._has_reasoning = True
            self._rseg.boundary()
            self._emit_reasoning(body, out)
        elif kind == "text":
            self._aseg.boundary()
            r = self._aseg.add(body)
            if r:
                self._text.append(r)
                out.append(TextDelta(r))
        elif kind == "call":
            name = recipient[len("functions.") :]
            self._aseg.boundary()
            stripped = body.strip()
            got = load_json(stripped) if stripped else ({}, ())
            raw = RawCall(name, stripped)
            if got is None or not isinstance(got[0], dict):
                cut = not terminated and (self._length or stripped.startswith(("{", "[")))
                if cut:
                    raw.truncated = True
                else:
                    raw.problem = "the arguments are not a JSON object"
            else:
                raw.args, raw.repairs = got[0], got[1]
            harmony_row = _HARMONY
            self._found(Block(0, [raw]), harmony_row, out)


_HARMONY = CallFormat("gpt_oss_harmony", (), "json")


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


def _json_dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)
