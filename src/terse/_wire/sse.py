"""Bytes from a server, read safely: size limits, SSE framing, strict JSON. No I/O.

Everything a server sends passes through here before the `Assembler` sees it, so every
byte sequence becomes either data or a typed `TerseError`:

- `SSEDecoder` frames a ``text/event-stream`` body per the WHATWG spec: lines end only at
  CR, LF or CRLF (never at U+2028, U+2029 or U+0085, which are legal unescaped inside a
  JSON string and which llama.cpp sends), ``:`` comments are skipped, several ``data:``
  lines of one event are joined with ``\\n``, and an ``event: error`` (or llama.cpp's
  ``error:`` line) is an error event. It works on raw byte chunks, decodes each batch of
  complete lines once, and refuses a line longer than `Limits.line`.
- `parse_json` turns a body into an object or a `ProtocolError`: invalid UTF-8, JSON
  nested too deep for the parser, an HTML page where JSON was expected.
- `bounded_stream` caps what openai's own code may read of a response (an error body, a
  probe's body), so a server that floods an error page cannot fill memory.

UTF-8 is strict everywhere, streamed or whole: JSON must be UTF-8 (RFC 8259), and
replacing bad bytes with U+FFFD would silently change an answer, which terse treats as
worse than an error (a retry may get clean bytes).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._exceptions import ProtocolError, ResponseTooLarge, UsageError

__all__ = ["Limits", "SSEDecoder", "bounded_stream", "parse_json"]

MiB = 1024 * 1024

ERROR_BODY_MAX = 64 * 1024
"""Bytes of an HTTP error body read for its message; the rest is dropped unread."""


@dataclass(frozen=True)
class Limits:
    """How much one response may hold in memory; pass as ``Client(limits=...)``.

    Each limit guards one place a server could make terse buffer without end. Going over
    one raises `ResponseTooLarge` (a `TransportError`, not retried by default) with what
    was read so far kept on it; nothing aborts. The defaults are far above what a real
    response needs (a 128k-token reasoning is about 0.5 MB) and far below what would hurt.

    Args:
        body: Bytes of a whole response body that is not a stream (a non-streamed
            completion, a probe's reply). Default 32 MiB.
        line: Bytes of one SSE line, and characters of one event's joined ``data``.
            Default 8 MiB.
        reasoning: Characters of reasoning kept for one response. Default 16 MiB.
        answer: Characters of answer kept for one response. Default 16 MiB.
    """

    body: int = 32 * MiB
    line: int = 8 * MiB
    reasoning: int = 16 * MiB
    answer: int = 16 * MiB

    def __post_init__(self) -> None:
        for name in ("body", "line", "reasoning", "answer"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise UsageError(f"Limits.{name} must be a positive int, not {value!r}")


DEFAULT_LIMITS = Limits()


def _looks_html(head: bytes | str) -> bool:
    start = head[:512].lstrip()[:1]
    return start in ("<", b"<")


def _html_error(head: bytes | str) -> ProtocolError:
    text = head if isinstance(head, str) else head[:2000].decode("utf-8", "replace")
    return ProtocolError(
        "the server sent an HTML page, not an API response (a proxy, login or error page? "
        "check base_url)",
        text[:2000],
    )


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8, or a `ProtocolError` saying where the bad bytes are."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"the server sent invalid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 4]!r})",
            data[: min(exc.start, 2000)].decode("utf-8", "replace"),
        ) from None


def parse_json(data: bytes | str) -> Any:
    """Parse a response body: the object, or a `ProtocolError` that says what arrived."""
    text = decode_utf8(data) if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except RecursionError:
        raise ProtocolError(
            "the server's JSON is nested too deeply to parse", text[:2000]
        ) from None
    except ValueError as exc:
        if _looks_html(text):
            raise _html_error(text) from None
        raise ProtocolError(f"the server's response is not JSON: {exc}", text[:2000]) from None


class SSEDecoder:
    """Frame a ``text/event-stream`` body fed as raw byte chunks (pure, one stream each).

    `feed` returns the complete events in the chunk as ``(type, data)`` pairs; ``type`` is
    ``"message"`` unless an ``event:`` line said otherwise (llama.cpp's ``error:`` line
    gives ``"error"``). `finish` ends the stream: a last line without a newline counts,
    and an event still pending is released.
    """

    def __init__(self, line_limit: int = DEFAULT_LIMITS.line) -> None:
        self._limit = line_limit
        self._parts: list[bytes] = []  # bytes of the line not yet ended
        self._pending = 0
        self._cr = False  # the last chunk ended with CR: a LF next is its CRLF's end
        self._data: str | None = None
        self._event = ""
        self.head = b""
        """The first bytes of the body (to say what arrived when it is not SSE at all)."""
        self.fields = 0
        """How many SSE field lines (data, event, id, retry, error) were seen."""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if len(self.head) < 512:
            self.head += chunk[: 512 - len(self.head)]
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            if chunk:
                self._parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self._limit:
                    self._too_long()
            return []
        if self._parts:
            complete = b"".join(self._parts) + chunk[: end + 1]
            self._parts = []
            self._pending = 0
        else:
            complete = chunk[: end + 1] if end + 1 < len(chunk) else chunk
        rest = chunk[end + 1 :]
        if rest:
            self._parts.append(rest)
            self._pending = len(rest)
        return self._lines(decode_utf8(complete))

    def finish(self) -> list[tuple[str, str]]:
        events: list[tuple[str, str]] = []
        if self._parts:
            tail = b"".join(self._parts)
            self._parts = []
            self._pending = 0
            events = self._lines(decode_utf8(tail) + "\n")
        if self._data is not None:
            events.append((self._event or "message", self._data))
            self._data = None
        return events

    def _too_long(self) -> None:
        raise ResponseTooLarge(
            f"the server sent an SSE line longer than {self._limit} bytes (Limits.line)",
            limit="line",
            max=self._limit,
        )

    def _lines(self, text: str) -> list[tuple[str, str]]:
        if self._cr and text[:1] == "\n":
            text = text[1:]
        self._cr = text[-1:] == "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        lines.pop()  # text ends with a line end: the last piece is empty
        if len(text) > self._limit and any(len(line) > self._limit for line in lines):
            self._too_long()
        events: list[tuple[str, str]] = []
        data = self._data
        for line in lines:
            if not line:
                if data is not None:
                    events.append((self._event or "message", data))
                    data = None
                self._event = ""
                continue
            if line.startswith("data:"):
                value = line[6:] if line[5:6] == " " else line[5:]
                if data is None:
                    data = value
                else:
                    data = data + "\n" + value
                    if len(data) > self._limit:
                        self._data = None
                        self._too_long()
                self.fields += 1
                continue
            if line[0] == ":":
                continue  # a comment (keep-alive)
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "event":
                self._event = value
            elif name == "error":  # llama.cpp: "error: {json}" as its own line
                self._event = "error"
                data = value if data is None else data + "\n" + value
            elif name not in ("id", "retry"):
                continue  # not an SSE field: ignored, as the spec says
            self.fields += 1
        self._data = data
        return events


# -- capping what openai's own code reads -----------------------------------------------------


def _base_of(stream: Any, name: str) -> type:
    for cls in type(stream).__mro__:
        if cls.__name__ == name:
            return cls
    return object


@functools.cache
def _sync_wrapper(base: type) -> type:
    class _Bounded(base):  # type: ignore[misc]  # httpx's or httpx2's SyncByteStream
        def __init__(self, inner: Any, cap: int, truncate: bool, guard: Callable[[], None]):
            self._inner, self._cap, self._truncate, self._guard = inner, cap, truncate, guard

        def __iter__(self) -> Iterator[bytes]:
            n = 0
            for chunk in self._inner:
                self._guard()
                n += len(chunk)
                if n > self._cap:
                    if self._truncate:
                        yield chunk[: len(chunk) - (n - self._cap)]
                        return
                    raise _body_too_large(self._cap)
                yield chunk

        def close(self) -> None:
            self._inner.close()

    return _Bounded


@functools.cache
def _async_wrapper(base: type) -> type:
    class _Bounded(base):  # type: ignore[misc]  # httpx's or httpx2's AsyncByteStream
        def __init__(self, inner: Any, cap: int, truncate: bool, guard: Callable[[], None]):
            self._inner, self._cap, self._truncate, self._guard = inner, cap, truncate, guard

        async def __aiter__(self) -> AsyncIterator[bytes]:
            n = 0
            async for chunk in self._inner:
                n += len(chunk)
                if n > self._cap:
                    if self._truncate:
                        yield chunk[: len(chunk) - (n - self._cap)]
                        return
                    raise _body_too_large(self._cap)
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    return _Bounded


def _body_too_large(cap: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the server's response body is larger than {cap} bytes (Limits.body)",
        limit="body",
        max=cap,
    )


def bounded_stream(response: Any, limits: Limits, guard: Callable[[], None]) -> None:
    """Cap what may be read of ``response`` (an httpx or httpx2 response, unread).

    An error status reads at most `ERROR_BODY_MAX` bytes (enough for any message; the
    rest is dropped). A body that is not an event stream reads at most ``limits.body``
    bytes, then `ResponseTooLarge`. An event stream is left to `SSEDecoder`, which caps
    each line. ``guard`` is called per chunk (sync only): it raises to stop a reader
    whose caller has given up.
    """
    stream = response.stream
    status = response.status_code
    if status >= 400:
        cap, truncate = ERROR_BODY_MAX, True
    elif "event-stream" in response.headers.get("content-type", ""):
        cap, truncate = 1 << 62, False
    else:
        # terse's own reader stops at limits.body and keeps the start of the body; this
        # backstop holds for what openai reads itself (a probe's body).
        cap, truncate = limits.body + ERROR_BODY_MAX, False
    sync_base = _base_of(stream, "SyncByteStream")
    if sync_base is not object:
        response.stream = _sync_wrapper(sync_base)(stream, cap, truncate, guard)
        return
    async_base = _base_of(stream, "AsyncByteStream")
    if async_base is not object:
        response.stream = _async_wrapper(async_base)(stream, cap, truncate, guard)
