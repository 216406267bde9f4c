"""Tool calls out of raw model text: the draft-vs-real rule over a stream's state.

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

`StreamRules` holds a stream's state and applies these rules to what the splitter and the
two scanners release; `terse.tools._parse.ToolCallStream` (the public engine) adds the
chunk intake and its fast paths. gpt-oss harmony is read message by message here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._wire.split import Splitter
from ._bodies import Block, RawCall, load_json
from ._calls import ToolCall, ToolProblem, make_id
from ._events import (
    CallDelta,
    CallDone,
    CallFailed,
    CallStarted,
    InlineEvent,
    ReasoningText,
    TextDelta,
)
from ._formats import CallFormat
from ._scan import CallScanner, Cut, Found, Item, Pending, Text
from ._schema import ToolLike, ToolSpec, tool_specs

__all__ = ["H_STARTS", "StreamRules", "finalize_call"]


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

H_STARTS = ("<|channel|>", "<|start|>", "to=", "<|constrain|>", "<|message|>")
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


# --- the rules over a stream ------------------------------------------------------------


class StreamRules:
    """The state of one output and the draft-vs-real rule over it (see the module)."""

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

    # -- public ---------------------------------------------------------------------------

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
