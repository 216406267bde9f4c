"""The transport seam: how the flow's requests reach a server, and come back as events.

`ask_flow` decides what to send; the driver (`Client._drive`, `AsyncClient._drive`) performs
its operations; a *transport* carries each `Call` to a server and its answer back. That is
the whole contract, in two methods:

- ``send(call, reader)``: make a generation request (``chat``, ``completions``,
  ``beta-chat``) and hand what comes back to the `Reader` — ``reader.head(content_type)``
  once the headers are there, then ``reader.feed(chunk)`` for each raw byte chunk as it
  arrives (re-yielding the events it returns), then ``reader.end()`` at the end of the
  body. Stop reading when ``reader.stop`` is set (the thinking budget was reached) or when
  ``reader.time_up()`` says the budget's seconds ran out at ``reader.wake_at()``. Every
  failure becomes ``reader.fail(error)`` with a `TerseError`; ``send`` raises only what it
  cannot map. The driver then takes the `Outcome` from the assembler behind the reader.
- ``fetch(call)``: make a small request (``get``, ``apply-template``, ``probe-chat``) and
  return its JSON body as an `Outcome` (`aux_outcome`).

The sync protocol is `Transport`; `AsyncTransport` is its twin (``send`` an async
generator, ``fetch`` a coroutine). The default is `terse._client.http.OpenAITransport`
(`AsyncOpenAITransport`): the user's own openai client, read as raw bytes, against the
call's deadline, the idle timeout and the budget's seconds. `InProcessTransport`
(`AsyncInProcessTransport`) serves scripted raw responses — SSE text or JSON bodies, as a
server writes them — with no sockets, through the same `Reader` and `Assembler`, so tests
drive a client (and `ask_flow`) with no HTTP at all. A proxy that runs terse's flow
upstream plugs in here too: its driver is the client's, its transport the default one.
"""

from __future__ import annotations

