"""Native ``tool_calls`` (the server parsed them), normalised: whole messages and stream deltas.

Servers disagree on the wire (``shared/reference/tools.md`` §1): ``arguments`` is a JSON
string, an object (Ollama's native API, llama.cpp's ``--tool-args-object``) or a string
holding JSON (double-encoded, LiteLLM); stream fragments come with a missing ``index``
(old Ollama), an ``index`` that is always 0 (Ollama, SGLang), the ``id`` on every chunk
(LiteLLM, SGLang), or the whole call in one chunk. `normalize_tool_calls` and
`NativeAccumulator` turn all of it into `ToolCall` objects or typed `ToolProblem` records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._bodies import RawCall, TooDeep, json_end, load_json
from ._calls import ParsedCalls, ToolCall, ToolProblem
from ._parse import CallDelta, CallStarted, finalize_call, parse_tool_calls
from ._schema import ToolLike, ToolSpec, tool_specs

__all__ = ["NativeAccumulator", "normalize_message", "normalize_tool_calls"]


def _specs(tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None) -> dict[str, ToolSpec] | None:
    if tools is None:
        return None
    if isinstance(tools, Mapping):
        return dict(tools)
    return tool_specs(tools)


def _raw_call(name: str, arguments: Any, cid: str | None, length: bool) -> RawCall:
    """One native call's arguments, read whatever shape they came in."""
    if arguments is None:
        return RawCall(name, "{}", args={}, id=cid)
    if isinstance(arguments, Mapping):
        args = dict(arguments)
        return RawCall(name, json.dumps(args, ensure_ascii=False), args=args, id=cid)
    if not isinstance(arguments, str):
        return RawCall(name, repr(arguments), id=cid, problem="the arguments are not a JSON object")
    text = arguments.strip()
    if not text:
        return RawCall(name, arguments, args={}, id=cid)
    got = load_json(text)
    repairs: tuple[str, ...] = ()
    if got is not None and isinstance(got[0], str):
        inner = load_json(got[0].strip()) if got[0].strip() else ({}, ())
        if inner is not None:
            got = inner[0], (*got[1], "double_encoded", *inner[1])
    if got is None:
        try:
            end, stack, in_string = json_end(text, 0) if text[:1] in "{[" else (-2, [], False)
        except TooDeep:
            end, stack, in_string = -2, [], False
        if end == -1:
            if length or in_string or stack != ["{"]:
                return RawCall(name, arguments, id=cid, truncated=True)
            got = load_json(text + "}")
            if got is not None:
                got = got[0], (*got[1], "missing_brace")
        if got is None:
            return RawCall(name, arguments, id=cid, problem="the arguments are not valid JSON")
    value, repairs = got
    if not isinstance(value, dict):
        return RawCall(name, arguments, id=cid, problem="the arguments are not a JSON object")
    return RawCall(name, arguments, args=value, id=cid, repairs=repairs)


def _collect(
    raws: Sequence[RawCall], specs: Mapping[str, ToolSpec] | None, seed: str
) -> ParsedCalls:
    calls: list[ToolCall] = []
    errors: list[ToolProblem] = []
    truncated: list[ToolProblem] = []
    for i, raw in enumerate(raws):
        if not raw.name and not raw.problem and not raw.truncated:
            raw.problem = "the call has no function name"
        got = finalize_call(raw, i, "native", specs, seed)
        if isinstance(got, ToolCall):
            calls.append(got)
        else:
            (truncated if got.kind == "truncated" else errors).append(got)
    return ParsedCalls(calls=tuple(calls), truncated=tuple(truncated), errors=tuple(errors))


def normalize_tool_calls(
    tool_calls: Sequence[Any] | None,
    tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
    *,
    finish_reason: str | None = None,
    seed: str = "",
) -> ParsedCalls:
    """Validate a message's ``tool_calls`` list (any server's shape) against the tools.

    Example:
        >>> p = normalize_tool_calls([{"function": {"name": "f", "arguments": {"x": 1}}}])
        >>> p.calls[0].name, p.calls[0].arguments, p.calls[0].id.startswith("call_")
        ('f', {'x': 1}, True)
    """
    raws: list[RawCall] = []
    for tc in tool_calls or ():
        if not isinstance(tc, Mapping):
            raws.append(RawCall("", repr(tc), problem="a tool call must be an object"))
            continue
        fn = tc.get("function")
        fn = fn if isinstance(fn, Mapping) else tc  # some servers flatten {"name", "arguments"}
        name = fn.get("name")
        cid = tc.get("id")
        raws.append(
            _raw_call(
                name if isinstance(name, str) else "",
                fn.get("arguments"),
                str(cid) if cid not in (None, "") else None,
                finish_reason == "length",
            )
        )
    return _collect(raws, _specs(tools), seed)


