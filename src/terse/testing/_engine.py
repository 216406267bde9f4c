"""Playing a token plan onto a connection: paced, disconnect-aware, with injected faults.

`stream` sends chunked SSE, `whole` one JSON body. Both count every token they
generate on the request's `Recorded`, check for the client going away before each
token, and stop there — as vLLM and a recent llama-server do.
"""

from __future__ import annotations

import asyncio
import json

from .._http.server import Connection
from ._plan import Generation, Token
from ._render import Counts, Renderer
from ._scripts import Drop, Malformed
from ._state import Recorded

__all__ = ["stream", "whole"]

_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# Without a rate the loop yields to the event loop every few chunks: often enough to see
# a disconnect or a stop request, rarely enough to stream ~10^5 chunks per second.
_YIELD_EVERY = 8


def _count(rec: Recorded, token: Token) -> None:
    rec.generated_tokens += 1
    if token[0]:
        rec.reasoning_tokens += 1
    else:
        rec.answer_tokens += 1


def _counts(rec: Recorded, seconds: float) -> Counts:
    return Counts(rec.reasoning_tokens, rec.answer_tokens, seconds)


async def stream(
    conn: Connection,
    rec: Recorded,
    gen: Generation,
    renderer: Renderer,
    preamble: bytes,
    rate: float | None,
    chunk: int,
    fault: Drop | Malformed | None,
    forced: str | None,
) -> None:
    """Stream ``gen`` as chunked SSE, one event per ``chunk`` tokens.

    Paced by ``rate``, each event is written as soon as it is made. Unpaced, events are
    written in batches of `_YIELD_EVERY` (one HTTP chunk and one syscall instead of
    eight), between which the loop yields to notice a disconnect; the client sees the
    same events either way.
    """
    loop = asyncio.get_running_loop()
    start = next_at = loop.time()
    interval = 1.0 / rate if rate else 0.0
    out: list[bytes] = []

    def flush() -> None:
        conn.send_chunk(b"".join(out))
        out.clear()

    conn.start_stream(200, _SSE)
    rec.status = 200
    if preamble:
        out.append(preamble)
    out.extend(renderer.opening())
    tokens = iter(gen)
    pending = next(tokens, None)
    group: list[Token] = []
    sent = 0
    while pending is not None:
        if fault is not None and sent >= fault.after_chunks:
            break
        if interval:
            flush()
            next_at += interval
            await conn.sleep(next_at - loop.time())
        elif not group and sent % _YIELD_EVERY == 0:
            flush()
            await conn.drain()
        if conn.closed:
            rec.disconnected = True
            return
        group.append(pending)
        _count(rec, pending)
        pending = next(tokens, None)  # look ahead: the last chunk may carry finish_reason
        if len(group) < chunk and pending is not None:
            continue
        out.extend(
            renderer.tokens(group, None if pending is not None else forced or gen.finish_reason)
        )
        group = []
        sent += 1
    if isinstance(fault, Drop):
        flush()
        conn.hang_up()
        return
    if isinstance(fault, Malformed):
        out.append(renderer.malformed())
        conn.end_stream(b"".join(out))  # a proper end of the body, but no [DONE]
        return
    rec.finish_reason = forced or gen.finish_reason
    out.extend(renderer.closing(rec.finish_reason or "stop", _counts(rec, loop.time() - start)))
    conn.end_stream(b"".join(out))


async def whole(
    conn: Connection,
    rec: Recorded,
    gen: Generation,
    renderer: Renderer,
    rate: float | None,
    fault: Drop | Malformed | None,
    forced: str | None,
) -> None:
    """Generate all of ``gen``, then send one JSON body."""
    loop = asyncio.get_running_loop()
    start = next_at = loop.time()
    interval = 1.0 / rate if rate else 0.0
    tokens: list[Token] = []
    for token in gen:
        if interval:
            next_at += interval
            await conn.sleep(next_at - loop.time())
        elif len(tokens) % 256 == 255:
            await conn.drain()
        if conn.closed:
            rec.disconnected = True
            return
        tokens.append(token)
        _count(rec, token)
    finish = forced or gen.finish_reason or "stop"
    payload = _dumps(renderer.body(tokens, finish, _counts(rec, loop.time() - start))).encode()
    rec.status = 200
    if isinstance(fault, Drop):
        conn.respond(200, payload, _JSON, cut_at=len(payload) // 2)
        return
    if isinstance(fault, Malformed):
        conn.respond(200, payload[: len(payload) // 2], _JSON)
        return
    rec.finish_reason = finish
    conn.respond(200, payload, _JSON)