import time
from collections.abc import (
    AsyncGenerator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .._core.flow import Call, aux_until
from .._exceptions import ResponseTooLarge, TerseError
from .._results import AnswerDelta, ReasoningDelta, ToolCallDelta, Usage
from .._wire.assemble import Assembler, Outcome, server_error
from .._wire.sse import Limits, parse_json
from .clock import expiry_error

__all__ = [
    "AsyncInProcessTransport",
    "AsyncTransport",
    "Delta",
    "InProcessTransport",
    "Reader",
    "Scripted",
    "Transport",
    "aux_outcome",
    "sse",
    "too_large",
]

Delta = ReasoningDelta | AnswerDelta | ToolCallDelta
"""An event a response produces while it streams."""

_NONE: tuple[Delta, ...] = ()


class Reader:
    """Where a transport puts a generation response: its headers, raw bytes, end or failure.

    It routes the bytes to the `Assembler`: a streamed call's ``text/event-stream`` as SSE,
    as it arrives; a non-streamed call's body (or a JSON body to a streamed call, as some
    servers send for an error) whole at the end, within ``Limits.body``.
    """

    __slots__ = ("_asm", "_body", "_body_max", "_size", "as_body", "feed", "streamed")

    def __init__(self, asm: Assembler, call: Call, limits: Limits) -> None:
        self._asm = asm
        self._body: list[bytes] = []
        self._body_max = limits.body
        self._size = 0
        self.streamed = call.stream
        self.as_body = not call.stream
        self.feed: Callable[[bytes], Sequence[Delta]] = (
            self._keep if self.as_body else asm.feed_bytes
        )
        """Take one raw chunk of the body; returns the events it completed (maybe none).

        Raises `ResponseTooLarge` when a whole body grows past ``Limits.body``."""

    def head(self, content_type: str) -> None:
        """The response's headers arrived, with this ``Content-Type``."""
        self.as_body = not self.streamed or "json" in content_type
        self.feed = self._keep if self.as_body else self._asm.feed_bytes

    def _keep(self, chunk: bytes) -> Sequence[Delta]:
        self._body.append(chunk)
        self._size += len(chunk)
        if self._size > self._body_max:
            raise too_large(self._body, self._body_max)
        return _NONE

    @property
    def stop(self) -> bool:
        """The assembler has what it needs (a budget reached): stop reading, close."""
        return self._asm.stop

    def end(self) -> Sequence[Delta]:
        """The body ended: the events its last bytes complete."""
        if self.as_body:
            whole = b"".join(self._body)
            self._body.clear()
            self._asm.feed_whole(whole)
            return _NONE
        return self._asm.end_stream()

    def fail(self, error: TerseError) -> None:
        """The request failed (or was given up): the outcome carries ``error``."""
        self._asm.fail(error)

    def wake_at(self) -> float | None:
        """When the thinking budget's seconds run out (monotonic), if it has any."""
        return self._asm.wake_at()

    def time_up(self) -> bool:
        """At `wake_at`: whether the budget's time is up (then stop reading)."""
        return self._asm.check_time()


class Transport(Protocol):
    """Carries the flow's requests (sync); see the module docstring for the contract."""

    def send(self, call: Call, reader: Reader) -> Iterator[Delta]:
        """Make a generation request, feeding ``reader``; yields the events it returns."""
        ...

    def fetch(self, call: Call) -> Outcome:
        """Make a probe or template request; its JSON body (or error) as an `Outcome`."""
        ...


class AsyncTransport(Protocol):
    """The async twin of `Transport`."""

    def send(self, call: Call, reader: Reader) -> AsyncGenerator[Delta, None]:
        """Make a generation request, feeding ``reader``; yields the events it returns."""
        ...

    async def fetch(self, call: Call) -> Outcome:
        """Make a probe or template request; its JSON body (or error) as an `Outcome`."""
        ...


def aux_outcome(text: str | None, error: TerseError | None) -> Outcome:
    """The `Outcome` of a probe or template request: its JSON body, or the error."""
    body: Any = None
    if error is None and text is not None:
        try:
            body = parse_json(text)
        except TerseError as exc:
            error = exc
    return Outcome("", "", True, None, Usage(), 0, error=error, body=body)


def too_large(body: list[bytes], cap: int) -> ResponseTooLarge:
    """`ResponseTooLarge` for a whole body past ``Limits.body`` (``cap``), with its start."""
    first, n = [], 0
    for piece in body:  # the start of the body only: joining all of it would double it
        first.append(piece)
        n += len(piece)
        if n >= 2000:
            break
    body.clear()
    head = b"".join(first)[:2000].decode("utf-8", "replace")
    return ResponseTooLarge(
        f"the server's response body is larger than {cap} bytes (Limits.body)",
        limit="body",
        max=cap,
        text=head,
    )


# -- in process: scripted raw responses, no sockets ---------------------------------------------


@dataclass(frozen=True)
class Scripted:
    """One response `InProcessTransport` serves, as raw as a server would write it.

    ``body`` is the body in pieces (``str`` pieces are UTF-8 encoded), each handed to the
    `Reader` as one chunk: SSE text (``"data: {...}\\n\\n"``) for a streamed call, a JSON
    document otherwise. A `TerseError` among the pieces is the connection failing there
    (after the pieces before it were read). ``status`` other than 200 is an error response
    whose body is the server's message (``Retry-After`` from ``headers``). ``content_type``
    defaults to ``text/event-stream`` for a streamed call and ``application/json`` else.
    """

    body: str | bytes | Sequence[str | bytes | TerseError] = ""
    status: int = 200
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def pieces(self) -> list[bytes | TerseError]:
        raw = [self.body] if isinstance(self.body, (str, bytes)) else list(self.body)
        return [p.encode() if isinstance(p, str) else p for p in raw]


def sse(*chunks: Mapping[str, Any], done: bool = True) -> list[str]:
    """SSE pieces for `Scripted` from chunk objects (``data: <json>``), ending ``[DONE]``."""
    import json

    out = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return [*out, "data: [DONE]\n\n"] if done else out


class _Scripts:
    """The shared half of the in-process transports: pick a response, play it."""

    def __init__(self, responses: Iterable[Scripted] | Callable[[Call], Scripted]) -> None:
        self._pick: Callable[[Call], Scripted] | None = None
        self._queue: list[Scripted] = []
        if callable(responses):
            self._pick = responses
        else:
            self._queue = list(responses)
        self.calls: list[Call] = []
        """Every call served, in order (their bodies are what a server would have got)."""

    def _next(self, call: Call) -> Scripted:
        self.calls.append(call)
        if self._pick is not None:
            return self._pick(call)
        if not self._queue:
            raise AssertionError(f"no scripted response left for {call.endpoint} {call.path}")
        return self._queue.pop(0)

    def _play(self, call: Call, reader: Reader) -> Iterator[Delta]:
        scripted = self._next(call)
        try:
            if _expired(call):
                raise expiry_error("deadline", None)
            if scripted.status != 200:
                text = b"".join(p for p in scripted.pieces() if isinstance(p, bytes))
                raise _status_error(scripted, text.decode("utf-8", "replace"))
            default = "text/event-stream" if call.stream else "application/json"
            reader.head(scripted.content_type or default)
            for piece in scripted.pieces():
                if isinstance(piece, TerseError):
                    raise piece
                events = reader.feed(piece)
                if events:
                    yield from events
                if reader.stop:
                    return
                wake = reader.wake_at()
                if wake is not None and time.monotonic() >= wake and reader.time_up():
                    return
                if _expired(call):
                    raise expiry_error("deadline", None)
            yield from reader.end()
        except TerseError as exc:
            reader.fail(exc)

    def _fetch(self, call: Call) -> Outcome:
        scripted = self._next(call)
        pieces = scripted.pieces()
        error = next((p for p in pieces if isinstance(p, TerseError)), None)
        text = b"".join(p for p in pieces if isinstance(p, bytes)).decode("utf-8", "replace")
        until = aux_until(call, time.monotonic())
        if error is None and until is not None and time.monotonic() >= until:
            error = expiry_error("deadline", None)
        if error is None and scripted.status != 200:
            error = _status_error(scripted, text)
        return aux_outcome(None if error else text, error)


def _expired(call: Call) -> bool:
    return call.deadline_at is not None and time.monotonic() >= call.deadline_at


def _status_error(scripted: Scripted, text: str) -> TerseError:
    from .._core.retry import parse_retry_after

    headers = {k.lower(): v for k, v in scripted.headers.items()}
    return server_error(scripted.status, text, parse_retry_after(headers.get("retry-after")))


class InProcessTransport(_Scripts):
    """A `Transport` that serves `Scripted` responses in process: no HTTP, no sockets.

    Give it the responses in order, or a function from the `Call` to its response. The
    bytes go through the same `Reader` and `Assembler` as a real server's, so a client
    (or the flow) driven over it behaves as over a loopback server that wrote them —
    with the call's deadline checked between pieces. ``calls`` records what was sent.
    """

    def send(self, call: Call, reader: Reader) -> Iterator[Delta]:
        return self._play(call, reader)

    def fetch(self, call: Call) -> Outcome:
        return self._fetch(call)


class AsyncInProcessTransport(_Scripts):
    """The async twin of `InProcessTransport`."""

    async def send(self, call: Call, reader: Reader) -> AsyncGenerator[Delta, None]:
        for event in self._play(call, reader):
            yield event

    async def fetch(self, call: Call) -> Outcome:
        return self._fetch(call)


if TYPE_CHECKING:  # mypy checks the in-process pair against the protocols they serve
    _sync: Transport = InProcessTransport(())
    _async: AsyncTransport = AsyncInProcessTransport(())