def normalize_message(
    message: Mapping[str, Any],
    tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
    *,
    finish_reason: str | None = None,
    seed: str = "",
) -> ParsedCalls:
    """Calls, text and reasoning of one assistant message, native calls or inline ones.

    Native ``tool_calls`` (or the legacy ``function_call``) win; without them the content is
    read for inline calls, with the reasoning field (``reasoning_content`` or ``reasoning``)
    searched only for drafts. Content and calls in one message are both kept.
    """
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    reasoning = reasoning if isinstance(reasoning, str) else None
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    native = message.get("tool_calls")
    if not native and isinstance(message.get("function_call"), Mapping):
        native = [{"function": message["function_call"]}]
    if native:
        got = normalize_tool_calls(native, tools, finish_reason=finish_reason, seed=seed)
        return ParsedCalls(
            calls=got.calls,
            text=text.strip(),
            reasoning=reasoning.strip() if reasoning is not None else None,
            truncated=got.truncated,
            errors=got.errors,
        )
    return parse_tool_calls(
        text, tools, reasoning=reasoning, closed=True, finish_reason=finish_reason, seed=seed
    )


@dataclass
class _Entry:
    pos: int
    index: Any
    id: str | None
    name: str = ""
    parts: list[str] = field(default_factory=list)
    obj: dict[str, Any] | None = None

    def text(self) -> str:
        return "".join(self.parts)

    def complete(self) -> bool:
        if self.obj is not None:
            return True
        t = self.text().strip()
        return bool(t) and load_json(t) is not None


class NativeAccumulator:
    """Streamed ``delta.tool_calls`` fragments, joined into calls.

    Calls are keyed by ``index``; a new ``id``, or a new name on an index whose call is
    already complete, starts a new call (Ollama sends index 0 for every call); a repeated
    ``id`` continues its call (LiteLLM, SGLang), and a trailing summary chunk that repeats a
    finished call is dropped. `add` returns `CallStarted` / `CallDelta` events.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._by_id: dict[str, _Entry] = {}
        self._by_index: dict[Any, _Entry] = {}

    def __len__(self) -> int:
        """How many calls have started so far."""
        return len(self._entries)

    def call_id(self, index: int) -> str | None:
        """The id the server sent for call ``index`` (its `CallStarted.index`), if any."""
        return self._entries[index].id

    def add(self, deltas: Sequence[Any] | None) -> list[CallStarted | CallDelta]:
        """Take one chunk's ``delta.tool_calls`` list."""
        out: list[CallStarted | CallDelta] = []
        for d in deltas or ():
            if not isinstance(d, Mapping):
                continue
            fn = d.get("function")
            fn = fn if isinstance(fn, Mapping) else {}
            cid = d.get("id") or None
            cid = str(cid) if cid is not None else None
            name = fn.get("name") or None
            args = fn.get("arguments")
            idx = d.get("index")
            entry = self._target(cid, name, idx, args)
            if entry is None:
                continue
            if name and not entry.name:
                entry.name = str(name)
                out.append(CallStarted(entry.pos, entry.name))
            if isinstance(args, Mapping):
                if entry.obj is None and not entry.parts:
                    entry.obj = dict(args)
                    out.append(CallDelta(entry.pos, json.dumps(entry.obj, ensure_ascii=False)))
                else:
                    frag = json.dumps(dict(args), ensure_ascii=False)
                    entry.parts.append(frag)
                    out.append(CallDelta(entry.pos, frag))
            elif isinstance(args, str) and args:
                entry.parts.append(args)
                out.append(CallDelta(entry.pos, args))
        return out

    def _target(self, cid: str | None, name: Any, idx: Any, args: Any) -> _Entry | None:
        if cid is not None and cid in self._by_id:
            entry = self._by_id[cid]
            if name and entry.complete() and args is not None and self._same_args(entry, args):
                return None  # a summary chunk repeating a finished call
            return entry
        if cid is None:
            cand = (
                self._by_index.get(idx)
                if idx is not None
                else (self._entries[-1] if self._entries else None)
            )
            if cand is not None and not (
                name and cand.name and (name != cand.name or cand.complete())
            ):
                return cand
        entry = _Entry(len(self._entries), idx, cid)
        self._entries.append(entry)
        self._by_index[idx] = entry
        if cid is not None:
            self._by_id[cid] = entry
        return entry

    @staticmethod
    def _same_args(entry: _Entry, args: Any) -> bool:
        have_v: Any = entry.obj
        if have_v is None:
            got0 = load_json(entry.text().strip())
            have_v = got0[0] if got0 is not None else None
        v: Any = args
        for _ in range(2):
            if isinstance(v, str):
                got = load_json(v.strip()) if v.strip() else None
                v = got[0] if got is not None else None
        return bool(v == have_v)

    def finish(
        self,
        tools: Iterable[ToolLike] | Mapping[str, ToolSpec] | None = None,
        *,
        finish_reason: str | None = None,
        seed: str = "",
    ) -> ParsedCalls:
        """The calls, validated (``finish_reason="length"``: an unparsable call is truncated)."""
        raws = [
            _raw_call(
                e.name, e.obj if e.obj is not None else e.text(), e.id, finish_reason == "length"
            )
            for e in self._entries
        ]
        return _collect(raws, _specs(tools), seed)
