"""The opener tables of the scanner: which strings start a block, and which chunks are plain.

A `Table` is built once per tool setting (rows that need tool names are left out when no
tools are given). It holds the openers as one regex, the rows per opener, and the
per-chunk "quietness" test with its bounded cache: the fast paths of the scanner and of
`terse.tools.ToolCallStream` ask it whether a chunk can start anything at all.
"""

from __future__ import annotations

import re

from ._formats import CALL_FORMATS, CallFormat

__all__ = [
    "AFTER_TICK",
    "ENDS_LINE",
    "HOLD",
    "LINE_START",
    "MID_LINE",
    "QUIET_ANYWHERE",
    "QUIET_MID",
    "Table",
    "partial_tail",
    "table",
]


class Table:
    def __init__(self, rows: tuple[CallFormat, ...]) -> None:
        self.rows = rows
        lits = sorted({o for r in rows for o in r.opens if o}, key=len, reverse=True)
        self.opens = tuple(lits)
        self.pattern = re.compile("|".join(re.escape(o) for o in lits))
        self.by_open = {o: tuple(r for r in rows if o in r.opens) for o in lits}
        self.at_start = tuple(r for r in rows if r.at_start)
        self.hold = max(len(o) for o in lits) - 1
        self.firsts = re.compile("[" + re.escape("".join(sorted({o[0] for o in lits}))) + "]")
        # A chunk that may change nothing but the text: no opener, fence or line start in it.
        self.quiet = re.compile(
            "|".join(re.escape(o) for o in lits) + r"|[`~\n]|" + self.firsts.pattern
        )
        trig = set("}])>|｜`;\n")
        for r in rows:
            for s in (r.close, r.call_close):
                if s:
                    trig.add(s[-1])
        self.triggers = re.compile("[" + re.escape("".join(sorted(trig))) + "]")
        self.plain: dict[str, int] = {}

    def quietness(self, chunk: str) -> int:
        """How plain ``chunk`` is (short ones cached in `plain`: streams repeat them).

        0: it may start something. Otherwise the chunk holds no opener, no fence
        character, and does not end with a proper prefix of an opener, so it can start
        nothing; `QUIET_ANYWHERE` adds that its last line is not blank (spaces or tabs
        only), so it cannot become a fence line either, while `QUIET_MID` chunks are only
        plain when they do not start a line. `ENDS_LINE` is set when it ends with a newline.
        `HOLD` is a chunk plain but for a proper prefix of an opener at its end, which
        starts at ``q >> 4`` (`ENDS_LINE` then tells about the text before it).
        """
        q = self.plain.get(chunk)
        if q is None:
            k = len(chunk)
            if not chunk or self.pattern.search(chunk) is not None or "`" in chunk or "~" in chunk:
                q = 0
            elif (k := partial_tail(chunk, self, 0)) != len(chunk):
                # Plain but for a possible opener at its end: release the rest, hold that.
                q = HOLD | (k << 4) | (ENDS_LINE if k and chunk[k - 1] == "\n" else 0)
            else:
                line = chunk[chunk.rfind("\n") + 1 :]
                if line and line.strip(" \t") == "":
                    q = 0 if "\n" in chunk else QUIET_MID
                else:
                    q = QUIET_ANYWHERE | (ENDS_LINE if not line else 0)
            if len(chunk) <= 64:  # stream chunks repeat; long texts are not kept
                if len(self.plain) >= 8192:
                    self.plain.clear()
                self.plain[chunk] = q
        return q


QUIET_MID = 1
QUIET_ANYWHERE = 2
ENDS_LINE = 4
HOLD = 8
# What precedes the scanner's unreleased text (`CallScanner._before`).
MID_LINE = 0
LINE_START = 1
AFTER_TICK = 2


_TABLES: dict[bool, Table] = {}


def table(with_tools: bool) -> Table:
    t = _TABLES.get(with_tools)
    if t is None:
        rows = tuple(r for r in CALL_FORMATS if with_tools or not r.needs_tools)
        t = _TABLES[with_tools] = Table(rows)
    return t


def partial_tail(buf: str, tab: Table, start: int) -> int:
    """Start of the longest suffix of ``buf`` that is a proper prefix of an opener."""
    n = len(buf)
    lo = max(start, n - tab.hold)
    for m in tab.firsts.finditer(buf, lo):
        s = buf[m.start() :]
        for o in tab.opens:
            if len(o) > len(s) and o.startswith(s):
                return m.start()
    return n
