"""Finding the JSON candidates in an answer, in linear time.

`scan` lists the candidates of a text in order: fenced code blocks (`````json`` and bare),
then balanced ``{…}`` / ``[…]`` values in the prose around them. Braces are matched with a
stack in a single pass, skipping JSON strings, so ``{"a": "}"}`` is one value; no regular
expression ever matches across braces. It also reports when the text *ends inside* an
unfinished value: an answer cut by the token limit, which must not be "completed" silently.

The repairer lives in `terse._extract.jsonrepair` and is re-exported here. Nesting is capped at
`MAX_DEPTH`, so hostile input such as a megabyte of ``[`` costs milliseconds.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

from .jsonrepair import MAX_DEPTH, Repaired, repair

__all__ = ["MAX_CANDIDATES", "MAX_DEPTH", "Candidate", "Repaired", "Scan", "repair", "scan"]

_OPENER = re.compile(r"[\[{]")
# Group 1 an opener, 2 a closer, 3 a single quote; else a whole double-quoted string, skipped
# in one step. The string alternative cannot fail after its opening quote: nothing backtracks.
_TOKEN = re.compile(r"""([\[{])|([\]}])|(')|"(?:[^"\\]|\\.)*(?:"|\\?\Z)""", re.S)
_SQ_REST = re.compile(r"(?:[^'\\]|\\.)*(?:'|\\?\Z)", re.S)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})([^\n]*)$", re.M)
_PAIRS = {"]": "[", "}": "{"}
_QUOTE_AFTER = frozenset("{[,:")  # a single quote after these starts a Python-style string

MAX_CANDIDATES = 256
"""Candidates kept, counted from the end of the text (the last valid one wins anyway)."""


@dataclass(frozen=True)
class Candidate:
    """A piece of the text that may hold the value.

    Attributes:
        start: Offset of the candidate in the scanned text (the fence line for fences).
        kind: ``"fence"`` for a fenced block's body, ``"json"`` for a balanced value in prose.
        text: The candidate text, stripped.
        inner: For a fence whose body is not one value: the balanced values inside it, tried
            as part of the same candidate when the body as a whole fails.
    """

    start: int
    kind: Literal["fence", "json"]
    text: str
    inner: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scan:
    """What `scan` found.

    Attributes:
        candidates: Candidates in text order (at most `MAX_CANDIDATES`, the last ones).
        truncated: The unfinished value the text ends in (``kind`` says whether it is inside
            a fence), or None when the text does not end inside a value.
        notes: Why parts of the text were not searched (nesting too deep, too many values).
    """

    candidates: tuple[Candidate, ...]
    truncated: Candidate | None
    notes: tuple[str, ...]


@dataclass
class _Balanced:
    pairs: list[tuple[int, int]]  # (start, end) of top-level balanced values
    unclosed: list[int]  # offsets of openers still open at the end, outermost first
    too_deep: bool


def _previous_significant(text: str, pos: int) -> str:
    i = pos - 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return text[i] if i >= 0 else ""


def _balanced(
    text: str, start: int = 0, stop: int | None = None, keep: int = MAX_CANDIDATES
) -> _Balanced:
    """Top-level balanced ``{…}``/``[…]`` values in ``text[start:stop]``, matched with a stack.

    Quotes in prose are not strings (they are apostrophes and inch marks); inside a value,
    strings are skipped whole. A closer that does not match abandons the open value. A value
    left open hides nothing: balanced values closed inside it are still reported, so one
    stray ``{`` in prose cannot swallow the JSON after it. Only about the last ``keep``
    values are kept.
    """
    stop = len(text) if stop is None else stop
    pairs: list[tuple[int, int]] = []
    stack: list[tuple[int, str]] = []
    pos = start
    while pos < stop:
        if not stack:  # outside any value: jump to the next opener at C speed
            first = _OPENER.search(text, pos, stop)
            if first is None:
                break
            pos = first.start()
        restart = -1
        for m in _TOKEN.finditer(text, pos, stop):
            kind = m.lastindex
            if kind == 1:  # an opener
                stack.append((m.start(), m.group(1)))
                if len(stack) > MAX_DEPTH:
                    return _Balanced(pairs, [], too_deep=True)
            elif kind == 2:  # a closer
                if not stack:
                    continue
                if stack[-1][1] != _PAIRS[m.group(2)]:
                    stack.clear()
                    continue
                opened = stack.pop()[0]
                while pairs and pairs[-1][0] > opened:
                    pairs.pop()  # values nested in this one are part of it
                pairs.append((opened, m.end()))
                if not stack and len(pairs) > 2 * keep:
                    del pairs[:-keep]
            elif kind == 3:  # a single quote: a string only where a value or key starts
                i = m.start()
                if stack and _previous_significant(text, i) in _QUOTE_AFTER:
                    rest = _SQ_REST.match(text, i + 1, stop)
                    restart = rest.end() if rest else stop
                    break
            elif not stack:  # a quote in prose is not a string: back to jumping
                restart = m.start() + 1
                break
        if restart < 0:
            break
        pos = restart
    return _Balanced(pairs, [s for s, _ in stack], too_deep=False)


