"""Finding inline tool-call blocks in a text, incrementally.

`CallScanner` takes text in chunks and yields `Text` (prose outside calls), `Found` (a
block of calls, with its markup) and `Cut` (a block the text ended inside) items. Feeding
the whole text at once, or in any chunking, gives the same items once joined: the whole
text path is the stream path with one chunk.

Openers inside a markdown code fence, or right after a backtick (inline code), are prose.
The only text held back is a possible partial opener or fence line, and a block in
progress (a call is read whole once it ends).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._bodies import Block, Ctx, More, TooDeep, read_block
from ._formats import CallFormat
from ._openers import (
    AFTER_TICK,
    ENDS_LINE,
    HOLD,
    LINE_START,
    MID_LINE,
    QUIET_ANYWHERE,
    partial_tail,
    table,
)

__all__ = [
    "CallScanner",
    "Cut",
    "Found",
    "Item",
    "Pending",
    "Text",
]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Found:
    block: Block
    row: CallFormat
    markup: str


@dataclass(frozen=True)
class Cut:
    row: CallFormat
    name: str
    markup: str


@dataclass(frozen=True)
class Pending:
    """Markup of a block still in progress: ``name`` once known, ``delta`` the new text."""

    name: str
    delta: str


Item = Text | Found | Cut | Pending

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.M)


class CallScanner:
    """Incremental finder of tool-call blocks (see the module docstring).

    Positions are absolute offsets into ``_buf``; released text is dropped from the front
    once per `feed`, never per item, so a text with many blocks or fences stays linear.

    A block in progress is read again only when that can change the answer: when the
    string its reader was waiting for (`More.need`) has arrived, or, for readers that
    stopped mid-token, when a character that can end a token arrives or the block doubled.
    Past 4 KiB a block is read again only after it grew by a quarter, so a hostile block
    (closers in strings, brackets) costs a bounded multiple of its length. Chunks that
    arrive meanwhile are kept in a list and joined once per read.
    """

    def __init__(self, names: frozenset[str] | None, *, length: bool = False) -> None:
        self._names = names
        self._length = length
        self._table = table(names is not None)
        self._buf = ""
        self._off = 0  # start of the text not yet released
        self._fence = ""  # the open fence's marker, "" outside fences
        self._before = LINE_START  # what precedes _off: MID_LINE, LINE_START or AFTER_TICK
        self._fresh = True  # nothing consumed yet (for at_start rows)
        self._pending = False  # a block in progress starts at _off
        self._named = ""  # name announced for the pending block
        self._sent = 0  # offset up to which the pending block was sent as Pending deltas
        self._held = ""  # the pending block's text from _sent to its end (not sent yet)
        self._tried = 0  # length of the pending text at the last read attempt
        self._tail_wait = False
        self._parts: list[str] = []  # chunks of the pending block not yet joined to _buf
        self._plen = 0  # their total length (counted only while no `_need` is set)
        self._need = ""  # the string the pending block's reader waits for ("" if none)
        self._due = False  # a read attempt is due (held back by the growth rule)

    @property
    def pending(self) -> bool:
        """Whether a block is in progress."""
        return self._pending

    @property
    def idle(self) -> bool:
        """No block and no fence in progress: text can be taken by `plain`."""
        return not self._pending and not self._fence and not self._fresh

    def plain(self, chunk: str) -> str | None:
        """The text released if ``chunk`` (after any held partial opener) can start
        nothing; None, changing nothing, when it needs `feed`. The scanner must be `idle`.
        """
        t = self._buf + chunk if self._buf else chunk
        q = self._table.quietness(t)
        if q & HOLD:
            k = q >> 4
            self._buf = t[k:]
            if not k:
                return ""
            self._before = LINE_START if q & ENDS_LINE else MID_LINE
            return t[:k]
        if q & QUIET_ANYWHERE or (q and self._before != LINE_START):
            self._before = LINE_START if q & ENDS_LINE else MID_LINE
            self._buf = ""
            return t
        return None

    def feed(self, chunk: str) -> list[Item]:
        if not chunk:
            return []
        if self._pending:
            d = self.more(chunk)
            if d is None:
                return self._run(final=False)
            return [Pending(self._named, d)] if d else []
        if not self._fence and not self._fresh:
            t = self.plain(chunk)
            if t is not None:
                return [Text(t)] if t else []
        self._buf += chunk
        return self._run(final=False)

    def more(self, chunk: str) -> str | None:
        """Add ``chunk`` to the block in progress: the new `Pending` delta ("" for none),
        or None when the block must be read again (call `feed_read`)."""
        self._parts.append(chunk)
        h = self._held + chunk  # the unsent tail: at least the last 32 characters
        need = self._need
        if (not need or self._due or need in h) and self._wake(chunk, need):
            return None
        if len(h) > 32:  # a closer may be arriving: hold its length
            self._held = h[-32:]
            if self._named:
                d = h[:-32]
                self._sent += len(d)
                return d
            return ""
        self._held = h
        return ""

    def _wake(self, chunk: str, need: str) -> bool:
        """Whether to read the block again now (else it may be due later)."""
        if need:
            plen = sum(map(len, self._parts))  # once per arrival of `need`: amortized
        else:
            self._plen += len(chunk)
            plen = self._plen
            if self._tail_wait:
                # The body is read; only a non-space character can decide the closer.
                return not chunk.isspace()
            if not (
                self._due
                or self._table.triggers.search(chunk) is not None
                or len(self._buf) - self._off + plen >= 2 * self._tried
            ):
                return False
        n = len(self._buf) - self._off + plen
        if n <= 4096 or 4 * (n - self._tried) >= self._tried:
            self._due = False
            return True
        self._due = True
        return False

    def feed_read(self) -> list[Item]:
        """Read the block in progress again (after `more` returned None)."""
        return self._run(final=False)

    def finish(self) -> list[Item]:
        return self._run(final=True)

    def _join(self) -> None:
        self._plen = 0
        if self._parts:
            self._buf = "".join([self._buf, *self._parts])
            self._parts = []

    def _deltas(self) -> list[Item]:
        buf = self._buf
        if not self._named:
            self._held = buf[-32:]
            return []
        upto = len(buf) - 32  # a closer may be arriving: hold its length
        out: list[Item] = []
        if upto > self._sent:
            out.append(Pending(self._named, buf[self._sent : upto]))
            self._sent = upto
        self._held = buf[self._sent :]
        return out

    def _compact(self) -> None:
        if self._off:
            self._buf = self._buf[self._off :]
            if self._pending:
                self._sent -= self._off
            self._off = 0

    def _consume_to(self, i: int) -> None:
        if i <= self._off:
            return
        c = self._buf[i - 1]
        self._before = LINE_START if c == "\n" else AFTER_TICK if c == "`" else MID_LINE
        self._off = i
        self._fresh = False

    def _fences(self, a: int, b: int) -> None:
        for m in _FENCE.finditer(self._buf, a, b):
            if m.start() == self._off and self._before != LINE_START:
                continue
            mark = m.group(1)
            if not self._fence:
                self._fence = mark
            elif mark[0] == self._fence[0] and len(mark) >= len(self._fence):
                self._fence = ""

    def _text_upto(self, i: int, out: list[Item]) -> None:
        """Release the text from ``_off`` to ``i``, tracking fences in it."""
        if i <= self._off:
            return
        self._fences(self._off, i)
        out.append(Text(self._buf[self._off : i]))
        self._consume_to(i)

    def _fence_line(self, a: int, b: int) -> re.Match[str] | None:
        """The first fence line starting in [a, b) (a line start, not mid-line)."""
        for fm in _FENCE.finditer(self._buf, a, b):
            if fm.start() == self._off and self._before != LINE_START:
                continue
            return fm
        return None

    def _run(self, final: bool) -> list[Item]:
        self._join()
        out: list[Item] = []
        try:
            self._scan(final, out)
        finally:
            self._compact()
        return out

    def _scan(self, final: bool, out: list[Item]) -> None:
        ctx = Ctx(final=final, length=self._length, names=self._names)
        table = self._table
        buf = self._buf
        n = len(buf)
        search = self._off
        m_next: re.Match[str] | None = None  # the next opener, searched once per position
        no_open_from = n + 1  # no opener at or after this offset
        while self._off < n:
            if self._fresh and table.at_start and search == self._off:
                got = self._try(table.at_start, "", self._off, ctx, out)
                if got == "wait":
                    return
                self._fresh = False
                if got == "done":
                    search = self._off
                    continue
            if self._fence:
                # Inside a fence: only a closing fence line matters.
                m = None
                for fm in _FENCE.finditer(buf, search):
                    if fm.start() == self._off and self._before != LINE_START:
                        continue
                    if fm.group(1)[0] == self._fence[0] and len(fm.group(1)) >= len(self._fence):
                        m = fm
                        break
                if m is None:
                    out.append(Text(buf[self._off : self._hold_fence(n, final)]))
                    self._consume_to(self._hold_fence(n, final))
                    return
                out.append(Text(buf[self._off : m.end()]))
                self._fence = ""
                self._consume_to(m.end())
                search = self._off
                continue
            if no_open_from <= search:
                m2 = None
            elif m_next is not None and m_next.start() >= search:
                m2 = m_next
            else:
                m2 = m_next = table.pattern.search(buf, search)
                if m2 is None:
                    no_open_from = search
            fm2 = self._fence_line(search, m2.start() if m2 else n)
            if fm2 is not None:
                self._text_upto(fm2.end(), out)
                search = self._off
                continue
            if m2 is None:
                if final:
                    self._text_upto(n, out)
                    return
                tail = partial_tail(buf, table, self._off)
                cut = min(max(tail, self._off), self._hold_fence(n, final))
                self._text_upto(cut, out)
                return
            i = m2.start()
            after_tick = buf[i - 1] == "`" if i > self._off else self._before == AFTER_TICK
            if after_tick:
                search = i + 1
                continue
            self._text_upto(i, out)
            opener = m2.group()
            got = self._try(table.by_open[opener], opener, i, ctx, out)
            if got == "wait":
                return
            # An offset to skip to (nesting too deep), past the block, or past the opener.
            search = got if isinstance(got, int) else self._off if got == "done" else i + 1

    def _hold_fence(self, n: int, final: bool) -> int:
        """Hold a last line that may still become a fence line."""
        if final:
            return n
        buf = self._buf
        j = buf.rfind("\n", self._off, n) + 1
        if j == 0:
            if self._before != LINE_START:
                return n
            j = self._off
        line = buf[j:n]
        if line and len(line) < 64 and line.strip(" \t`~") == "":
            return j
        return n

    def _try(
        self, rows: tuple[CallFormat, ...], opener: str, i: int, ctx: Ctx, out: list[Item]
    ) -> str | int:
        """Read a block at ``i``: "done", "none" (prose), "wait", or an offset to skip to."""
        buf = self._buf
        p = i + len(opener)
        for row in rows:
            if row.needs_tools and self._names is None:
                continue
            try:
                block = read_block(row, buf, p, ctx)
            except TooDeep as e:
                self._end_block()
                return max(e.stop, i + 1)
            except More as e:
                if ctx.final and row.needs_tools:
                    continue  # no delimiter of its own: an unfinished one is prose
                if ctx.final:
                    self._end_block()
                    out.append(Cut(row, e.name, buf[i:]))
                    self._consume_to(len(buf))
                    return "done"
                self._pending = True
                self._tried = len(buf) - i
                self._tail_wait = e.tail
                self._need = e.need if len(e.need) <= 32 else ""  # seen whole in _held
                if e.name and not self._named:
                    self._named = e.name
                    self._sent = i
                out.extend(self._deltas())
                return "wait"
            if block is None:
                continue
            if not self._named and block.calls:
                self._named = block.calls[0].name
                self._sent = i
            if self._pending and self._sent < block.end:
                out.append(Pending(self._named, buf[self._sent : block.end]))
            self._end_block()
            out.append(Found(block, row, buf[i : block.end]))
            self._consume_to(block.end)
            return "done"
        self._end_block()
        return "none"

    def _end_block(self) -> None:
        self._pending = False
        self._named = ""
        self._sent = 0
        self._held = ""
        self._tried = 0
        self._tail_wait = False
        self._need = ""
        self._due = False
