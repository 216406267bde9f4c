"""The delimiter tables a `terse._wire.splitter.Splitter` searches with. Pure, no I/O.

For a set of think formats, `_tables` builds (once, cached) every delimiter set the
splitter looks for — opening tags, closing tags per format, what decides undecided text,
and the tags and end tokens cleaned out of an answer — with the first characters and
hold-back lengths that keep the search to the end of a buffer. The search helpers find the
earliest delimiter, the start of a possible partial one, and the run of whitespace and end
tokens that ends an answer; `_fence_after` tracks code fences so tags inside them stay.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from .formats import ThinkFormat


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
    if partial and i:
        prefixes = t.end_prefixes
        for f in t.first_scan.finditer(buf, lo):  # where an end token could start
            k = f.start()
            if buf[k:] in prefixes:
                i = k
                break
    while True:
        j = i
        while j > 0 and buf[j - 1].isspace():
            j -= 1
        if j == 0 or buf[j - 1] not in t.lasts:
            return j
        # The longest end token that ends at j: matched backwards, longest first.
        m = t.ends_reversed.match(buf[max(0, j - t.longest_end) : j][::-1])
        if m is None:
            return j
        i = j - m.end()


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
        "end_prefixes",
        "ends",
        "ends_reversed",
        "first_scan",
        "firsts",
        "lasts",
        "line_end",
        "line_head",
        "line_scan",
        "longest_end",
        "open_scan",
        "opens",
        "quiet",
        "tag_any",
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
        # The proper prefixes of end tokens (a possible end token being written), and the
        # end tokens reversed, longest first, to match the one a text ends with.
        self.end_prefixes = frozenset(e[:k] for e in self.ends for k in range(1, len(e)))
        self.first_scan = re.compile(f"[{re.escape(self.firsts)}]" if self.firsts else "(?!)")
        self.ends_reversed = re.compile("|".join(re.escape(e[::-1]) for e in self.ends) or "(?!)")
        self.lasts = "".join(sorted({t[-1] for t in self.ends}))
        # What a mid-line answer chunk must lack to pass the splitter as it stands.
        self.quiet = frozenset(self.firsts + "\n")
        starts = "".join(re.escape(c) for c in sorted({t[0] for t in tags}))
        line_head = r"[ \t]*(?:`{3}|~{3}" + (f"|[{starts}]" if starts else "") + ")"
        self.line_head = re.compile(line_head)
        self.line_scan = re.compile("\n" + line_head)  # "\n" first: a fast literal scan
        self.tag_set = frozenset(tags)
        alts = "|".join(re.escape(g) for g in self.tags)
        self.tag_any = re.compile(alts or "(?!)")  # a think tag anywhere
        # A think tag that ends a line (only spaces or tabs before the newline).
        self.line_end = re.compile(f"(?:{alts})(?=[ \t]*\n)") if alts else None
        self.longest_end = max((len(e) for e in self.ends), default=0)


@functools.lru_cache(maxsize=64)
def _tables(fmts: tuple[ThinkFormat, ...]) -> _Tables:
    return _Tables(fmts)
