"""Readers for the body of an inline tool-call block, one per body kind of `CallFormat`.

Each reader gets the text, the offset right after the opener, and a context; it returns a
`Block` (the calls and where the block ends), ``None`` (this is not a call: the opener was
prose), or raises `More` when the text ends before the block does. The scanner turns
`More` into "wait for the next chunk" in a stream, and into a truncated call at the end.

Every reader is linear in the block's length: closers are searched with JSON-string
awareness (a literal ``</tool_call>`` inside an argument ends nothing) and nothing
backtracks. Nesting is capped at `MAX_DEPTH`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .._extract.jsonrepair import repair
from ._formats import CallFormat

__all__ = ["MAX_DEPTH", "Block", "Ctx", "More", "RawCall", "TooDeep", "read_block"]

MAX_DEPTH = 128
_SAFE_REPAIRS = frozenset({"trailing_commas", "single_quotes", "newlines_in_strings"})
_NAME = re.compile(r"[A-Za-z_][\w.\-]{0,127}")
_NAME_MAX = 256
_STRING_OR: dict[str, re.Pattern[str]] = {}  # needle -> compiled pattern, filled lazily
_JSON_TOKEN = re.compile(r"""([\[{])|([\]}])|"(?:[^"\\]|\\.)*(?:"|\\?\Z)""", re.S)
_PAIRS = {"]": "[", "}": "{"}
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


class TooDeep(Exception):
    """Nesting beyond `MAX_DEPTH`: not a call; ``stop`` is where reading gave up."""

    def __init__(self, stop: int) -> None:
        super().__init__(stop)
        self.stop = stop


class More(Exception):
    """The text ended before the block did.

    ``need``, when set, is a string the read cannot go on without: the reader searched
    for it and it is not in the text yet, and nothing before that search depends on text
    still to come. The scanner re-reads the block only once ``need`` has arrived.
    """

    def __init__(self, name: str = "", tail: bool = False, need: str = "") -> None:
        super().__init__(name)
        self.name = name
        self.tail = tail
        self.need = need


@dataclass(frozen=True)
class Ctx:
    """What a reader needs besides the text."""

    final: bool
    length: bool = False  # finish_reason == "length": a cut is never "repaired"
    names: frozenset[str] | None = None  # known tool names; None when no tools were given
    # needle -> length of a suffix of the text known not to hold it (the scanner only ever
    # drops text from the front while one Ctx lives, so a missing closer is searched once).
    absent: dict[str, int] = field(default_factory=dict)


@dataclass
class RawCall:
    """One call as written, before validation."""

    name: str
    raw: str
    args: dict[str, Any] | None = None  # parsed (JSON formats)
    texts: dict[str, str] | None = None  # untyped values (XML formats)
    id: str | None = None
    repairs: tuple[str, ...] = ()
    problem: str = ""  # why it cannot be read (malformed)
    truncated: bool = False


@dataclass
class Block:
    """A block of calls read from the text."""

    end: int
    calls: list[RawCall] = field(default_factory=list)


# --- small helpers ------------------------------------------------------------------------


def _ws(text: str, p: int) -> int:
    n = len(text)
    while p < n and text[p].isspace():
        p += 1
    return p


def _at(text: str, p: int, lit: str) -> bool:
    """Whether ``lit`` is at ``p``; raise `More` if the text ends inside a prefix of it."""
    if text.startswith(lit, p):
        return True
    rest = len(text) - p
    if rest < len(lit) and lit.startswith(text[p:]):
        raise More()
    return False


def _find(text: str, needle: str, p: int) -> int:
    """Index of ``needle`` at or after ``p`` (plain search), or raise `More`."""
    i = text.find(needle, p)
    if i == -1:
        raise More(need=needle)
    return i


def _find_outside_strings(text: str, needle: str, p: int, ctx: Ctx | None = None) -> int:
    """Index of ``needle`` outside JSON strings, at or after ``p``; -1 if absent."""
    if ctx is not None and len(text) - p <= ctx.absent.get(needle, -1):
        return -1
    if text.find(needle, p) == -1:
        if ctx is not None:
            ctx.absent[needle] = len(text) - p
        return -1
    pat = _STRING_OR.get(needle)
    if pat is None:
        pat = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|' + re.escape(needle), re.S)
        if len(_STRING_OR) < 256:
            _STRING_OR[needle] = pat
    for m in pat.finditer(text, p):
        if m.group()[:1] != '"' or needle.startswith('"'):
            return m.start()
    return -1


def _name(text: str, p: int) -> tuple[str, int] | None:
    if p >= len(text):
        raise More()
    m = _NAME.match(text, p)
    if m is None:
        return None
    if m.end() == len(text):
        raise More()
    return m.group(), m.end()


def json_end(text: str, p: int) -> tuple[int, list[str], bool]:
    """End of the JSON value opening at ``text[p]`` (``{`` or ``[``), skipping strings.

    Returns ``(end, stack, in_string)``: ``end`` is -1 when the text ends first (then
    ``stack`` holds the unclosed brackets), -2 for a mismatched bracket. Raises `TooDeep`
    past `MAX_DEPTH`.
    """
    stack: list[str] = []
    for m in _JSON_TOKEN.finditer(text, p):
        o, c = m.group(1), m.group(2)
        if o:
            stack.append(o)
            if len(stack) > MAX_DEPTH:
                raise TooDeep(m.end())
        elif c:
            if not stack or stack[-1] != _PAIRS[c]:
                return -2, stack, False
            stack.pop()
            if not stack:
                return m.end(), stack, False
        else:
            s = m.group()
            if len(s) < 2 or not s.endswith('"') or _odd_backslashes(s):
                return -1, stack, True
    return -1, stack, False


