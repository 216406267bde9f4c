"""An HTTP/1.1 server on a raw asyncio `Protocol`, with h11 doing the HTTP.

h11 parses every request (request line, headers, ``Content-Length`` and chunked bodies,
pipelined requests) and frames every response (``Content-Length`` or chunked, keep-alive
or close); nothing here parses HTTP by hand. What this module adds is what a test
double and a small server need around it:

- a request body cap (`MAX_BODY`), enforced before the bytes are buffered: a declared
  ``Content-Length`` or chunk size over the cap is answered at once;
- malformed requests turned into a `Request` with an ``error`` (the handler answers 400
  and records it) instead of an exception that kills the connection;
- hostile responses on purpose: a body cut short of its ``Content-Length``
  (``respond(cut_at=...)``), a chunked body abandoned mid-stream (`Connection.hang_up`
  without `Connection.end_stream`), a request never answered (`Connection.wait_closed`);
- the client going away noticed at once (``connection_lost`` sets `Connection.closed`),
  so a generation loop that checks it before each token stops within one token.

`terse._http.loopback.LoopbackServer` serves a handler with these connections on its own
event loop in a background thread.

Response header names go out in lower case (h11 title-cases the few it adds itself,
``Connection`` and ``Transfer-Encoding``): HTTP/1.1 names are case-insensitive, and
lower case is what HTTP/2 servers and this server always sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import h11

__all__ = ["MAX_BODY", "MAX_HEAD", "Connection", "Handler", "Request"]

MAX_HEAD: Final = 64 * 1024
"""Bytes a request line plus headers (or a chunk header) may take."""
MAX_BODY: Final = 64 * 1024 * 1024
"""Bytes a request body may take, however it is framed."""


@dataclass(frozen=True)
class Request:
    """One request as received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-case names; a repeated header's values joined with ``", "``."""
    body: bytes
    keep_alive: bool
    error: str | None = None
    """Why the request is malformed (to be answered 400 and closed), or None for a good one."""


class _BadRequest(Exception):
    """The bytes received are not an HTTP/1.1 request we can serve."""


Handler = Callable[["Connection", Request], Awaitable[None]]
"""Answers one request on a connection; requests on one connection are handled in order."""


_PHRASES: Final = {int(s): s.phrase.encode() for s in HTTPStatus}

# The only names h11 writes itself, title-cased, when it sets a framing or connection header.
_H11_NAMES: Final = (
    (b"\r\nConnection:", b"\r\nconnection:"),
    (b"\r\nTransfer-Encoding:", b"\r\ntransfer-encoding:"),
    (b"\r\nContent-Length:", b"\r\ncontent-length:"),
)


def _lower_names(head: bytes) -> bytes:
    """The response head h11 wrote, with the header names h11 added in lower case too."""
    for title, lower in _H11_NAMES:
        if title in head:
            head = head.replace(title, lower)
    return head


def _why(exc: h11.RemoteProtocolError) -> str:
    """What is wrong with the request, in h11's words (a bad chunk size says so first)."""
    if "chunk header" in str(exc):
        return f"bad chunk size: {exc}"
    return str(exc) or "malformed request"


class Connection(asyncio.Protocol):
    """One client connection: reads requests in order and hands each to ``handler``."""

    def __init__(
        self, handler: Handler, registry: set[Connection], *, max_body: int = MAX_BODY
    ) -> None:
        self._handler = handler
        self._registry = registry
        self._max_body = max_body
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
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
        self._h11.receive_data(data)
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

    async def _next_event(self, body_so_far: int | None = None) -> object:
        """h11's next event, waiting for bytes as needed.

        In a body (``body_so_far`` bytes of it received), a chunk whose announced size
        would take the body over the cap is refused as soon as its size line is read.
        """
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if body_so_far is not None:
                # h11 consumes a chunk's size line before any of its data arrives and keeps
                # the announced size on its reader; nothing else exposes it.
                announced = getattr(getattr(self._h11, "_reader", None), "_bytes_in_chunk", 0)
                if isinstance(announced, int) and body_so_far + announced > self._max_body:
                    raise _BadRequest("request body too large")
            if self.closed:
                raise ConnectionResetError
            self._data.clear()
            await self._data.wait()

    async def _read_request(self) -> Request:
        try:
            event = await self._next_event()
        except h11.RemoteProtocolError as e:  # not even a head: answered and recorded as such
            return Request("", "", "", {}, b"", False, error=_why(e))
        if not isinstance(event, h11.Request):  # the client closed between requests
            raise ConnectionResetError
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        method = event.method.decode("latin-1").upper()
        tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        keep = event.http_version == b"1.1" and "close" not in tokens  # h11 closes 1.0 clients
        try:
            body = await self._body(headers)
        except _BadRequest as e:  # the head is good: the request is answered and recorded
            return Request(method, path, query, headers, b"", False, error=str(e))
        return Request(method, path, query, headers, body, keep)

    async def _body(self, headers: dict[str, str]) -> bytes:
        if self._h11.they_are_waiting_for_100_continue:
            self.write(
                self._send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
            )
        declared = headers.get("content-length")
        if declared is not None and int(declared) > self._max_body:  # h11 checked it is a number
            raise _BadRequest("request body too large")
        parts = bytearray()
        while True:
            try:
                event = await self._next_event(len(parts))
            except h11.RemoteProtocolError as e:
                raise _BadRequest(_why(e)) from None
            if isinstance(event, h11.Data):
                if len(parts) + len(event.data) > self._max_body:
                    raise _BadRequest("request body too large")
                parts += event.data
            elif isinstance(event, h11.EndOfMessage):
                return bytes(parts)
            else:  # ConnectionClosed: the client left mid-body
                raise ConnectionResetError

    async def _serve(self) -> None:
        try:
            while not self.closed:
                request = await self._read_request()
                self.keep_alive = request.keep_alive
                await self._handler(self, request)
                self.served += 1
                if self.closed or not request.keep_alive:
                    break
                h = self._h11
                if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                    break  # the handler left the response unfinished (it hung up)
                h.start_next_cycle()
        except (ConnectionError, asyncio.CancelledError, h11.LocalProtocolError):
            pass  # the client left, the server stops, or the handler broke HTTP: close
        finally:
            if self.transport is not None and not self.closed:
                self.transport.close()

    # --- writing ---------------------------------------------------------------------------

    def _send(self, event: h11.Event) -> bytes:
        return self._h11.send(event) or b""

    def write(self, data: bytes) -> None:
        """Send bytes now (buffered by the transport if the socket is full)."""
        if not self.closed and self.transport is not None and data:
            self.transport.write(data)

    def _head(self, status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
        headers = [*headers, ("connection", "keep-alive" if keep_alive else "close")]
        response = h11.Response(
            status_code=status, reason=_PHRASES.get(status, b""), headers=headers
        )
        return _lower_names(self._send(response))

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
            self.write(head + self._send(h11.Data(data=body[:cut_at])))
            self.hang_up()
            return
        self.write(head + self._send(h11.Data(data=body)) + self._send(h11.EndOfMessage()))
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
        """Send ``data`` as one chunk of a chunked response (nothing for empty ``data``)."""
        if data and not self.closed:
            self.write(self._send(h11.Data(data=data)))

    def end_stream(self, last: bytes = b"") -> None:
        """Send ``last`` (if any) and end the chunked response."""
        if not self.closed:
            self.write(
                (self._send(h11.Data(data=last)) if last else b"") + self._send(h11.EndOfMessage())
            )
            if self._h11.our_state is h11.MUST_CLOSE:  # an HTTP/1.0 client: the close ends it
                self.hang_up()

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
