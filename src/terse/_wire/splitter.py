"""The incremental reasoning/answer splitter: one engine for streams and whole texts.

A `Splitter` applies the rules of `terse._wire.split` (see its docstring) to chunks as
they arrive and releases reasoning and answer text as soon as it is decided; `split` runs
it over a whole text in one call. It is a small state machine (the states below) over the
delimiter tables of `terse._wire.scan`; the answer side cleans leaked tags and end tokens
(rule 5) as the text passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .._exceptions import UsageError, WrongType
from .formats import ThinkFormat, resolve_formats
from .scan import (
    _any_in,
    _earliest,
    _end_run,
    _fence_after,
    _tables,
    _tail_candidate,
)

__all__ = ["Delta", "Splitter", "answer_passthrough", "reasoning_passthrough", "take_answer"]


class Delta(NamedTuple):
    """Text newly released by one `Splitter.feed` or `Splitter.finish` call."""

    reasoning: str
    answer: str


_EMPTY = Delta("", "")
_new_delta = tuple.__new__

# Streams repeat the same token strings over and over; deltas are immutable, so the
# reasoning-only ones are shared rather than allocated per chunk (bounded, like an LRU).
_REASONING: dict[str, Delta] = {}
_REASONING_MAX = 8192
_cached_reasoning = _REASONING.get


def _reasoning_delta(chunk: str) -> Delta:
    if type(chunk) is not str:
        if not isinstance(chunk, str):
            raise TypeError("not a str")  # Splitter.feed() words the message
        chunk = str(chunk)
    delta: Delta = _new_delta(Delta, (chunk, ""))
    if len(chunk) <= 64:
        if len(_REASONING) >= _REASONING_MAX:
            _REASONING.clear()
        _REASONING[chunk] = delta
    return delta


def reasoning_passthrough(s: Splitter) -> str:
    """Internal hook for `terse.tools.ToolCallStream`: the character a chunk must lack to
    pass the splitter untouched, or "" when no chunk does.

    It is set inside the reasoning with nothing held back, where it is the one character
    that can start a closing delimiter. While it is set, `Splitter.feed` releases a chunk
    without it whole as reasoning and changes nothing, so a caller that knows the chunk
    lacks it may take the chunk as reasoning without feeding it; the character changes
    only when the splitter is fed.
    """
    return s._fast


def answer_passthrough(s: Splitter) -> frozenset[str] | None:
    """Internal hook for `terse.tools.ToolCallStream`: the characters a chunk must lack to
    pass the answer side of the splitter as it stands, or None when no chunk does.

    It is set in the answer, mid-line, past its start, with nothing held back but spaces
    or tabs: there `Splitter.feed` takes a chunk without these characters (no newline, no
    character that can start a tag or end token) on its answer fast path, which
    `take_answer` does without the `Delta`. Taking such a chunk leaves it set.
    """
    if s._state == _ANSWER and s._began and not s._bol:
        quiet = s._tables.quiet
        if quiet.isdisjoint(s._ws):
            return quiet
    return None


def take_answer(s: Splitter, chunk: str) -> str:
    """Internal hook: ``s.feed(chunk).answer`` for a chunk that lacks every character
    `answer_passthrough` gave (the same work and state change as `Splitter.feed`'s answer
    fast path, kept in step with it)."""
    ws = s._ws
    buf = ws + chunk if ws else chunk
    if buf[-1:].isspace():
        kept = buf.rstrip()
        s._ws = buf[len(kept) :]
        buf = kept
    elif ws:
        s._ws = ""
    if len(s._head) < 64:  # a fence is recognised from its line's start
        s._head = (s._head + buf)[:64]
    return buf


# Splitter states.
_PRE = 0  # nothing decided yet: skipping leading whitespace, looking for an opening delimiter
_OPENED = 1  # an opening tag was consumed; the next character decides stray-or-thinking
_STRAY = 2  # "<think> text" on one line so far: thinking, or a stray tag before the answer
_UNDECIDED = 3  # no opening delimiter at the start: close-only reasoning, or plain answer
_THINK = 4  # inside reasoning, looking for a closing delimiter
_GAP = 5  # reasoning closed; skipping whitespace before the answer
_ANSWER = 6  # inside the answer: everything passes through
_DONE = 7


class Splitter:
    """Incremental reasoning/answer splitter for streams.

    Feed it chunks as they arrive; each call returns a `Delta` with the reasoning and
    answer text it can release so far. Joining every delta of any chunking of a text
    gives exactly ``split(text)``.

    Args:
        thinking_open: ``True`` when the caller knows the chat template pre-filled the
            opening tag (the output starts inside the reasoning); ``False`` when it knows
            it did not (text without an opening tag is answer at once); ``None`` (the
            default) detects, holding text that might be close-only reasoning.
        formats: Think formats to recognise, by name or `ThinkFormat` (default: all).

    Example:
        >>> s = Splitter()
        >>> parts = [s.feed(c) for c in ["<thi", "nk>hmm</th", "ink>\\n\\nParis"]]
        >>> parts.append(s.finish())
        >>> "".join(p.reasoning for p in parts), "".join(p.answer for p in parts)
        ('hmm', 'Paris')
    """

    __slots__ = (
        "_began",
        "_bol",
        "_buf",
        "_close_only",
        "_closed",
        "_fast",
        "_fence",
        "_format",
        "_head",
        "_held",
        "_scan",
        "_state",
        "_tables",
        "_tail",
        "_thinking_open",
        "_ws",
    )

    def __init__(
        self,
        *,
        thinking_open: bool | None = None,
        formats: Iterable[str | ThinkFormat] | None = None,
    ) -> None:
        if thinking_open not in (None, True, False):
            raise UsageError("thinking_open must be True, False or None")
        tables = _tables(resolve_formats(formats))
        self._thinking_open = thinking_open
        self._tables = tables
        self._scan = tables.all_closes
        self._held: list[str] = []
        self._tail = ""
        self._buf = ""
        self._ws = ""  # answer text held back: trailing whitespace, a possible end token
        self._began = False  # the answer has begun (past any tag it opens with)
        self._bol = True  # the held answer text starts at the beginning of a line
        self._fence = ""  # the open code fence in the answer (``` or ~~~), if any
        self._head = ""  # the start of the current answer line, to recognise fences
        self._format: ThinkFormat | None = None
        self._closed = True
        self._close_only = False
        self._state = _PRE
        # The one character that can start a closing delimiter, while inside the reasoning
        # with nothing held back; "" (found in every string) turns the fast path off.
        self._fast = ""

    @property
    def format(self) -> str | None:
        """Name of the think format detected so far, or None."""
        return self._format.name if self._format is not None else None

    def feed(self, chunk: str) -> Delta:
        """Take the next chunk of output; return the reasoning and answer it releases."""
        try:
            if self._fast not in chunk:
                # Inside the reasoning, nothing held back, and no delimiter can start here.
                return _cached_reasoning(chunk) or _reasoning_delta(chunk)
        except TypeError:
            raise WrongType(f"Splitter.feed() takes str, not {type(chunk).__name__}") from None
        if not isinstance(chunk, str):
            raise WrongType(f"Splitter.feed() takes str, not {type(chunk).__name__}")
        if self._state == _ANSWER:
            buf = self._ws + chunk if self._ws else chunk
            if self._bol or "\n" in buf or not self._began or _any_in(self._tables.firsts, buf):
                chunk = self._answer_text(chunk, final=False)
            else:  # mid-line, nothing that could start a tag: only trailing space is held
                self._ws = ""
                chunk = buf
                if chunk[-1:].isspace():
                    kept = chunk.rstrip()
                    self._ws = chunk[len(kept) :]
                    chunk = kept
                if len(self._head) < 64:  # a fence is recognised from its line's start
                    self._head = (self._head + chunk)[:64]
            return _new_delta(Delta, ("", chunk)) if chunk else _EMPTY
        if self._state == _DONE:
            raise UsageError("Splitter.feed() called after finish()")
        delta = self._run(chunk, final=False)
        scan = self._scan
        if self._state == _THINK and not self._buf and len(scan.firsts) == 1:
            self._fast = scan.firsts
        return delta

    def finish(self) -> Delta:
        """Signal the end of the output; return whatever was still held back."""
        if self._state == _DONE:
            raise UsageError("Splitter.finish() called twice")
        delta = self._run("", final=True)
        self._state = _DONE
        return delta

    @property
    def undecided(self) -> bool:
        """Whether text is being held because it is not yet known to be reasoning or answer."""
        return self._state in (_PRE, _UNDECIDED, _STRAY)

    @property
    def pending(self) -> int:
        """How many characters are held back, not yet released (partial delimiters, whitespace)."""
        return len(self._buf) + len(self._ws) + sum(map(len, self._held))

    @property
    def close_only(self) -> bool:
        """Whether reasoning was found without an opening delimiter before it.

        True when a closing delimiter ended text that did not start with an opening one
        (the chat template pre-filled it): the server writes close-only output.
        """
        return self._close_only

    @property
    def closed(self) -> bool:
        """After `finish`: False when the output ended inside the reasoning."""
        return self._closed

    def _run(self, text: str, final: bool) -> Delta:
        self._fast = ""
        reasoning: list[str] = []
        answer: list[str] = []
        while True:
            state = self._state
            if state == _ANSWER:
                answer.append(self._answer_text(text, final))
                break
            buf = self._buf + text if self._buf else text
            self._buf = ""
            text = ""
            if state == _PRE:
                buf = buf.lstrip()
                if not self._pre(buf, final):
                    break
                text = self._buf
                self._buf = ""
            elif state == _OPENED:
                if not buf:
                    if final:
                        self._closed = False
                    break
                if buf[0] in " \t" and self._format is not None and self._format.stray_open:
                    self._state = _STRAY
                else:
                    self._state = _THINK
                text = buf
            elif state in (_STRAY, _UNDECIDED):
                done, text = self._held_step(buf, final, reasoning)
                if not done:
                    break
            elif state == _THINK:
                done, text = self._think_step(buf, final, reasoning)
                if not done:
                    break
            elif state == _GAP:
                buf = buf.lstrip()
                if not buf:
                    break
                self._state = _ANSWER
                text = buf
            else:  # pragma: no cover - _DONE is rejected before _run
                break
        return _new_delta(Delta, ("".join(reasoning), "".join(answer)))

    # -- the answer -------------------------------------------------------------------------

    def _answer_text(self, text: str, final: bool) -> str:
        """Release answer text, cleaned of think tags and end tokens the model leaked.

        The rules (module docstring, rule 5): a think tag where the answer starts is
        dropped with the whitespace after it; a think tag alone on a line outside a code
        fence is dropped with its line; think tags and message terminators (harmony's
        ``<|return|>``, ``<|end|>``, ``<|call|>``) where the answer ends are dropped, as is
        trailing whitespace. Anything else — a tag inside a line, in a fence, in JSON — stays.
        """
        t = self._tables
        buf = self._ws + text if self._ws else text
        self._ws = ""
        if not self._began:
            while True:
                head = buf.lstrip()
                tag = next((g for g in t.tags if head.startswith(g)), None)
                if tag is None:
                    break
                buf = head[len(tag) :]
            if not final and (not head or any(g.startswith(head) for g in t.tags)):
                self._ws = head  # could still become a tag: wait
                return ""
            buf = head
            self._began = True
        cut = _end_run(buf, t, partial=not final)
        if not final:
            self._ws = buf[cut:]
        return self._lines(buf[:cut])

    def _lines(self, body: str) -> str:
        """Pass answer text through, dropping think tags alone on a line or ending a line,
        outside fences.

        Only lines that start with a fence or a tag's first character, and tags followed by
        the end of their line, are looked at.
        """
        if not body:
            return body
        pos = 0
        if not self._bol:  # the first line continues one already released
            nl = body.find("\n")
            if nl == -1:
                if len(self._head) < 64:
                    self._head = (self._head + body)[:64]
                return body
            self._fence = _fence_after(self._fence, self._head + body[: min(nl + 1, 64)])
            pos = nl + 1
        t = self._tables
        out: list[str] = []
        kept = 0
        # Tags that end a line (rule 5), in the continued first line or later ones; they are
        # checked in order with the lines below, which keep the fence state.
        ends = (
            [m.span() for m in t.line_end.finditer(body)]
            if t.line_end is not None and t.tag_any.search(body) is not None
            else []
        )
        if ends and pos and not self._fence:  # the continued first line ends with a tag
            while ends and ends[0][0] < pos:
                a, b = ends.pop(0)
                out.append(body[kept:a])
                kept = b
        first = [pos] if t.line_head.match(body, pos) else []
        for start in first + [m.start() + 1 for m in t.line_scan.finditer(body, pos)]:
            nl = body.find("\n", start)
            while ends and ends[0][0] < start:  # tags ending lines before this one
                a, b = ends.pop(0)
                if not self._fence and a >= kept:
                    out.append(body[kept:a])
                    kept = b
            if nl == -1:
                break  # the last line is not complete: looked at when it is
            line = body[start : nl + 1]
            if not self._fence and line.strip() in t.tag_set:
                out.append(body[kept:start])
                kept = nl + 1
            else:
                self._fence = _fence_after(self._fence, line[:64])
        for a, b in ends:  # after the last line that can change the fence
            if not self._fence and a >= kept:
                out.append(body[kept:a])
                kept = b
        out.append(body[kept:])
        last = body.rfind("\n")
        if last == -1 and pos == 0:  # bol, one partial line
            self._head = body[:64]
            self._bol = False
        else:
            rest = body[last + 1 :]
            self._head = rest[:64]
            self._bol = not rest
        return "".join(out) if len(out) > 1 else out[0]

    def _pre(self, buf: str, final: bool) -> bool:
        """Look for an opening delimiter at the start. False means: wait for more text."""
        if not buf:
            if final and self._thinking_open:
                self._closed = False
            return False
        waiting = False
        for opener, fmt in self._tables.opens:
            if buf.startswith(opener):
                if waiting and not final:
                    break
                self._format = fmt
                self._scan = self._tables.close_scans[fmt]
                self._state = _THINK if fmt.word_delimiters else _OPENED
                self._buf = buf[len(opener) :]
                return True
            if len(buf) < len(opener) and opener.startswith(buf):
                waiting = True
        if waiting and not final:
            self._buf = buf
            return False
        if self._thinking_open:
            self._state = _THINK
        elif self._thinking_open is False:
            self._state = _ANSWER
        else:
            self._state = _UNDECIDED
            self._scan = self._tables.undecided
        self._buf = buf
        return True

    def _think_step(self, buf: str, final: bool, reasoning: list[str]) -> tuple[bool, str]:
        scan = self._scan
        i, close = _earliest(buf, scan.delims)
        if i != -1:
            cand = len(buf) if final else _tail_candidate(buf, scan.delims, scan.firsts, scan.hold)
            if cand >= i:
                reasoning.append(buf[:i])
                if self._format is None:
                    self._format = scan.owner[close]
                    self._close_only = True
                self._state = _GAP
                return True, buf[i + len(close) :]
            reasoning.append(buf[:cand])
            self._buf = buf[cand:]
            return False, ""
        if final:
            reasoning.append(buf)
            self._closed = False
            return False, ""
        cut = _tail_candidate(buf, scan.delims, scan.firsts, scan.hold)
        reasoning.append(buf[:cut])
        self._buf = buf[cut:]
        return False, ""

    def _held_step(self, text: str, final: bool, reasoning: list[str]) -> tuple[bool, str]:
        """Hold text whole until it is decided (undecided start, or a possible stray tag).

        Held text is kept as a list of parts plus a short tail, and only the tail and the
        new text are searched, so holding stays linear in the length of the text.
        """
        scan = self._scan
        window = self._tail + text
        i, delim = _earliest(window, scan.delims)
        stray = self._state == _STRAY
        if stray:
            decisive = i != -1 or "\n" in text
        else:
            decisive = i != -1 and (
                final or _tail_candidate(window, scan.delims, scan.firsts, scan.hold) >= i
            )
        if not decisive and not final:
            self._held.append(text)
            self._tail = window[len(window) - scan.hold :] if len(window) > scan.hold else window
            return False, ""
        full = "".join(self._held) + text
        offset = len(full) - len(window)
        self._held = []
        self._tail = ""
        if stray:
            if decisive:
                self._state = _THINK
                return True, full
            self._state = _ANSWER
            self._format = None
            return True, full.lstrip()
        if i == -1 or delim in self._tables.open_scan:
            self._state = _ANSWER
            return True, full
        i += offset
        reasoning.append(full[:i])
        self._format = scan.owner[delim]
        self._close_only = True
        self._state = _GAP
        return True, full[i + len(delim) :]
