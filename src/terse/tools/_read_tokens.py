"""Readers of token-delimited bodies: DeepSeek V3/V3.1 and Kimi K2 sections, Mistral
``[TOOL_CALLS]``, and Gemma 4 ``call:NAME{…}``."""

from __future__ import annotations

import re
from typing import Any

from ._formats import CallFormat
from ._read import (
    _NAME_MAX,
    MAX_DEPTH,
    Block,
    Ctx,
    More,
    RawCall,
    _at,
    _Bad,
    _calls_from_json,
    _find,
    _find_outside_strings,
    _load_region,
    _name,
    _tail,
    _value_at,
    _ws,
    load_json,
)

__all__ = ["gemma", "mistral", "section"]


def section(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    calls: list[RawCall] = []
    q = p
    first = True
    while True:
        if not (row.bare and first):
            q = _ws(text, q)
            if q >= len(text):
                raise More()
            if row.close and _at(text, q, row.close):
                return Block(q + len(row.close), calls)
            if row.bare:
                return Block(q, calls)
            if not _at(text, q, row.call_open):
                return None if not calls else Block(q, calls)
            q += len(row.call_open)
        first = False
        si = text.find(row.sep, q, q + _NAME_MAX + len(row.sep))
        if si == -1:
            if len(text) - q < _NAME_MAX + len(row.sep):
                raise More()
            return None
        header = text[q:si].strip()
        ce = _find_outside_strings(text, row.call_close, si + len(row.sep), ctx)
        if ce == -1:
            raise More(_header_name(header), need=row.call_close)
        body = text[si + len(row.sep) : ce]
        cid: str | None = None
        if row.header == "kimi":
            name = _header_name(header)
            cid = header
        elif header == "function":
            name, _, body = body.partition("\n")
            name = name.strip()
            body = body.strip()
            if body.startswith("```"):
                body = body.partition("\n")[2] if "\n" in body else body[3:]
            body = body.strip()
            if body.endswith("```"):
                body = body[:-3]
        else:
            name = header
        if not name:
            return None
        got = _load_region(body) if body.strip() else ({}, ())
        if got is None or not isinstance(got[0], dict):
            calls.append(
                RawCall(name, body.strip(), problem="the arguments are not a JSON object", id=cid)
            )
        else:
            calls.append(RawCall(name, body.strip(), args=got[0], id=cid, repairs=got[1]))
        q = ce + len(row.call_close)
        if row.bare:
            return Block(q, calls)


def _header_name(header: str) -> str:
    name = header.removeprefix("functions.")
    if ":" in name:
        name = name.rsplit(":", 1)[0]
    return name.strip()


def mistral(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    if text[q] == "[":
        got = _value_at(text, q, ctx)
        if got is None:
            return None
        value, raw, end, repairs = got
        return Block(end, _calls_from_json(value, raw, repairs))
    got_name = _name(text, q)
    if got_name is None:
        return None
    name, q = got_name
    cid = None
    if _at(text, q, "[CALL_ID]"):
        a = _find(text, "[ARGS]", q)
        cid = text[q + len("[CALL_ID]") : a].strip()
        q = a
    if not _at(text, q, "[ARGS]"):
        return None
    q = _ws(text, q + len("[ARGS]"))
    if q >= len(text):
        raise More(name)
    if text[q] != "{":
        return None
    try:
        got = _value_at(text, q, ctx)
    except More as e:
        raise More(name, need=e.need) from None
    if got is None:
        return Block(
            len(text), [RawCall(name, text[q:], problem="the arguments are not valid JSON")]
        )
    value, raw, end, repairs = got
    return Block(end, [RawCall(name, raw, args=value, id=cid, repairs=repairs)])


# --- Gemma 4: call:NAME{k:<|"|>v<|"|>,n:1} ---------------------------------------------

_GQ = '<|"|>'


def _gemma_value(text: str, p: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise _Bad()
    p = _ws(text, p)
    if p >= len(text):
        raise More()
    if _at(text, p, _GQ):
        e = _find(text, _GQ, p + len(_GQ))
        return text[p + len(_GQ) : e], e + len(_GQ)
    c = text[p]
    if c == "{":
        obj: dict[str, Any] = {}
        p += 1
        while True:
            p = _ws(text, p)
            if p >= len(text):
                raise More()
            if text[p] == "}":
                return obj, p + 1
            m = re.compile(r"[^:{}\[\],\s]+").match(text, p)
            if not m:
                raise _Bad()
            k = m.group().strip(_GQ)
            p = _ws(text, m.end())
            if p >= len(text):
                raise More()
            if text[p] != ":":
                raise _Bad()
            obj[k], p = _gemma_value(text, p + 1, depth + 1)
            p = _ws(text, p)
            if p >= len(text):
                raise More()
            if text[p] == ",":
                p += 1
    if c == "[":
        items: list[Any] = []
        p += 1
        while True:
            p = _ws(text, p)
            if p >= len(text):
                raise More()
            if text[p] == "]":
                return items, p + 1
            v, p = _gemma_value(text, p, depth + 1)
            items.append(v)
            p = _ws(text, p)
            if p >= len(text):
                raise More()
            if text[p] == ",":
                p += 1
    m = re.compile(r"[^,}\]]+").match(text, p)
    if not m:
        raise _Bad()
    if m.end() >= len(text):
        raise More()
    word = m.group().strip()
    got = load_json(word)
    return (got[0] if got is not None else word), m.end()


def gemma(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    if not _at(text, q, "call:"):
        return None
    got = _name(text, q + 5)
    if got is None:
        return None
    name, q = got
    if text[q] != "{":
        return None
    try:
        value, end = _gemma_value(text, q, 0)
    except _Bad:
        return None
    except More as e:
        raise More(name, need=e.need) from None
    return Block(_tail(text, end, row.close, ctx), [RawCall(name, text[q:end], args=value)])