@dataclass(frozen=True)
class _Fence:
    start: int
    body_start: int
    body_end: int
    end: int  # end of the closing fence line (or of the text when unclosed)
    closed: bool


def _fences(text: str, keep: int) -> tuple[list[_Fence], int]:
    """The last ``keep`` fenced code blocks, and the offset where the first of them may start.

    CommonMark-style: ``` or ~~~ at the start of a line, closed by a fence at least as long
    with nothing after it. Earlier blocks are dropped as they are found (only the last
    candidates are searched), so a text made of fences costs linear time and bounded memory.
    """
    out: deque[_Fence] = deque(maxlen=keep)
    floor = 0
    opener: re.Match[str] | None = None
    for m in _FENCE.finditer(text):
        marks, info = m.group(1), m.group(2)
        if opener is None:
            if marks[0] not in info:  # ```{"a": 1}``` on one line is inline code, i.e. prose
                opener = m
        elif (
            marks[0] == opener.group(1)[0]
            and len(marks) >= len(opener.group(1))
            and not info.strip()
        ):
            if len(out) == keep:
                floor = out[0].end
            body_start = min(opener.end() + 1, m.start())
            out.append(_Fence(opener.start(), body_start, m.start(), m.end(), closed=True))
            opener = None
    if opener is not None:
        if len(out) == keep:
            floor = out[0].end
        body_start = min(opener.end() + 1, len(text))
        out.append(_Fence(opener.start(), body_start, len(text), len(text), closed=False))
    return list(out), floor


def _truncated_at(text: str, unclosed: list[int], stop: int) -> int | None:
    """The outermost open value whose rest is a valid JSON prefix, i.e. a value that was cut.

    ``[0, 1) is an interval`` is open but is not JSON, so it is not a cut value. Only the
    four outermost openers are checked, to keep the check linear.
    """
    for opened in unclosed[:4]:
        if repair(text[opened:stop]).status == "truncated":
            return opened
    return None


def _prose(
    text: str, start: int, stop: int, at_end: bool, keep: int
) -> tuple[list[Candidate], Candidate | None, str]:
    found = _balanced(text, start, stop, keep)
    cut = _truncated_at(text, found.unclosed, stop) if at_end else None
    pairs = found.pairs
    truncated = None
    if cut is not None:
        pairs = [p for p in pairs if p[0] < cut]
        truncated = Candidate(cut, "json", text[cut:stop].strip())
    note = f"nesting deeper than {MAX_DEPTH} after offset {start}" if found.too_deep else ""
    return [Candidate(s, "json", text[s:e]) for s, e in pairs[-keep:]], truncated, note


def _fenced(
    text: str, fence: _Fence, at_end: bool
) -> tuple[list[Candidate], Candidate | None, str]:
    body = text[fence.body_start : fence.body_end]
    found = _balanced(body)
    note = (
        f"nesting deeper than {MAX_DEPTH} in the fence at {fence.start}" if found.too_deep else ""
    )
    cut = _truncated_at(body, found.unclosed, len(body)) if at_end else None
    if cut is not None:
        return [], Candidate(fence.start, "fence", body[cut:].strip()), note
    stripped = body.strip()
    if not stripped:
        return [], None, note
    values = tuple(body[s:e] for s, e in found.pairs)
    inner = () if values == (stripped,) else values
    return [Candidate(fence.start, "fence", stripped, inner)], None, note


def scan(text: str, limit: int = MAX_CANDIDATES) -> Scan:
    """List the JSON candidates in ``text``, in order, and say whether it ends inside a value.

    Fenced blocks and the prose between them are searched separately, from the end, until
    ``limit`` candidates are found; only the part that reaches the end of the text can hold
    a truncated value.

    Example:
        >>> [c.text for c in scan('Draft {"a": 1}, final:\\n```json\\n{"a": 2}\\n```').candidates]
        ['{"a": 1}', '{"a": 2}']
        >>> scan('Here: {"city": "Paris", "capi').truncated.text
        '{"city": "Paris", "capi'
    """
    last = len(text.rstrip())  # everything after this offset is whitespace
    parts: list[tuple[int, int, _Fence | None]] = []
    fences, pos = _fences(text, 2 * limit)
    for f in fences:
        if f.start > pos:
            parts.append((pos, f.start, None))
        parts.append((f.start, f.end, f))
        pos = f.end
    if pos < len(text):
        parts.append((pos, len(text), None))
    found: list[list[Candidate]] = []
    notes: list[str] = []
    truncated: Candidate | None = None
    count = 0
    for searched, (start, stop, fence) in enumerate(reversed(parts)):
        if count >= limit or searched >= 2 * limit:
            notes.append(f"only the last {limit} candidates were searched")
            break
        at_end = stop >= last if fence is None else (not fence.closed or fence.end >= last)
        if fence is None:
            cands, cut, note = _prose(text, start, stop, at_end, limit - count)
        else:
            cands, cut, note = _fenced(text, fence, at_end)
        truncated = truncated or cut
        if note:
            notes.append(note + ": not searched")
        found.append(cands)
        count += len(cands)
    ordered = [c for part in reversed(found) for c in part]
    return Scan(tuple(ordered[-limit:]), truncated, tuple(notes))
