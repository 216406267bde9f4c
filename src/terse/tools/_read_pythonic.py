"""Readers of pythonic calls: ``[f(a=1, b='x'), g()]`` lists (Llama 4, LFM2, bare
pythonic) and Llama 3 ``<|python_tag|>`` (JSON or one pythonic call). Python literals are
read by hand, never evaluated."""

from __future__ import annotations

import json
import re
from typing import Any

from ._formats import CallFormat
from ._read import (
    _NAME,
    MAX_DEPTH,
    Block,
    Ctx,
    More,
    RawCall,
    _Bad,
    _calls_from_json,
    _tail,
    _value_at,
    _ws,
)

__all__ = ["python_tag", "pythonic"]


_PY_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_PY_WORD = re.compile(r"[A-Za-z_]\w*")
_PY_CONST = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}


class _Py:
    """A reader of Python literals and keyword calls (never `eval`)."""

    def __init__(self, text: str, recover: bool = True) -> None:
        self.t = text
        self.n = len(text)
        self.recover = recover  # skip a call with a bad argument (delimited lists only)

    def ws(self, p: int) -> int:
        return _ws(self.t, p)

    def need(self, p: int) -> None:
        if p >= self.n:
            raise More()

    def literal(self, p: int, depth: int = 0) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise _Bad()
        p = self.ws(p)
        self.need(p)
        c = self.t[p]
        if c in "'\"":
            return self.string(p)
        if c in "[(":
            close = "]" if c == "[" else ")"
            items: list[Any] = []
            p += 1
            while True:
                p = self.ws(p)
                self.need(p)
                if self.t[p] == close:
                    return items, p + 1
                v, p = self.literal(p, depth + 1)
                items.append(v)
                p = self.ws(p)
                self.need(p)
                if self.t[p] == ",":
                    p += 1
                elif self.t[p] != close:
                    raise _Bad()
        if c == "{":
            obj: dict[str, Any] = {}
            p += 1
            while True:
                p = self.ws(p)
                self.need(p)
                if self.t[p] == "}":
                    return obj, p + 1
                k, p = self.literal(p, depth + 1)
                p = self.ws(p)
                self.need(p)
                if self.t[p] != ":" or not isinstance(k, (str, int, float, bool)):
                    raise _Bad()
                v, p = self.literal(p + 1, depth + 1)
                obj[str(k) if not isinstance(k, str) else k] = v
                p = self.ws(p)
                self.need(p)
                if self.t[p] == ",":
                    p += 1
                elif self.t[p] != "}":
                    raise _Bad()
        m = _PY_NUMBER.match(self.t, p)
        if m:
            if m.end() >= self.n:
                raise More()
            s = m.group()
            return (float(s) if any(x in s for x in ".eE") else int(s)), m.end()
        m = _PY_WORD.match(self.t, p)
        if m:
            if m.end() >= self.n:
                raise More()
            if m.group() in _PY_CONST:
                return _PY_CONST[m.group()], m.end()
        raise _Bad()

    def string(self, p: int) -> tuple[str, int]:
        q = self.t[p]
        out: list[str] = []
        i = p + 1
        esc = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
        while True:
            self.need(i)
            c = self.t[i]
            if c == q:
                return "".join(out), i + 1
            if c == "\\":
                self.need(i + 1)
                e = self.t[i + 1]
                if e == "u":
                    self.need(i + 5)
                    try:
                        out.append(chr(int(self.t[i + 2 : i + 6], 16)))
                    except ValueError:
                        raise _Bad() from None
                    i += 6
                    continue
                out.append(esc.get(e, "\\" + e))
                i += 2
                continue
            if c == "\n":
                raise _Bad()
            out.append(c)
            i += 1

    def skip_call(self, p: int) -> int:
        """Skip to just after the ``)`` closing the call whose arguments start at ``p``."""
        depth = 1
        i = p
        while True:
            self.need(i)
            c = self.t[i]
            if c in "'\"":
                try:
                    _, i = self.string(i)
                except _Bad:
                    i += 1
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1

    def call(self, p: int) -> tuple[RawCall, int]:
        """``name(k=v, …)`` or ``name.call(k=v, …)`` at ``p``."""
        p = self.ws(p)
        self.need(p)
        m = re.compile(r"[A-Za-z_][\w.]*").match(self.t, p)
        if not m:
            raise _Bad()
        if m.end() >= self.n:
            raise More()
        name = m.group().removesuffix(".call")
        q = self.ws(m.end())
        self.need(q)
        if self.t[q] != "(":
            raise _Bad()
        args_start = q + 1
        q = args_start
        args: dict[str, Any] = {}
        try:
            while True:
                q = self.ws(q)
                self.need(q)
                if self.t[q] == ")":
                    q += 1
                    break
                km = _PY_WORD.match(self.t, q)
                if not km:
                    raise _Bad()
                kq = self.ws(km.end())
                self.need(kq)
                if self.t[kq] != "=":
                    raise _Bad()
                v, q = self.literal(kq + 1)
                args[km.group()] = v
                q = self.ws(q)
                self.need(q)
                if self.t[q] == ",":
                    q += 1
                elif self.t[q] != ")":
                    raise _Bad()
        except _Bad:
            if not self.recover:
                raise
            end = self.skip_call(args_start)
            raw = self.t[args_start : end - 1]
            return RawCall(name, raw, problem="an argument is not a plain literal"), end
        raw = json.dumps(args, ensure_ascii=False)
        return RawCall(name, raw, args=args), q


def pythonic(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    py = _Py(text, recover=not row.needs_tools)
    q = p if row.needs_tools else _ws(text, p)
    if not row.needs_tools:
        py.need(q)
        if text[q] != "[":
            return None
        q += 1
    # Bare lists ("[" opener) must start with a known tool name.
    if row.needs_tools:
        q0 = _ws(text, q)
        py.need(q0)
        m = _NAME.match(text, q0)
        if not m:
            return None
        if m.end() >= len(text):
            raise More()
        if ctx.names is None or m.group().removesuffix(".call") not in ctx.names:
            return None
    calls: list[RawCall] = []
    try:
        while True:
            q = _ws(text, q)
            py.need(q)
            if text[q] == "]" and calls:
                q += 1
                break
            call, q = py.call(q)
            calls.append(call)
            q = _ws(text, q)
            py.need(q)
            if text[q] == ",":
                q += 1
            elif text[q] != "]":
                return None
    except _Bad:
        return None
    return Block(_tail(text, q, row.close, ctx), calls)


def python_tag(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    if text[q] == "{":
        got = _value_at(text, q, ctx)
        if got is None:
            return None
        value, raw, end, repairs = got
        calls = _calls_from_json(value, raw, repairs)
    else:
        try:
            call, end = _Py(text).call(q)
        except _Bad:
            return None
        calls = [call]
    return Block(_tail(text, end, row.close, ctx), calls)
