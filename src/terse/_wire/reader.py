"""Reading one response's events: from bytes, SSE lines or a whole body to text pieces.

A `ChunkReader` frames a stream's bytes into SSE events (`terse._wire.sse.SSEDecoder`),
parses each event's JSON, and reads the first choice of every response shape terse
knows — chat (``delta``/``message``), completions (``text``) and llama.cpp's native
``/completion`` — into a reasoning string (whichever field carries it) and a content
string, which it hands to its ``take`` callback, and the server-parsed tool calls
(``message.tool_calls``, streamed ``delta.tool_calls``, the legacy ``function_call``),
which it hands as they are to its ``calls`` callback. It keeps what the response says
about itself: the finish reason, the server's usage, a dialect hint, the response id, an
error, and whether the response is done (``[DONE]``, an error, or a whole body).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import ProtocolError, TerseError
from .._results import AnswerDelta, ReasoningDelta, ToolCallDelta
from .._server.dialects import detect_from_response
from .sse import SSEDecoder, parse_json
from .usage import _int
from .verdict import server_error

__all__ = ["ChunkReader"]

_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")

Events = list[ReasoningDelta | AnswerDelta | ToolCallDelta]
Calls = Callable[[list[Any], bool], Events]
"""Takes one choice's ``tool_calls`` list, and whether it is a whole message (not a delta)."""


