"""Readers of JSON call bodies: JSON in tags (Hermes, Granite, Nemotron, Command-R, …),
bare Llama JSON, and Functionary recipient lines (``NAME⏎{json}``)."""

from __future__ import annotations

from ._formats import CallFormat
from ._read import (
    Block,
    Ctx,
    More,
    RawCall,
    _at,
    _call_from_obj,
    _calls_from_json,
    _find,
    _find_outside_strings,
    _load_region,
    _name,
    _value_at,
    _ws,
)

__all__ = ["bare_json", "json_body", "recipient"]


def json_body(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    if row.fence:
        if not _at(text, q, "```"):
            return None
        nl = _find(text, "\n", q)
        if text[q + 3 : nl].strip() not in ("", "json"):
            return None
        q = _ws(text, nl + 1)
        if q >= len(text):
            raise More()
    if text[q] not in "{[":
        return None
    if row.name == "phi4_mini" and text[q] != "[":
        return None
    close = "```" if row.fence else row.close
    ci = -1
    if close:
        ci = _find_outside_strings(text, close, q, ctx)
        if ci != -1:
            got = _load_region(text[q:ci])
            if got is not None:
                return Block(ci + len(close), _calls_from_json(got[0], text[q:ci].strip(), got[1]))
        elif not ctx.final:
            raise More(need=close)
    got2 = _value_at(text, q, ctx)
    if got2 is None:
        if close and ci != -1:
            return Block(
                ci + len(close),
                [RawCall("", text[q:ci].strip(), problem="the call is not valid JSON")],
            )
        return None
    value, raw, end, repairs = got2
    e = _ws(text, end)
    if close and text.startswith(close, e):
        end = e + len(close)
    return Block(end, _calls_from_json(value, raw, repairs))


def bare_json(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    # p is right after "{": the value starts one character back.
    start = p - 1
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    if not _at(text, q, '"name"'):
        return None
    got = _value_at(text, start, ctx)
    if got is None:
        return None
    value, raw, end, repairs = got
    if not isinstance(value, dict) or ctx.names is None or value.get("name") not in ctx.names:
        return None
    if not set(value) <= {"name", "parameters", "arguments", "type"}:
        return None
    e = _ws(text, end)
    if e < len(text) and text[e] == ";":
        end = e + 1
    return Block(end, [_call_from_obj(value, raw, repairs)])


def recipient(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    got = _name(text, p)
    if got is None:
        return None
    name, q = got
    if ctx.names is None or name not in ctx.names:
        return None
    if not _at(text, q, "\n"):
        return None
    q = _ws(text, q + 1)
    if q >= len(text):
        raise More(name)
    if text[q] != "{":
        return None
    got2 = _value_at(text, q, ctx)
    if got2 is None:
        return None
    value, raw, end, repairs = got2
    if not isinstance(value, dict):
        return None
    return Block(end, [RawCall(name, raw, args=value, repairs=repairs)])
