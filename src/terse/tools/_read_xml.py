"""Readers of XML parameter bodies: Qwen3-Coder/Seed-OSS ``<function=N><parameter=k>``,
GLM ``arg_key``/``arg_value``, and MiniMax/DSML ``invoke`` blocks. Values stay text here;
`terse.tools._schema` types them by the tool's schema."""

from __future__ import annotations

import re
from typing import Any

from ._formats import CallFormat
from ._read import (
    _NAME_MAX,
    Block,
    Ctx,
    More,
    RawCall,
    _at,
    _call_from_obj,
    _find,
    _name,
    _tail,
    _value_at,
    _ws,
    load_json,
)

__all__ = ["glm", "invoke", "xml_function"]


_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def xml_function(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = p
    if not row.bare:
        q = _ws(text, p)
        if q >= len(text):
            raise More()
        if not _at(text, q, "<function="):
            return None
        q += len("<function=")
    gt = text.find(">", q, q + _NAME_MAX)
    if gt == -1:
        if len(text) - q < _NAME_MAX and "\n" not in text[q:]:
            raise More()
        return None
    name = text[q:gt].strip()
    if not name or any(c in name for c in "<\n\"'"):
        return None
    q = gt + 1
    texts: dict[str, str] = {}
    parts: list[str] = []
    body_start = q
    try:
        while True:
            q = _ws(text, q)
            if q >= len(text):
                raise More(name)
            if _at(text, q, "<parameter="):
                gt = _find(text, ">", q)
                key = text[q + len("<parameter=") : gt].strip()
                ce = _find(text, "</parameter>", gt + 1)
                value = text[gt + 1 : ce]
                if row.trim:
                    value = value[1:] if value.startswith("\n") else value
                    value = value[:-1] if value.endswith("\n") else value
                texts[key] = value
                q = ce + len("</parameter>")
            elif not texts and text[q] == "{":
                got = _value_at(text, q, ctx)
                if got is None:
                    return None
                value_, raw_, end, repairs = got
                e = _ws(text, end)
                if not _at(text, e, "</function>"):
                    if e >= len(text):
                        raise More(name)
                    return None
                call = _call_from_obj({"name": name, "arguments": value_}, raw_, repairs)
                call.raw = raw_
                return Block(_tail(text, e + len("</function>"), row.close, ctx), [call])
            elif _at(text, q, "</function>"):
                raw = text[body_start:q].strip()
                parts.append(raw)
                return Block(
                    _tail(text, q + len("</function>"), row.close, ctx),
                    [RawCall(name, raw, texts=texts)],
                )
            else:
                return None
    except More as e:
        raise More(name, e.tail, e.need) from None


def glm(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    q = _ws(text, p)
    if q >= len(text):
        raise More()
    got = _name(text, q)
    if got is None:
        return None
    name, q = got
    texts: dict[str, str] = {}
    start = q
    while True:
        q = _ws(text, q)
        if q >= len(text):
            raise More(name)
        if _at(text, q, "<arg_key>"):
            ke = _find(text, "</arg_key>", q)
            key = text[q + len("<arg_key>") : ke].strip()
            q = _ws(text, ke + len("</arg_key>"))
            if q >= len(text):
                raise More(name)
            if not _at(text, q, "<arg_value>"):
                return None
            ve = _find(text, "</arg_value>", q)
            texts[key] = text[q + len("<arg_value>") : ve]
            q = ve + len("</arg_value>")
        elif _at(text, q, row.close):
            return Block(q + len(row.close), [RawCall(name, text[start:q].strip(), texts=texts)])
        else:
            return None


def invoke(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    pre = row.prefix
    inv_open, inv_close = f"<{pre}invoke", f"</{pre}invoke>"
    par_open, par_close = f"<{pre}parameter", f"</{pre}parameter>"
    calls: list[RawCall] = []
    q = p
    while True:
        q = _ws(text, q)
        if q >= len(text):
            raise More(calls[-1].name if calls else "")
        if _at(text, q, row.close):
            return Block(q + len(row.close), calls)
        if not _at(text, q, inv_open):
            return None if not calls else Block(q, calls)
        gt = _find(text, ">", q)
        attrs = dict(_ATTR.findall(text, q, gt))
        name = attrs.get("name", "")
        if not name:
            return None
        q = gt + 1
        start = q
        texts: dict[str, str] = {}
        json_keys: dict[str, Any] = {}
        while True:
            q = _ws(text, q)
            if q >= len(text):
                raise More(name)
            if _at(text, q, par_open):
                gt = _find(text, ">", q)
                pattrs = dict(_ATTR.findall(text, q, gt))
                ce = _find(text, par_close, gt + 1)
                value = text[gt + 1 : ce]
                if row.trim:
                    value = value[1:] if value.startswith("\n") else value
                    value = value[:-1] if value.endswith("\n") else value
                key = pattrs.get("name", "")
                if pattrs.get("string") == "false":
                    got = load_json(value.strip())
                    if got is not None:
                        json_keys[key] = got[0]
                texts[key] = value
                q = ce + len(par_close)
            elif _at(text, q, inv_close):
                call = RawCall(name, text[start:q].strip(), texts=texts)
                if json_keys:
                    call.args = json_keys
                calls.append(call)
                q += len(inv_close)
                break
            else:
                return None