class ChunkReader:
    """Reads one response into (reasoning, content) pieces for ``take``.

    Args:
        take: Called with the reasoning and content text of each choice delta; returns
            the events they released, which the ``feed_*`` methods return.
        partial: Gives an error of the decoder (a line past `Limits.line`) the text kept
            so far.
        line_limit: The longest SSE line accepted (`Limits.line`).
        calls: Called with each choice's ``tool_calls`` (None: they are ignored).
        cut: Whether the thinking budget was reached: then the rest of a chunk's events
            are not read, so a burst of many events in one chunk stops where one event
            per chunk would (the cut does not depend on how the bytes were split).
    """

    __slots__ = (
        "_calls",
        "_cut",
        "_decoder",
        "_line_limit",
        "_partial",
        "_seen_chunk",
        "_take",
        "done",
        "error",
        "finish",
        "hint",
        "response_id",
        "usage",
        "whole",
    )

    def __init__(
        self,
        take: Callable[[str, str], Events],
        partial: Callable[[TerseError], TerseError],
        line_limit: int,
        calls: Calls | None = None,
        cut: Callable[[], bool] = lambda: False,
    ) -> None:
        self._take = take
        self._cut = cut
        self._calls = calls
        self._partial = partial
        self._line_limit = line_limit
        self._decoder: SSEDecoder | None = None
        self._seen_chunk = False
        self.done = False
        self.error: TerseError | None = None
        self.finish: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.hint: str | None = None
        self.response_id: str | None = None
        self.whole = False  # one body: chunks say nothing about token counts

    def fail(self, error: TerseError) -> None:
        """The response ends in ``error`` (the first one recorded wins)."""
        if self.error is None:
            self.error = error
        self.done = True

    def feed_bytes(self, chunk: bytes) -> Events:
        """Take raw bytes of an event stream; return the pieces they released."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = SSEDecoder(self._line_limit)
        try:
            events = decoder.feed(chunk)
        except TerseError as exc:
            self.fail(self._partial(exc))
            return []
        return self._feed_events(events) if events else []

    def end_stream(self) -> Events:
        """The event stream ended (the server closed it): release its last event."""
        decoder = self._decoder
        if decoder is None or self.done:
            return []
        try:
            events = decoder.finish()
        except TerseError as exc:
            self.fail(self._partial(exc))
            return []
        out = self._feed_events(events) if events else []
        if not decoder.fields and not self.done and decoder.head.strip():
            # Not an event stream at all: an HTML page, or a JSON body sent to a stream
            # request by a server that ignores "stream": say what arrived.
            from .sse import _html_error, _looks_html

            head = decoder.head
            if _looks_html(head):
                self.fail(_html_error(head))
            else:
                text = head.decode("utf-8", "replace")
                self.fail(ProtocolError("the server's stream held no SSE events", text))
        return out

    def _feed_events(self, events: list[tuple[str, str]]) -> Events:
        out: Events = []
        cut = self._cut
        for kind, data in events:
            if self.done or cut():
                break
            if kind == "message":
                got = self.feed_data(data)
            elif kind == "error":
                self._error_event(data)
                got = []
            else:
                continue  # a named event terse does not know (e.g. "ping")
            if got:
                out.extend(got)
        return out

    def _error_event(self, data: str) -> None:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            obj = None
        status = 500
        if isinstance(obj, Mapping):
            err = obj.get("error", obj)
            code = _int(err.get("code")) if isinstance(err, Mapping) else None
            code = code or _int(obj.get("code"))
            if code is not None and 400 <= code <= 599:
                status = code
        error = server_error(status, data or "the server sent an error event")
        self.fail(error)

    def feed_line(self, line: str) -> Events:
        """Take one SSE line; return the reasoning and answer pieces it released."""
        if not line.startswith("data:") or self.done:
            return []
        return self.feed_data(line[6:] if line[5:6] == " " else line[5:])

    def feed_data(self, data: str) -> Events:
        """Take the ``data`` of one SSE message event."""
        if self.done:
            return []
        if data.endswith("]") and data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            obj = json.loads(data)
        except RecursionError:
            self.fail(ProtocolError("server sent a stream event nested too deeply", data[:2000]))
            return []
        except ValueError:
            if "\n" in data:  # a sloppy server's events on consecutive lines: one at a time
                return self._feed_lines(data)
            self.fail(ProtocolError("server sent a stream line that is not JSON", data[:2000]))
            return []
        if type(obj) is not dict:
            self.fail(ProtocolError("server sent a stream event that is not an object", data))
            return []
        return self.feed_chunk(obj)

    def _feed_lines(self, data: str) -> Events:
        out: Events = []
        for part in data.split("\n"):
            if part.strip():
                out.extend(self.feed_data(part))
        return out

    def feed_whole(self, data: bytes) -> None:
        """Take a whole non-streamed response body as bytes."""
        try:
            obj = parse_json(data)
        except TerseError as exc:
            self.fail(exc)
            return
        self.feed_body(obj)

    def feed_chunk(self, obj: Mapping[str, Any]) -> Events:
        """Take one parsed stream event (chat, completions or llama.cpp ``/completion``)."""
        choices = obj.get("choices")
        if "error" in obj and not choices:
            err = obj["error"]
            code = _int(err.get("code")) if isinstance(err, Mapping) else None
            self.fail(server_error(code or _int(obj.get("code")) or 500, json.dumps(obj)))
            return []
        if self.hint is None and (not self._seen_chunk or "usage" in obj or "timings" in obj):
            self.hint = detect_from_response(obj)
        if not self._seen_chunk:
            rid = obj.get("id")
            self.response_id = rid if type(rid) is str else None
        self._seen_chunk = True
        usage = obj.get("usage")
        if usage and isinstance(usage, Mapping):
            self.usage = usage
        reasoning = ""
        content: Any = None
        calls: Any = None
        message = False
        if choices and type(choices) is list:
            choice = choices[0]
            if not isinstance(choice, Mapping):
                return []
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message")
                message = True
            if isinstance(delta, Mapping):
                content = delta.get("content")
                reasoning = _reasoning_of(delta)
                calls = delta.get("tool_calls")
                if not calls and isinstance(delta.get("function_call"), Mapping):
                    calls = [{"function": delta["function_call"]}]
            if content is None:
                content = choice.get("text")
            finish = choice.get("finish_reason")
            if finish is not None and isinstance(finish, str):
                self.finish = finish
        elif "content" in obj and "stop" in obj:  # llama.cpp native /completion chunk
            content = obj.get("content")
            if obj.get("stop"):
                self.finish = "length" if obj.get("stopped_limit") else "stop"
        else:
            return []
        if calls and type(calls) is list and self._calls is not None:
            out = self._take(reasoning, content if type(content) is str else "")
            out.extend(self._calls(calls, message))
            return out
        if not reasoning and not content:
            return []
        return self._take(reasoning, content if type(content) is str else "")

    def feed_body(self, obj: Any) -> None:
        """Take a whole non-streamed response body."""
        if not isinstance(obj, Mapping):
            self.fail(ProtocolError("server response is not a JSON object", str(obj)[:2000]))
            return
        self.whole = True  # one body: chunks say nothing about token counts
        self.feed_chunk(obj)
        self.done = True


def _reasoning_of(delta: Mapping[str, Any]) -> str:
    """The reasoning text of a message or delta, whichever field carries it.

    The vLLM transition sends ``reasoning`` and ``reasoning_content`` with the same text:
    it counts once. Should they ever differ, ``reasoning`` (the current name) wins.
    """
    found = delta.get("reasoning")
    if found and type(found) is str:
        return found
    for key in _REASONING_KEYS:
        value = delta.get(key)
        if value and type(value) is str:
            return value
    return ""
