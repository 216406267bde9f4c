"""Repairing the JSON models write, in one linear pass, naming every fix.

`repair` tokenizes one candidate and rewrites the mistakes models make into strict JSON:
trailing commas, ``//``, ``/* */`` and ``#`` comments, single-quoted strings, unquoted keys,
Python literals (``True``, ``None``), smart quotes, raw newlines inside strings. It never
invents values: a bare word that is not a literal makes the candidate invalid rather than
becoming a string, so ``{city: Paris}`` is refused, not guessed.

It also tells a value that was *cut* (a valid prefix, ``"truncated"``) from one that is
broken, which is how `terse._extract.jsonscan` recognises an answer cut by the token limit.
Nesting is capped at `MAX_DEPTH`, deeper than pydantic's own parser accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_DEPTH", "Repaired", "repair"]

MAX_DEPTH = 128
"""Deepest nesting searched or repaired; pydantic's JSON parser stops at about 200."""

_PAIRS = {"]": "[", "}": "{"}
_WS = re.compile(r"[ \t\r\n\ufeff]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NUMBERISH = re.compile(r"-?\d[\w.+-]*")
_WORD = re.compile(r"-?[^\W\d][\w$-]*|\$[\w$-]*|\d[\w$-]*")
_DQ_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_SQ_RUN = re.compile(r"""[^'"\\\x00-\x1f]*""")
_LITERALS = {"true": "true", "false": "false", "null": "null", "NaN": "NaN"}
_LITERALS.update({"Infinity": "Infinity", "-Infinity": "-Infinity"})
_PYTHON = {"True": "true", "False": "false", "None": "null"}
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SMART_CLOSE = {"“": "”", "”": "”", "„": "”", "‘": "’", "’": "’"}
_SMART_RUN = {q: re.compile(f'[^{q}"\\\\\\x00-\\x1f]*') for q in "”’"}
_LITERAL_PREFIXES = frozenset(w[:i] for w in [*_LITERALS, *_PYTHON] for i in range(1, len(w)))

# Parser states: what may come next.
_VALUE, _KEY, _COLON, _AFTER, _DONE = range(5)


@dataclass(frozen=True)
class Repaired:
    """The result of `repair`.

    Attributes:
        text: The rewritten JSON (meaningful when ``status`` is not ``"invalid"``).
        repairs: Names of the repairs applied, in first-use order.
        status: ``"complete"`` (one whole value), ``"truncated"`` (a valid prefix of a value:
            the text was cut), or ``"invalid"``.
        problem: Why the text is invalid, with the offset (empty otherwise).
    """

    text: str
    repairs: tuple[str, ...]
    status: Literal["complete", "truncated", "invalid"]
    problem: str = ""


class _Invalid(Exception):
    pass


class _Repairer:
    """One pass over a candidate: a tokenizer feeding a tiny JSON grammar state machine."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.repairs: dict[str, None] = {}
        self.stack: list[str] = []
        self.state = _VALUE
        self.comma = -1  # index in out of a comma that a closer would make trailing
        self.fresh = True  # just after an opener: a closer is allowed

    def fail(self, pos: int, why: str) -> _Invalid:
        snippet = self.text[pos : pos + 20]
        return _Invalid(f"{why} at offset {pos} ({snippet!r})")

    def note(self, name: str) -> None:
        self.repairs[name] = None

    def skip_space(self, pos: int) -> int:
        text, n = self.text, len(self.text)
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]  # "*" always matches
            if pos >= n:
                return pos
            c = text[pos]
            if c == "#" or text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = n if end == -1 else end
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                pos = n if end == -1 else end + 2
            else:
                return pos
            self.note("comments")

    def string(self, pos: int, close: str, run: re.Pattern[str]) -> tuple[int, bool]:
        """Copy a string starting after its opening quote as a JSON string; (end, finished)."""
        text, n, out = self.text, len(self.text), self.out
        out.append('"')
        while True:
            m = run.match(text, pos)
            out.append(m.group())  # type: ignore[union-attr]  # "*" always matches
            pos = m.end()  # type: ignore[union-attr]
            if pos >= n:
                return pos, False
            c = text[pos]
            if c == close:
                out.append('"')
                return pos + 1, True
            if c == "\\":
                nxt = text[pos + 1 : pos + 2]
                if nxt == "'" and close != '"':
                    out.append("'")
                else:
                    out.append(text[pos : pos + 2])
                pos += 2
            elif c == '"':  # a double quote inside a single-quoted or smart-quoted string
                out.append('\\"')
                pos += 1
            else:
                out.append(_CONTROL.get(c, f"\\u{ord(c):04x}"))
                self.note("newlines_in_strings")
                pos += 1

    def scalar(self, pos: int, key: bool) -> int:
        text = self.text
        c = text[pos]
        if c in "\"'" or c in _SMART_CLOSE:
            if c == '"':
                run, close = _DQ_RUN, '"'
            elif c == "'":
                run, close = _SQ_RUN, "'"
                self.note("single_quotes")
            else:
                close = _SMART_CLOSE[c]
                run = _SMART_RUN[close]
                self.note("smart_quotes")
            end, finished = self.string(pos + 1, close, run)
            if not finished:
                raise EOFError
            return end
        n = len(text)
        if not key and (m := _NUMBERISH.match(text, pos)):
            if _NUMBER.fullmatch(m.group()):
                self.out.append(m.group())
                return m.end()
            if m.end() >= n:
                raise EOFError  # a number cut short, like "12." or "1e"
            raise self.fail(pos, f"malformed number {m.group()[:20]!r}")
        m = _WORD.match(text, pos)
        if m is None:
            if text[pos:] == "-":
                raise EOFError
            raise self.fail(pos, "unexpected character")
        word = m.group()
        if m.end() >= n and not key and word in _LITERAL_PREFIXES:
            raise EOFError  # "tr" at the very end is a cut "true"
        if key:
            self.out.append(f'"{word}"')
            self.note("unquoted_keys")
        elif word in _LITERALS:
            self.out.append(word)
        elif word in _PYTHON:
            self.out.append(_PYTHON[word])
            self.note("python_literals")
        else:
            raise self.fail(pos, f"bare word {word[:20]!r} is not a JSON value")
        return m.end()

    def close(self, pos: int, c: str) -> None:
        if not self.stack or self.stack[-1] != _PAIRS[c]:
            raise self.fail(pos, f"unmatched {c!r}")
        if self.comma >= 0:
            self.out[self.comma] = ""
            self.note("trailing_commas")
        self.stack.pop()
        self.out.append(c)
        self.state = _AFTER if self.stack else _DONE
        self.comma = -1
        self.fresh = False

    def run(self) -> Repaired:
        text, n = self.text, len(self.text)
        pos = 0
        seen = False
        try:
            while True:
                pos = self.skip_space(pos)
                if pos >= n:
                    break
                seen = True
                c = text[pos]
                state = self.state
                if state == _DONE:
                    raise self.fail(pos, "text after the value")
                if c in "]}" and state in (_VALUE, _KEY) and (self.fresh or self.comma >= 0):
                    self.close(pos, c)
                    pos += 1
                elif state == _VALUE:
                    if c in "[{":
                        self.stack.append(c)
                        if len(self.stack) > MAX_DEPTH:
                            raise self.fail(pos, f"nesting deeper than {MAX_DEPTH}")
                        self.out.append(c)
                        self.state = _VALUE if c == "[" else _KEY
                        self.fresh, self.comma = True, -1
                        pos += 1
                        continue
                    pos = self.scalar(pos, key=False)
                    self.state = _AFTER if self.stack else _DONE
                    self.fresh, self.comma = False, -1
                elif state == _KEY:
                    pos = self.scalar(pos, key=True)
                    self.state, self.fresh, self.comma = _COLON, False, -1
                elif state == _COLON:
                    if c != ":":
                        raise self.fail(pos, "expected ':'")
                    self.out.append(":")
                    self.state = _VALUE
                    pos += 1
                elif c == ",":
                    self.comma = len(self.out)
                    self.out.append(",")
                    self.state = _KEY if self.stack[-1] == "{" else _VALUE
                    pos += 1
                elif c in "]}":
                    self.close(pos, c)
                    pos += 1
                else:
                    raise self.fail(pos, "expected ',' or a closing bracket")
        except _Invalid as e:
            return Repaired("", tuple(self.repairs), "invalid", str(e))
        except EOFError:
            pos = n
        out = "".join(self.out)
        if self.state == _DONE and pos >= n:
            return Repaired(out, tuple(self.repairs), "complete")
        if not seen:
            return Repaired("", tuple(self.repairs), "invalid", "no value")
        return Repaired(out, tuple(self.repairs), "truncated")


def repair(text: str) -> Repaired:
    """Rewrite one candidate into strict, compact JSON, naming each repair; never guess a value.

    Example:
        >>> r = repair("{'city': 'Paris', capital: True, /* cut */ 'tags': ['a',],}")
        >>> r.text, r.status
        ('{"city":"Paris","capital":true,"tags":["a"]}', 'complete')
        >>> r.repairs
        ('single_quotes', 'unquoted_keys', 'python_literals', 'comments', 'trailing_commas')
        >>> repair('{"city": "Paris", "capi').status
        'truncated'
        >>> repair("{city: Paris}").status
        'invalid'
    """
    return _Repairer(text).run()