def _odd_backslashes(s: str) -> bool:
    n = 0
    i = len(s) - 2
    while i >= 0 and s[i] == "\\":
        n += 1
        i -= 1
    return n % 2 == 1


def load_json(raw: str) -> tuple[Any, tuple[str, ...]] | None:
    """Parse JSON, repairing only safe mistakes; None when it cannot be read."""
    try:
        return json.loads(raw), ()
    except (ValueError, RecursionError):
        pass
    r = repair(raw)
    if r.status == "complete" and set(r.repairs) <= _SAFE_REPAIRS:
        try:
            return json.loads(r.text), tuple(r.repairs)
        except (ValueError, RecursionError):
            return None
    return None


def _value_at(
    text: str, p: int, ctx: Ctx, *, envelope: bool = False
) -> tuple[Any, str, int, tuple[str, ...]] | None:
    """Read the JSON value opening at ``p``: (value, raw, end, repairs), or None if broken.

    Raises `More` when the text ends inside it, unless this is the end of the output and
    one missing closing brace completes it (and the output was not cut by the token limit).
    """
    end, stack, in_string = json_end(text, p)
    if end == -2:
        return None
    if end == -1:
        if ctx.final and not ctx.length and not in_string and stack == ["{"]:
            raw = text[p:].rstrip()
            got = load_json(raw + "}")
            if got is not None:
                return got[0], raw, len(text), (*got[1], "missing_brace")
        raise More()
    raw = text[p:end]
    got = load_json(raw)
    if got is None:
        return None
    return got[0], raw, end, got[1]


def _load_region(region: str) -> tuple[Any, tuple[str, ...]] | None:
    """Parse a JSON region whose envelope is complete; one missing brace may be added."""
    region = region.strip()
    got = load_json(region)
    if got is not None:
        return got
    try:
        end, stack, in_string = json_end(region, 0) if region[:1] in "{[" else (-2, [], False)
    except TooDeep:
        return None
    if end == -1 and stack == ["{"] and not in_string:
        got = load_json(region + "}")
        if got is not None:
            return got[0], (*got[1], "missing_brace")
    return None


def _call_from_obj(obj: Any, raw: str, repairs: tuple[str, ...]) -> RawCall:
    """A call from a JSON call object: {"name", "arguments"|"parameters"} and variants."""
    if not isinstance(obj, dict):
        return RawCall("", raw, problem="a call must be a JSON object")
    fn = obj.get("function")
    if isinstance(fn, dict) and "name" in fn:
        obj = {**fn, "id": obj.get("id")}
    name = obj.get("name", obj.get("tool_name"))
    if not isinstance(name, str) or not name:
        return RawCall("", raw, problem="the call has no name")
    key = next((k for k in ("arguments", "parameters", "args") if k in obj), None)
    args: Any = obj.get(key, {}) if key else {}
    raw_args = json.dumps(args, ensure_ascii=False) if not isinstance(args, str) else args
    if isinstance(args, str):
        got = load_json(args) if args.strip() else ({}, ())
        if got is None or not isinstance(got[0], dict):
            return RawCall(name, args, problem="the arguments are not a JSON object")
        args, repairs = got[0], (*repairs, "double_encoded", *got[1])
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return RawCall(name, raw_args, problem="the arguments are not a JSON object")
    cid = obj.get("id", obj.get("tool_call_id"))
    return RawCall(
        name, raw_args, args=args, id=str(cid) if cid not in (None, "") else None, repairs=repairs
    )


def _calls_from_json(value: Any, raw: str, repairs: tuple[str, ...]) -> list[RawCall]:
    if isinstance(value, list):
        return [_call_from_obj(v, json.dumps(v, ensure_ascii=False), repairs) for v in value]
    return [_call_from_obj(value, raw, repairs)]


# --- readers ----------------------------------------------------------------------------


def _json_body(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _xml_function(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _tail(text: str, end: int, close: str, ctx: Ctx) -> int:
    """Consume an optional closer after the block (whitespace before it allowed)."""
    if not close:
        return end
    e = _ws(text, end)
    if e >= len(text):
        if ctx.final:
            return end
        raise More(tail=True)
    try:
        at = _at(text, e, close)
    except More:
        raise More(tail=True) from None
    if at:
        return e + len(close)
    return end


def _glm(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _invoke(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _section(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _mistral(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _bare_json(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _recipient(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


# --- pythonic calls: [f(a=1, b='x'), g()] -------------------------------------------------


class _Bad(Exception):
    pass


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


def _pythonic(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _python_tag(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


def _gemma(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
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


_READERS = {
    "json": _json_body,
    "xml_function": _xml_function,
    "glm": _glm,
    "invoke": _invoke,
    "section": _section,
    "mistral": _mistral,
    "bare_json": _bare_json,
    "recipient": _recipient,
    "pythonic": _pythonic,
    "python_tag": _python_tag,
    "gemma": _gemma,
}


def read_block(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    """Read the block whose opener ended at ``p`` (raises `More` if the text ends first)."""
    return _READERS[row.body](row, text, p, ctx)
