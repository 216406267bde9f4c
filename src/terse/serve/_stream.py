"""Streamed replies and disconnects: the proxy's SSE body, and work cancelled when the client goes.

Streams. A stream's response starts once the first event of the flow is there (so a
refusal before any output still gets its honest HTTP status), then writes: the role
chunk, each reasoning and answer delta as it comes (never held back), the validated tool
calls, the finishing chunk, the usage chunk when ``stream_options.include_usage`` asks,
and ``data: [DONE]``. Tool calls are the one thing sent whole at the end: a call is only
known to be real, complete and valid (the draft-vs-real rule) when its response ends.

Retries in a stream. What was sent cannot be unsent. When terse starts a new attempt
(`NewAttempt`) before any answer text or tool call was sent, the stream goes on with the
new attempt: the client has seen reasoning only, and ``reasoning_content`` of the failed
try stays as sent (it is commentary, never the answer). When answer text was already sent,
the stream ends with an error event (``data: {"error": {...}}``, which openai clients
raise) rather than mixing two answers.

Disconnects. A client that disconnects cancels the flow at once, which closes the
upstream response (the upstream stops generating). The disconnect is watched on the
ASGI ``receive`` channel whatever the server's ASGI spec version, so it is seen even
while the upstream is silent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .._http.openai import ChunkStream, error_body
from .._http.sse import sse
from .._results import AnswerDelta, Final, NewAttempt, ReasoningDelta, StreamEvent, ToolCallDelta
from ._render import error_for, finish_reason, tool_deltas, usage_of

__all__ = ["EventStream", "Gone", "event_stream", "unless_gone"]

T = TypeVar("T")


class EventStream(StreamingResponse):
    """A stream that is cancelled the moment the client disconnects (any ASGI spec)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            with contextlib.suppress(OSError):  # the client went away while we wrote
                await self.stream_response(send)
            group.cancel_scope.cancel()


async def event_stream(
    chunks: ChunkStream,
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    close: Callable[[], Any],
    *,
    keep_reasoning: bool,
    include_usage: bool,
    secrets: tuple[str, ...],
) -> AsyncIterator[bytes]:
    """The SSE body of a streamed reply: terse's events as OpenAI chunks (module docstring)."""
    answered = False  # answer text (or a call) sent: a retry can no longer be shown
    try:
        yield chunks.role()
        event: StreamEvent | None = first
        while event is not None:
            if isinstance(event, AnswerDelta):
                if event.text:
                    answered = True
                    yield chunks.delta({"content": event.text})
            elif isinstance(event, ReasoningDelta):
                if keep_reasoning and event.text:
                    yield chunks.delta({"reasoning_content": event.text})
            elif isinstance(event, ToolCallDelta):
                pass  # unvalidated pieces: the real calls are sent whole at the end
            elif isinstance(event, NewAttempt):
                if answered:
                    msg = (
                        "the upstream's answer failed after part of it was streamed "
                        f"({event.reason}); terse would retry, but sent text cannot be "
                        "taken back: ask again"
                    )
                    yield sse(error_body(502, msg, code="retry_after_partial_answer"))
                    return
            elif isinstance(event, Final):
                answer = event.answer
                for delta in tool_deltas(answer):
                    yield chunks.delta(delta)
                usage = usage_of(answer.usage) if include_usage else None
                for piece in chunks.finish(finish_reason(answer), usage):
                    yield piece
                return
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                event = None
            except Exception as exc:
                _, body = error_for(exc, secrets)
                yield sse(body)
                return
    finally:
        with contextlib.suppress(Exception), anyio.CancelScope(shield=True):
            await close()


class Gone(Exception):
    """The client disconnected before the response started."""


async def unless_gone(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, or `_Gone` (``work`` cancelled) as soon as the client disconnects."""
    box: list[T] = []
    errors: list[BaseException] = []
    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                box.append(await work)
            except Exception as exc:
                errors.append(exc)
            group.cancel_scope.cancel()

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(run)
        group.start_soon(watch)
    if errors:
        raise errors[0]
    if not box:
        raise Gone
    return box[0]
