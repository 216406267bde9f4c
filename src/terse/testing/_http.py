"""A minimal HTTP/1.1 server connection on a raw asyncio `Protocol`.

Just enough HTTP for OpenAI-compatible clients: keep-alive, ``Content-Length`` and
chunked request bodies, ``Content-Length`` responses and chunked (SSE) responses. A
framework would add 110–270 µs per request; this adds a few.

The protocol notices the client going away at once (``connection_lost`` sets `closed`),
so a generation loop that checks `closed` before each token stops within one token.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["Connection", "Request"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    error: str | None = None
    """Why the request is malformed (answered 400 and closed), or None for a good one."""


class BadRequest(Exception):
    """The bytes received are not an HTTP/1.1 request we can serve."""


Handler = Callable[["Connection", Request], Awaitable[None]]


class Connection(asyncio.Protocol):
    """One client connection: reads requests in order and hands each to ``handler``."""

    def __init__(self, handler: Handler, registry: set[Connection]) -> None:
        self._handler = handler
        self._registry = registry
        self._buf = bytearray()
        self._data = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.keep_alive = True
        self.served = 0  # requests answered on this connection so far
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    # --- asyncio.Protocol callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._registry.add(self)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._data.set()

    def eof_received(self) -> bool:
        return False  # a client that stops sending has gone away: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._registry.discard(self)
        self._data.set()
        self._writable.set()
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- reading ---------------------------------------------------------------------------

    async def _fill(self) -> None:
        if self.closed:
            raise ConnectionResetError
        self._data.clear()
        await self._data.wait()

    async def _take_until(self, sep: bytes, limit: int) -> bytes:
        while (i := self._buf.find(sep)) < 0:
            if len(self._buf) > limit:
                raise BadRequest("request head too large")
            await self._fill()
        out = bytes(self._buf[:i])
        del self._buf[: i + len(sep)]
        return out

    async def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            await self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def _chunked_body(self) -> bytes:
        parts = bytearray()
        while True:
            line = (await self._take_until(b"\r\n", 1024)).split(b";")[0].strip()
            if not _HEX.fullmatch(line):  # int(…, 16) would also take "-5", "0x5", "1_0"
                raise BadRequest(f"bad chunk size {line[:40]!r}")
            size = int(line, 16)
            if size == 0:
                while await self._take_until(b"\r\n", _MAX_HEAD):
                    pass  # trailers
                return bytes(parts)
            if len(parts) + size > _MAX_BODY:  # refused before a byte of it is buffered
                raise BadRequest("request body too large")
            parts += await self._take(size)
            if await self._take(2) != b"\r\n":
                raise BadRequest("a chunk does not end with CRLF")

    async def _read_request(self) -> Request:
        head = (await self._take_until(b"\r\n\r\n", _MAX_HEAD)).decode("latin-1")
        line, *lines = head.split("\r\n")
        try:
            method, target, version = line.split(" ")
        except ValueError:
            raise BadRequest(f"bad request line {line!r}") from None
        headers: dict[str, str] = {}
        for h in lines:
            name, sep, value = h.partition(":")
            if not sep:
                raise BadRequest(f"bad header line {h!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        path, _, query = target.partition("?")
        try:
            body = await self._body(headers)
        except BadRequest as e:  # the head is good: the request is answered and recorded
            return Request(method.upper(), path, query, headers, b"", False, error=str(e))
        conn = headers.get("connection", "").lower()
        keep = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
        return Request(method.upper(), path, query, headers, body, keep)

    async def _body(self, headers: dict[str, str]) -> bytes:
        if headers.get("expect", "").lower() == "100-continue":
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._chunked_body()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest("bad content-length") from None
        if not 0 <= length <= _MAX_BODY:
            raise BadRequest("bad content-length")
        return await self._take(length)

    async def _serve(self) -> None:
        try:
            while not self.closed:
                try:
                    request = await self._read_request()
                except BadRequest as e:  # not even a head: answered and recorded as such
                    request = Request("", "", "", {}, b"", False, error=str(e))
                self.keep_alive = request.keep_alive
                await self._handler(self, request)
                self.served += 1
                if self.closed or not request.keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if self.transport is not None and not self.closed:
                self.transport.close()

    # --- writing ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send bytes now (buffered by the transport if the socket is full)."""
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        extra: list[tuple[str, str]] | None = None,
        keep_alive: bool | None = None,
        cut_at: int | None = None,
    ) -> None:
        """Send a whole response with ``Content-Length``.

        ``cut_at`` sends only that many body bytes and hangs up, so the client sees a
        body shorter than its ``Content-Length``.
        """
        keep = self.keep_alive if keep_alive is None else keep_alive
        headers = [
            ("content-type", content_type),
            ("content-length", str(len(body))),
            *(extra or []),
        ]
        head = self._head(status, headers, keep)
        if cut_at is not None:
            self.write(head + body[:cut_at])
            self.hang_up()
            return
        self.write(head + body)
        if not keep:
            self.hang_up()

    def start_stream(
        self, status: int, content_type: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Send the head of a chunked response."""
        headers = [
            ("content-type", content_type),
            ("transfer-encoding", "chunked"),
            ("cache-control", "no-cache"),
            *(extra or []),
        ]
        self.write(self._head(status, headers, self.keep_alive))

    def send_chunk(self, data: bytes) -> None:
        """Send one chunk of a chunked response."""
        if data:
            self.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self) -> None:
        """Send the terminating chunk."""
        self.write(b"0\r\n\r\n")

    def hang_up(self) -> None:
        """Close the connection after what was written so far, mid-response or not.

        A FIN, not a reset: a reset could make the client's kernel discard data it has
        received but not yet read.
        """
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Reset the connection at once, dropping anything unsent (used when stopping)."""
        if self.transport is not None:
            self.transport.abort()

    # --- waiting ---------------------------------------------------------------------------

    async def drain(self) -> None:
        """Yield to the event loop, and wait while the client is not reading."""
        if self._writable.is_set():
            await asyncio.sleep(0)
        else:
            await self._writable.wait()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the client goes away first."""
        if seconds > 0 and not self.closed:
            await asyncio.wait((self._lost,), timeout=seconds)

    async def wait_closed(self) -> None:
        """Wait until the client goes away."""
        await asyncio.shield(self._lost)
