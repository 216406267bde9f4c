"""Separating a reasoning model's thinking from its answer, for whole texts and streams.

One engine serves both: `split` feeds the whole text to a `Splitter` in one call, so a
stream fed in any chunking gives exactly the same result as the whole text.

The rules, in order:

1. Leading whitespace is dropped. If the output then starts with an opening delimiter
   (``<think>``, ``[THINK]``, a harmony analysis channel, … — see `terse._wire.formats.FORMATS`),
   everything up to that format's first closing delimiter is reasoning.
2. If it does not, and the caller did not say whether thinking was pre-opened, the text
   is *undecided*: a closing delimiter before any opening tag means the chat template
   pre-filled the opening tag (close-only output), so the text before it is reasoning.
   An opening tag first (say, a literal ``<think>`` inside a JSON string), or no
   delimiter at all, means the whole text is the answer. Undecided text is held until
   it is resolved; pass ``thinking_open=True`` or ``False`` to stream it without waiting.
3. Once the answer has begun, everything after it is answer: a ``<think>`` inside a code
   block or a line of the answer stays there. Whitespace between the reasoning and the
   answer, and around the answer, is trimmed; beyond that, only rule 5 alters the answer.
4. Reasoning that never closes (cut by ``max_tokens``) gives ``closed=False`` and an empty
   answer. One exception, for Kimi K2's stray tags: ``<think>`` followed by a space and a
   single line that never closes is not thinking; the line is the answer.
5. Leaked tags and terminators are not answer: a think tag (any format's delimiter) where
   the answer starts is dropped with the whitespace after it, one alone on a line outside a
   code fence is dropped with its line, and think tags and message terminators (harmony's
   ``<|return|>``, ``<|end|>``, ``<|call|>``) where the answer ends are dropped. A model
   that writes ``</think>`` again after its reasoning (or a server whose reasoning parser
   passes one through in ``content``) never shows it.

Memory: the only text held back while thinking or answering is a possible partial
delimiter (at most the longest delimiter minus one character) and a trailing run of
whitespace and end tokens; undecided text (rule 2) is held whole.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from .._exceptions import UsageError, WrongType
from .._results import Part, check_parts
from .formats import ThinkFormat, resolve_formats

__all__ = ["Delta", "Split", "Splitter", "split", "strip"]


class Delta(NamedTuple):
    """Text newly released by one `Splitter.feed` or `Splitter.finish` call."""

    reasoning: str
    answer: str


@dataclass(frozen=True)
class Split:
    """A model output separated into reasoning and answer.

    Attributes:
        reasoning: The thinking text, without its delimiters.
        answer: The answer, trimmed of surrounding whitespace.
        closed: False when the thinking never ended (the output was cut while the model
            was thinking); the answer is then empty.
        format: Name of the think format found, or None when there was no thinking.
        parts: The output as typed parts: a `ReasoningPart`, then a `TextPart` for the
            answer (each left out when empty); ``reasoning`` and ``answer`` are their texts.
    """

    reasoning: str
    answer: str
    closed: bool
    format: str | None = None
    parts: tuple[Part, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_parts(self, self.parts, self.reasoning, self.answer)


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


# Splitter states.
_PRE = 0  # nothing decided yet: skipping leading whitespace, looking for an opening delimiter
_OPENED = 1  # an opening tag was consumed; the next character decides stray-or-thinking
_STRAY = 2  # "<think> text" on one line so far: thinking, or a stray tag before the answer
_UNDECIDED = 3  # no opening delimiter at the start: close-only reasoning, or plain answer
_THINK = 4  # inside reasoning, looking for a closing delimiter
_GAP = 5  # reasoning closed; skipping whitespace before the answer
_ANSWER = 6  # inside the answer: everything passes through
_DONE = 7


def _earliest(buf: str, delims: tuple[str, ...], start: int = 0) -> tuple[int, str]:
    """Position and text of the earliest delimiter in ``buf`` (longest on a tie), or (-1, "")."""
    best, found = -1, ""
    for d in delims:
        i = buf.find(d, start)
        if i != -1 and (best == -1 or i < best or (i == best and len(d) > len(found))):
            best, found = i, d
    return best, found


def _tail_candidate(buf: str, delims: tuple[str, ...], firsts: str, hold: int) -> int:
    """Start of the longest suffix of ``buf`` that is a proper prefix of a delimiter, else len(buf)."""
    n = len(buf)
    lo = n - hold if n > hold else 0
    tail = buf[lo:]
    for ch in firsts:
        if ch in tail:
            break
    else:
        return n
    for i in range(lo, n):
        suffix = buf[i:]
        for d in delims:
            if d.startswith(suffix):
                return i
    return n


def _any_in(chars: str, text: str) -> bool:
    # A plain loop: any() over a generator costs a frame per call on the per-chunk path.
    for ch in chars:  # noqa: SIM110
        if ch in text:
            return True
    return False


def _end_run(buf: str, t: _Tables, partial: bool) -> int:
    """Start of the run at the end of ``buf`` made of whitespace and end tokens.

    With ``partial``, a last piece that may be the start of an end token belongs to the run.
    """
    i = len(buf)
    lo = max(0, i - t.longest_end + 1)
    if partial and i and _any_in(t.firsts, buf[lo:]):
        starts = sorted(k for c in t.firsts for k in _positions(buf, c, lo))
        for k in starts:
            piece = buf[k:]
            if any(e.startswith(piece) and e != piece for e in t.ends):
                i = k
                break
    while True:
        j = i
        while j > 0 and buf[j - 1].isspace():
            j -= 1
        if j == 0 or buf[j - 1] not in t.lasts:
            return j
        end = next((e for e in t.ends if buf.endswith(e, 0, j)), None)
        if end is None:
            return j
        i = j - len(end)


def _positions(text: str, ch: str, start: int) -> list[int]:
    out = []
    while (k := text.find(ch, start)) != -1:
        out.append(k)
        start = k + 1
    return out


_FENCE_LINE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})([^\n]*)")


def _fence_after(fence: str, line: str) -> str:
    """The open code fence after ``line`` (CommonMark-style, as in `terse._extract.jsonscan`)."""
    m = _FENCE_LINE.match(line)
    if m is None:
        return fence
    marks, info = m.group(1), m.group(2)
    if not fence:
        return fence if marks[0] in info else marks
    if marks[0] == fence[0] and len(marks) >= len(fence) and not info.strip():
        return ""
    return fence


class _Scan:
    """A set of delimiters with the helpers needed to search a buffer for them."""

    __slots__ = ("delims", "firsts", "hold", "owner")

    def __init__(self, pairs: Iterable[tuple[str, ThinkFormat]]) -> None:
        seen: dict[str, ThinkFormat] = {}
        for d, f in pairs:
            seen.setdefault(d, f)
        self.delims = tuple(sorted(seen, key=len, reverse=True))
        self.owner = seen
        self.firsts = "".join(sorted({d[0] for d in self.delims}))
        self.hold = max((len(d) for d in self.delims), default=1) - 1


class _Tables:
    """Everything a `Splitter` derives from its formats, built once per set of formats."""

    __slots__ = (
        "all_closes",
        "close_scans",
        "ends",
        "firsts",
        "lasts",
        "line_head",
        "line_scan",
        "longest_end",
        "open_scan",
        "opens",
        "tag_set",
        "tags",
        "undecided",
    )

    def __init__(self, fmts: tuple[ThinkFormat, ...]) -> None:
        self.opens = tuple(
            sorted(((o, f) for f in fmts for o in f.opens), key=lambda p: -len(p[0]))
        )
        self.all_closes = _Scan((c, f) for f in fmts for c in f.closes)
        self.close_scans = {f: _Scan((c, f) for c in f.closes) for f in fmts}
        self.undecided = _Scan(
            [(c, f) for f in fmts if f.close_only for c in f.closes]
            + [(o, f) for f in fmts if not f.word_delimiters for o in f.opens]
        )
        self.open_scan = frozenset(o for f in fmts if not f.word_delimiters for o in f.opens)
        # Tokens cleaned out of the answer (see `Splitter._answer_text`): think tags, and
        # what may end it (tags and message terminators), longest first.
        tags = {d for f in fmts if not f.word_delimiters for d in (*f.opens, *f.closes)}
        self.tags = tuple(sorted(tags, key=len, reverse=True))
        ends = tags | {e for f in fmts for e in f.ends}
        self.ends = tuple(sorted(ends, key=len, reverse=True))
        self.firsts = "".join(sorted({t[0] for t in self.ends}))
        self.lasts = "".join(sorted({t[-1] for t in self.ends}))
        starts = "".join(re.escape(c) for c in sorted({t[0] for t in tags}))
        line_head = r"[ \t]*(?:`{3}|~{3}" + (f"|[{starts}]" if starts else "") + ")"
        self.line_head = re.compile(line_head)
        self.line_scan = re.compile("\n" + line_head)  # "\n" first: a fast literal scan
        self.tag_set = frozenset(tags)
        self.longest_end = max((len(e) for e in self.ends), default=0)


@functools.lru_cache(maxsize=64)
def _tables(fmts: tuple[ThinkFormat, ...]) -> _Tables:
    return _Tables(fmts)


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
        """Pass answer text through, dropping think tags alone on a line outside fences.

        Only lines that start with a fence or a tag's first character are looked at.
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
        first = [pos] if t.line_head.match(body, pos) else []
        for start in first + [m.start() + 1 for m in t.line_scan.finditer(body, pos)]:
            nl = body.find("\n", start)
            if nl == -1:
                break  # the last line is not complete: looked at when it is
            line = body[start : nl + 1]
            if not self._fence and line.strip() in t.tag_set:
                out.append(body[kept:start])
                kept = nl + 1
            else:
                self._fence = _fence_after(self._fence, line[:64])
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


def split(
    text: str,
    *,
    thinking_open: bool | None = None,
    formats: Iterable[str | ThinkFormat] | None = None,
) -> Split:
    """Separate a model output into reasoning and answer.

    Example:
        >>> split("<think>The user wants a city.</think>\\n\\nParis")
        Split(reasoning='The user wants a city.', answer='Paris', closed=True, format='think')
        >>> split("Okay, France... so Paris.</think>Paris").answer
        'Paris'
        >>> split("<think>Let me count: one, two").closed
        False
    """
    if not isinstance(text, str):
        raise WrongType(f"split() and strip() take str, not {type(text).__name__}")
    s = Splitter(thinking_open=thinking_open, formats=formats)
    first = s._run(text, final=True)
    s._state = _DONE
    return Split(first.reasoning, first.answer, s._closed, s.format)


def strip(
    text: str,
    *,
    thinking_open: bool | None = None,
    formats: Iterable[str | ThinkFormat] | None = None,
) -> str:
    """Return only the answer of a model output (empty if it never stopped thinking).

    Example:
        >>> strip("<think>hmm</think>  42")
        '42'
    """
    return split(text, thinking_open=thinking_open, formats=formats).answer
