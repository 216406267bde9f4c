"""Reading primitives shared by the body readers (``_read_*.py``) of inline tool calls.

A reader gets the text, the offset right after the opener, and a `Ctx`; it returns a
`Block` (the calls and where the block ends), ``None`` (this is not a call: the opener was
prose), or raises `More` when the text ends before the block does. The scanner turns
`More` into "wait for the next chunk" in a stream, and into a truncated call at the end.

Everything here is linear in the text it reads: closers are searched with JSON-string
awareness (a literal ``</tool_call>`` inside an argument ends nothing) and nothing
backtracks. Nesting is capped at `MAX_DEPTH`. Arguments are repaired only where safe
(trailing comma, single quotes, one missing brace), and each repair is named.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .._extract.jsonrepair import repair

__all__ = [
    "MAX_DEPTH",
    "Block",
    "Ctx",
    "More",
    "RawCall",
    "TooDeep",
    "json_end",
    "load_json",
]

MAX_DEPTH = 128
_SAFE_REPAIRS = frozenset({"trailing_commas", "single_quotes", "newlines_in_strings"})
_NAME = re.compile(r"[A-Za-z_][\w.\-]{0,127}")
_NAME_MAX = 256
_SKIP_TO: dict[str, re.Pattern[str]] = {}  # needle -> compiled pattern, filled lazily
_JSON_TOKEN = re.compile(r"""([\[{])|([\]}])|"(?:[^"\\]|\\.)*(?:"|\\?\Z)""", re.S)
_PAIRS = {"]": "[", "}": "{"}


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
    if needle.startswith('"'):
        return text.find(needle, p)  # a string's own quote: no string can hide it
    pat = _SKIP_TO.get(needle)
    if pat is None:
        # Runs of other characters, whole strings, and the needle's first character where
        # the rest does not follow: one match (no backtracking: the branches start with
        # different characters) stops at the needle, an unterminated string, or the end.
        x = re.escape(needle[0])
        pat = re.compile(
            rf'(?:[^"{x}]+|"[^"\\]*(?:\\.[^"\\]*)*"|{x}(?!{re.escape(needle[1:])}))*', re.S
        )
        if len(_SKIP_TO) < 256:
            _SKIP_TO[needle] = pat
    m = pat.match(text, p)
    e = m.end() if m is not None else p
    return e if text.startswith(needle, e) else -1


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


class _Bad(Exception):
    pass
